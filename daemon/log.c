/* SPDX-License-Identifier: BSD-3-Clause */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

int dlog_level = VIOMMU_LOG_WARN;

static const char *const names[] = {"error", "warning", "info", "debug"};

static void emit(enum viommu_log_level level, const char *prefix,
                 const char *fmt, va_list ap)
{
    if ((int)level > dlog_level) {
        return;
    }
    fprintf(stderr, "viommu-vhost-user: %s: %s", names[level], prefix);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void dlog(enum viommu_log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    emit(level, "", fmt, ap);
    va_end(ap);
}

static void emit_device(enum viommu_log_level level, const char *prefix,
                        const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    emit(level, prefix, fmt, ap);
    va_end(ap);
}

void dlog_device(void *opaque, enum viommu_log_level level,
                 enum viommu_log_source source, const char *msg)
{
    (void)opaque;
    emit_device(level, source == VIOMMU_LOG_SOURCE_GUEST ? "guest: " : "", "%s",
                msg);
}
