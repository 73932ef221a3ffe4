/* SPDX-License-Identifier: BSD-3-Clause */
/* Levelled logging to stderr for the daemon, and the device's log sink. */
#ifndef VIOMMU_DAEMON_LOG_H
#define VIOMMU_DAEMON_LOG_H

#include <viommu/viommu.h>

/* The most verbose level logged (a viommu_log_level); below
 * VIOMMU_LOG_ERR, nothing is. */
extern int dlog_level;

void dlog(enum viommu_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* For viommu_config.log. */
void dlog_device(void *opaque, enum viommu_log_level level,
                 enum viommu_log_source source, const char *msg);

#endif
