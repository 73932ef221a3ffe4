/* SPDX-License-Identifier: BSD-3-Clause */
/* MAP (R24-R29, R46) and UNMAP (R30-R34). */
#include <errno.h>

#include <linux/virtio_iommu.h>

#include "group.h"
#include "host.h"
#include "iotlb.h"
#include "map.h"

_Static_assert(VIRTIO_IOMMU_MAP_F_READ == VIOMMU_XLATE_READ &&
                   VIRTIO_IOMMU_MAP_F_WRITE == VIOMMU_XLATE_WRITE &&
                   VIRTIO_IOMMU_MAP_F_MMIO == VIOMMU_XLATE_MMIO,
               "mapping flags are reported as they were mapped");

int req_map(struct viommu *v, const struct request *r)
{
    uint32_t known_flags = VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE;
    uint64_t mask = v->granule - 1;

    if (viommu_has(v, VIRTIO_IOMMU_F_MMIO)) {
        known_flags |= VIRTIO_IOMMU_MAP_F_MMIO;
    }
    if ((r->flags & ~known_flags) != 0) {
        return -EINVAL; /* R26 */
    }
    if (r->virt_end < r->virt_start) {
        return -EINVAL;
    }
    /* R24; virt_end + 1 may wrap to 0, which is aligned. */
    if ((r->virt_start & mask) || (r->phys_start & mask) ||
        ((r->virt_end + 1) & mask)) {
        return -ERANGE;
    }
    if (r->virt_start < v->cfg.input_start || r->virt_end > v->cfg.input_end ||
        r->phys_start > UINT64_MAX - (r->virt_end - r->virt_start)) {
        return -ERANGE;
    }
    struct domain *d = idtable_find(&v->domains, r->domain);
    if (d == NULL) {
        return -ENOENT; /* R27 */
    }
    if (d->bypass) {
        return -EINVAL; /* R28 */
    }
    for (const struct endpoint *ep = d->endpoints; ep != NULL;
         ep = ep->next_in_domain) {
        if (endpoint_resv_overlaps(ep, r->virt_start, r->virt_end)) {
            return -ERANGE; /* R46 */
        }
    }
    struct mapping m = {
        .start = r->virt_start,
        .end = r->virt_end,
        .phys = r->phys_start,
        .flags = r->flags,
    };
    if (d->maps.count >= v->cfg.max_mappings_per_domain ||
        v->nr_mappings >= v->cfg.max_mappings) {
        return mapstore_overlaps(&d->maps, m.start, m.end) ? -EINVAL : -ENOMEM;
    }
    int err = mapstore_insert(&d->maps, &m);
    if (err == -EEXIST) {
        return -EINVAL; /* R25 */
    }
    if (err != 0) {
        return err;
    }
    if (d->links != NULL) {
        err = host_map(v, d, &m);
        if (err != 0) {
            mapstore_unmap(&d->maps, m.start, m.end);
            return err;
        }
    }
    v->nr_mappings++;
    return 0;
}

int req_unmap(struct viommu *v, const struct request *r)
{
    /* R30: this device ignores the reserved bytes and unmaps. */
    if (r->virt_end < r->virt_start) {
        return -EINVAL;
    }
    struct domain *d = idtable_find(&v->domains, r->domain);
    if (d == NULL) {
        return -ENOENT; /* R31 */
    }
    if (d->bypass) {
        return -EINVAL; /* R32 */
    }
    if (d->links != NULL) {
        /* The host first, with nothing removed yet if R33 refuses. */
        if (mapstore_straddles(&d->maps, r->virt_start, r->virt_end)) {
            return -ERANGE; /* R33 */
        }
        int err = host_unmap_range(v, d, r->virt_start, r->virt_end);
        if (err != 0) {
            return err;
        }
    }
    int64_t removed = mapstore_unmap(&d->maps, r->virt_start, r->virt_end);
    if (removed < 0) {
        return -ERANGE; /* R33 */
    }
    v->nr_mappings -= (uint64_t)removed; /* R34 */
    if (removed > 0) {
        invalidate_unmapped(v, d, r->virt_start, r->virt_end);
    }
    return 0;
}
