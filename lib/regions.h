/* SPDX-License-Identifier: BSD-3-Clause */
/* Lists of reserved regions, as PROBE reports them. */
#ifndef VIOMMU_REGIONS_H
#define VIOMMU_REGIONS_H

#include <stddef.h>
#include <stdint.h>

#include "viommu/viommu.h"

/* Sorts and merges the RESERVED regions list[0..nr), cuts them around msi
 * (if not NULL) and adds msi. list has room for nr + 2. Returns the new
 * count. */
size_t regions_normalize(struct viommu_resv_region *list, size_t nr,
                         const struct viommu_resv_region *msi);
/* Appends to list the parts of [lo, hi] that no usable range covers, as
 * RESERVED regions (at most nr_usable + 1; none when nr_usable is 0, which
 * means no constraint). -EINVAL for an inverted range. */
int regions_add_holes(struct viommu_resv_region *list, size_t *nr,
                      const struct viommu_iova_range *usable,
                      uint32_t nr_usable, uint64_t lo, uint64_t hi);
/* The MSI region of a normalized list, or NULL. */
const struct viommu_resv_region *
regions_msi(const struct viommu_resv_region *list, uint32_t nr);
/* The first region of a normalized list that ends at or after addr. */
const struct viommu_resv_region *
regions_from(const struct viommu_resv_region *list, uint32_t nr, uint64_t addr);

#endif
