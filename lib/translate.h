/* SPDX-License-Identifier: BSD-3-Clause */
/* Translation of emulated DMA, below the library's cache of it. */
#ifndef VIOMMU_TRANSLATE_H
#define VIOMMU_TRANSLATE_H

#include "state.h"

/*
 * Looks up what viommu_translate() answers, without the cache: fills *out
 * ([start, last] -> gpa with its flags) or returns -EFAULT (reporting the
 * fault unless VIOMMU_ACCESS_NO_REPORT) or -ENOENT. Tests compare the cache
 * against it.
 */
int translate_uncached(struct viommu *v, uint32_t id, uint64_t iova,
                       uint32_t access, struct iotlb_entry *out);

#endif
