/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The guest RAM layout and the guest-physical -> host-virtual walk that
 * type1 and iommufd map through.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../abi.h"
#include "ram.h"

static int cmp_ram(const void *a, const void *b)
{
    const struct viommu_ram_region *x = a, *y = b;

    return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

int viommu_vfio_set_ram(struct viommu_vfio *h,
                        const struct viommu_ram_region *regions, size_t n)
{
    struct viommu_ram_region ram[VIOMMU_VFIO_MAX_RAM];
    const size_t page = 4096;

    if (h == NULL || n > VIOMMU_VFIO_MAX_RAM || (n > 0 && regions == NULL)) {
        return -EINVAL;
    }
    size_t stride = n > 0 ? regions[0].size : 0;
    for (size_t i = 0; i < n; i++) {
        const void *r = (const char *)regions + i * stride;
        int err = copy_versioned(&ram[i], sizeof(ram[i]), r,
                                 ABI_FIRST_SIZE(struct viommu_ram_region));
        if (err != 0 || ram[i].size != stride) {
            return -EINVAL;
        }
        const struct viommu_ram_region *x = &ram[i];
        if (x->reserved != 0 || x->length == 0 ||
            (x->gpa | x->length | x->hva) % page != 0 ||
            x->gpa + x->length - 1 < x->gpa ||
            x->hva + x->length - 1 < x->hva) {
            return -EINVAL;
        }
    }
    qsort(ram, n, sizeof(ram[0]), cmp_ram);
    for (size_t i = 1; i < n; i++) {
        if (ram[i].gpa <= ram[i - 1].gpa + ram[i - 1].length - 1) {
            return -EINVAL;
        }
    }
    memcpy(h->ram, ram, n * sizeof(ram[0]));
    h->nr_ram = n;
    return 0;
}

int ram_map(const struct viommu_vfio *h, const struct table_ops *t, void *table,
            uint64_t iova, uint64_t last, uint64_t gpa, uint32_t flags)
{
    uint64_t gpa_last = gpa + (last - iova);

    if (gpa_last < gpa) {
        return -ERANGE; /* wraps around the guest-physical space */
    }
    /* The host maps nothing without access, nor where there is no RAM:
     * there the device's DMA faults, as it would on real hardware. */
    if ((flags & (VIOMMU_XLATE_READ | VIOMMU_XLATE_WRITE)) == 0) {
        return 0;
    }
    for (size_t i = 0; i < h->nr_ram; i++) {
        const struct viommu_ram_region *r = &h->ram[i];
        uint64_t r_last = r->gpa + r->length - 1;
        if (r_last < gpa || r->gpa > gpa_last) {
            continue;
        }
        uint64_t first = r->gpa > gpa ? r->gpa : gpa;
        uint64_t end = r_last < gpa_last ? r_last : gpa_last;
        uint64_t at = iova + (first - gpa);
        int err = t->map(table, at, r->hva + (first - r->gpa), end - first + 1,
                         flags);
        if (err != 0) {
            if (at > iova && t->unmap(table, iova, at - 1) != 0) {
                backend_log(h, VIOMMU_LOG_ERR,
                            "undoing a partial map at %#llx failed: the "
                            "host may keep part of it",
                            (unsigned long long)iova);
            }
            return err;
        }
    }
    return 0;
}

int identity_map(const struct viommu_vfio *h, const struct table_ops *t,
                 void *table)
{
    return ram_map(h, t, table, 0, UINT64_MAX, 0,
                   VIOMMU_XLATE_READ | VIOMMU_XLATE_WRITE);
}
