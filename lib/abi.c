/* SPDX-License-Identifier: BSD-3-Clause */
/* Structs that carry their size across the API. */
#include <errno.h>
#include <string.h>

#include "abi.h"

#include "viommu/vfio.h"
#include "viommu/viommu.h"

/* A field added to a struct must change its size: no struct of the API
 * ends in padding that a new field could fill unseen. */
#define NO_TAIL_PADDING(type, last)                                            \
    _Static_assert(sizeof(struct type) ==                                      \
                       offsetof(struct type, last) +                           \
                           sizeof(((struct type *)0)->last),                   \
                   #type " ends in padding")
NO_TAIL_PADDING(viommu_config, invalidate_opaque);
NO_TAIL_PADDING(viommu_resv_region, end);
NO_TAIL_PADDING(viommu_host_geometry, usable);
NO_TAIL_PADDING(viommu_host_ops, table_free);
NO_TAIL_PADDING(viommu_endpoint_config, geometry);
NO_TAIL_PADDING(viommu_sriov, reserved);
NO_TAIL_PADDING(viommu_translation, iova_last);
NO_TAIL_PADDING(viommu_stats, host_errors);
NO_TAIL_PADDING(viommu_domain_info, mappings);
NO_TAIL_PADDING(viommu_vfio_config, log_opaque);
NO_TAIL_PADDING(viommu_ram_region, hva);

int copy_versioned(void *dst, size_t dst_size, const void *src, size_t min_size)
{
    uint32_t src_size;

    if (src == NULL) {
        return -EINVAL;
    }
    memcpy(&src_size, src, sizeof(src_size));
    if (src_size < min_size || src_size > ABI_MAX_SIZE) {
        return -EINVAL;
    }
    if (src_size > dst_size) {
        const uint8_t *extra = (const uint8_t *)src + dst_size;
        for (size_t i = 0; i < src_size - dst_size; i++) {
            if (extra[i] != 0) {
                return -EINVAL;
            }
        }
    }
    memset(dst, 0, dst_size);
    memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
    return 0;
}

int fill_versioned(void *dst, const void *src, size_t src_size, size_t min_size)
{
    uint32_t dst_size;

    if (dst == NULL) {
        return -EINVAL;
    }
    memcpy(&dst_size, dst, sizeof(dst_size));
    if (dst_size < min_size || dst_size > ABI_MAX_SIZE) {
        return -EINVAL;
    }
    size_t common = dst_size < src_size ? dst_size : src_size;
    memcpy((uint8_t *)dst + sizeof(uint32_t),
           (const uint8_t *)src + sizeof(uint32_t), common - sizeof(uint32_t));
    if (dst_size > src_size) {
        memset((uint8_t *)dst + src_size, 0, dst_size - src_size);
    }
    return 0;
}
