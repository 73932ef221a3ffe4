/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging through the embedder's sink. Messages a guest can cause are rate
 * limited (a burst per interval, then a count of what was suppressed), as
 * the kernel's dev_err_ratelimited does, so a guest cannot flood the host.
 */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

#define GUEST_BURST 10
#define GUEST_INTERVAL_S 5

static bool guest_allowed(struct viommu *v)
{
    struct ratelimit *rl = &v->guest_rl;
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - rl->window_start.tv_sec >= GUEST_INTERVAL_S) {
        if (rl->suppressed > 0) {
            char msg[96];
            snprintf(msg, sizeof(msg), "%u guest error messages suppressed",
                     rl->suppressed);
            CALLBACK(v, v->cfg.log(v->cfg.log_opaque, VIOMMU_LOG_WARN,
                                   VIOMMU_LOG_SOURCE_GUEST, msg));
        }
        rl->window_start = now;
        rl->printed = 0;
        rl->suppressed = 0;
    }
    if (rl->printed >= GUEST_BURST) {
        rl->suppressed++;
        return false;
    }
    rl->printed++;
    return true;
}

void vlog(struct viommu *v, enum viommu_log_level level,
          enum viommu_log_source source, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    if (v->cfg.log == NULL || level > v->cfg.max_log_level) {
        return;
    }
    if (source == VIOMMU_LOG_SOURCE_GUEST && !guest_allowed(v)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    CALLBACK(v, v->cfg.log(v->cfg.log_opaque, level, source, msg));
}
