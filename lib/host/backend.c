/* SPDX-License-Identifier: BSD-3-Clause */
/* What every part of the host backends uses of the handle. */
#include <stdarg.h>
#include <stdio.h>

#include "backend.h"

void backend_log(const struct viommu_vfio *h, enum viommu_log_level level,
                 const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    if (h->cfg.log == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    h->cfg.log(h->cfg.log_opaque, level, VIOMMU_LOG_SOURCE_DEVICE, msg);
}

struct viommu_vfio_device *device_by_endpoint(const struct viommu_vfio *h,
                                              uint32_t endpoint)
{
    for (struct viommu_vfio_device *d = h->devices; d != NULL; d = d->next) {
        if (d->endpoint == endpoint) {
            return d;
        }
    }
    return NULL;
}
