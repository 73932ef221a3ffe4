/* SPDX-License-Identifier: BSD-3-Clause */
/* Logging through the embedder's sink, guest-caused messages rate limited. */
#ifndef VIOMMU_LOG_H
#define VIOMMU_LOG_H

#include "state.h"

void vlog(struct viommu *v, enum viommu_log_level level,
          enum viommu_log_source source, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
