/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Invalidation of translations handed out for emulated DMA: the library's
 * own cache of recent translations and the embedder's (config.invalidate)
 * are told together, so neither can keep a stale one.
 */
#ifndef VIOMMU_IOTLB_H
#define VIOMMU_IOTLB_H

#include "state.h"

void iotlb_init(struct iotlb *t);
/* The cached translation of ep covering iova, or NULL. */
const struct iotlb_entry *iotlb_lookup(const struct iotlb *t, uint32_t ep,
                                       uint64_t iova);
void iotlb_insert(struct iotlb *t, uint32_t ep, uint64_t iova,
                  const struct iotlb_entry *e);

/* Translations of endpoint ep inside [start, last] may have changed. */
void invalidate(struct viommu *v, uint32_t ep, uint64_t start, uint64_t last);
/* ... of every endpoint of domain d after an UNMAP of [start, last]: the
 * range covers whole mappings, so only the slots of its pages are looked at
 * when it is short. */
void invalidate_unmapped(struct viommu *v, const struct domain *d,
                         uint64_t start, uint64_t last);
/* ... of every endpoint without a domain, when the global bypass changes
 * its effect: `before` is what viommu_bypass_effective() said before. */
void invalidate_unattached(struct viommu *v, bool before);
/* ... of every endpoint. */
void invalidate_all(struct viommu *v);

/* Whether an endpoint without a domain passes DMA untranslated: the global
 * bypass, while the driver accepted BYPASS_CONFIG (or has not yet
 * negotiated features: the firmware's time). R11. */
bool viommu_bypass_effective(const struct viommu *v);

#endif
