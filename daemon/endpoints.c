/* SPDX-License-Identifier: BSD-3-Clause */
#include "endpoints.h"

#include <errno.h>

#include "log.h"

int endpoints_add_range(struct viommu *v, uint32_t first, uint32_t last,
                        const struct viommu_endpoint_config *tmpl)
{
    struct viommu_endpoint_config cfg = *tmpl;
    uint64_t id;

    if (last < first) {
        return -EINVAL;
    }
    if (last - first >= ENDPOINTS_MAX_RANGE) {
        return -E2BIG;
    }
    for (id = first; id <= last; id++) {
        if (viommu_endpoint_domain(v, (uint32_t)id, NULL, NULL) != -ENOENT) {
            return -EEXIST;
        }
    }
    for (id = first; id <= last; id++) {
        cfg.id = (uint32_t)id;
        int err = viommu_endpoint_add(v, &cfg);
        if (err != 0) {
            while (id-- > first) {
                if (viommu_endpoint_remove(v, (uint32_t)id) != 0) {
                    dlog(VIOMMU_LOG_ERR, "endpoint %u vanished", (uint32_t)id);
                }
            }
            return err;
        }
    }
    return 0;
}
