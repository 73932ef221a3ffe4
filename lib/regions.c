/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Lists of reserved regions as PROBE reports them (R44, R45): sorted by
 * start, non-overlapping, RESERVED regions merged and cut around at most one
 * MSI region. Built from what the embedder declares and from the holes of
 * the host's usable IOVA ranges.
 */
#include <errno.h>
#include <stdlib.h>

#include "regions.h"

static struct viommu_resv_region reserved(uint64_t start, uint64_t end)
{
    return (struct viommu_resv_region){
        .size = sizeof(struct viommu_resv_region),
        .start = start,
        .end = end,
        .type = VIOMMU_RESV_RESERVED,
    };
}

static int cmp_start(const void *a, const void *b)
{
    const struct viommu_resv_region *x = a, *y = b;

    return x->start < y->start ? -1 : x->start > y->start;
}

static int cmp_range(const void *a, const void *b)
{
    const struct viommu_iova_range *x = a, *y = b;

    return x->start < y->start ? -1 : x->start > y->start;
}

size_t regions_normalize(struct viommu_resv_region *list, size_t nr,
                         const struct viommu_resv_region *msi)
{
    size_t merged = 0;

    qsort(list, nr, sizeof(*list), cmp_start);
    for (size_t i = 0; i < nr; i++) {
        struct viommu_resv_region *last = merged ? &list[merged - 1] : NULL;
        if (last != NULL &&
            (last->end == UINT64_MAX || list[i].start <= last->end + 1)) {
            if (list[i].end > last->end) {
                last->end = list[i].end;
            }
        } else {
            list[merged++] = list[i];
        }
    }
    nr = merged;
    if (msi == NULL) {
        return nr;
    }

    /* Regions are disjoint and sorted: at most one straddles the MSI region
     * on each side, and only one can straddle both. */
    size_t kept = 0;
    struct viommu_resv_region above = {0};
    bool has_above = false;
    for (size_t i = 0; i < nr; i++) {
        struct viommu_resv_region r = list[i];
        if (r.end < msi->start || r.start > msi->end) {
            list[kept++] = r;
            continue;
        }
        if (r.end > msi->end) {
            above = reserved(msi->end + 1, r.end);
            has_above = true;
        }
        if (r.start < msi->start) {
            r.end = msi->start - 1;
            list[kept++] = r;
        }
    }
    nr = kept;
    list[nr++] = *msi;
    if (has_above) {
        list[nr++] = above;
    }
    qsort(list, nr, sizeof(*list), cmp_start);
    return nr;
}

int regions_add_holes(struct viommu_resv_region *list, size_t *nr,
                      const struct viommu_iova_range *usable,
                      uint32_t nr_usable, uint64_t lo, uint64_t hi)
{
    struct viommu_iova_range sorted[VIOMMU_HOST_MAX_RANGES];
    uint64_t next = lo; /* lowest address not yet known usable or a hole */
    bool done = false;

    if (nr_usable == 0) {
        return 0; /* no constraint */
    }
    if (nr_usable > VIOMMU_HOST_MAX_RANGES) {
        return -EINVAL;
    }
    for (uint32_t i = 0; i < nr_usable; i++) {
        if (usable[i].start > usable[i].end) {
            return -EINVAL;
        }
        sorted[i] = usable[i];
    }
    qsort(sorted, nr_usable, sizeof(sorted[0]), cmp_range);
    for (uint32_t i = 0; i < nr_usable && !done; i++) {
        const struct viommu_iova_range *u = &sorted[i];
        if (u->end < next) {
            continue;
        }
        if (u->start > hi) {
            break;
        }
        if (u->start > next) {
            list[(*nr)++] = reserved(next, u->start - 1);
        }
        done = u->end >= hi;
        next = u->end + 1;
    }
    if (!done) {
        list[(*nr)++] = reserved(next, hi);
    }
    return 0;
}

const struct viommu_resv_region *
regions_msi(const struct viommu_resv_region *list, uint32_t nr)
{
    for (uint32_t i = 0; i < nr; i++) {
        if (list[i].type == VIOMMU_RESV_MSI) {
            return &list[i];
        }
    }
    return NULL;
}

const struct viommu_resv_region *
regions_from(const struct viommu_resv_region *list, uint32_t nr, uint64_t addr)
{
    uint32_t lo = 0, hi = nr;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (list[mid].end < addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < nr ? &list[lo] : NULL;
}
