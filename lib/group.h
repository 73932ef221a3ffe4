/* SPDX-License-Identifier: BSD-3-Clause */
/* Groups of endpoints the host cannot isolate, and their reserved regions. */
#ifndef VIOMMU_GROUP_H
#define VIOMMU_GROUP_H

#include "state.h"

/* Puts ep (with its own regions set) into the group of key, or alone.
 * -EINVAL when it does not match the group's host context or MSI region,
 * -ENOSPC when the union outgrows probe_size, -ENOMEM; no change then. */
int group_join(struct viommu *v, struct endpoint *ep, uint64_t key);
void group_leave(struct viommu *v, struct endpoint *ep);
/* True if attaching ep to domain id would put two members of its group in
 * different domains. */
bool group_would_split(const struct endpoint *ep, uint32_t domain);

/* The endpoint's (group's) first region that ends at or after addr. */
const struct viommu_resv_region *endpoint_resv_from(const struct endpoint *ep,
                                                    uint64_t addr);
/* The endpoint's reserved region containing iova, or NULL. */
const struct viommu_resv_region *endpoint_resv_at(const struct endpoint *ep,
                                                  uint64_t iova);
bool endpoint_resv_overlaps(const struct endpoint *ep, uint64_t start,
                            uint64_t end);

#endif
