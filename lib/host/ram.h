/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The guest RAM layout (viommu_vfio_set_ram()) and the walk from guest-
 * physical to host-virtual addresses that both backends map through.
 */
#ifndef VIOMMU_HOST_RAM_H
#define VIOMMU_HOST_RAM_H

#include <stdint.h>

#include "backend.h"

/* A table of IOVA -> guest RAM in the host: a type1 container or an IOAS,
 * and how to map one contiguous piece of host memory into it and take
 * every host mapping inside [iova, last] out of it (nothing there is no
 * error; [0, UINT64_MAX] is one call). */
struct table_ops {
    int (*map)(void *table, uint64_t iova, uint64_t hva, uint64_t length,
               uint32_t flags);
    int (*unmap)(void *table, uint64_t iova, uint64_t last);
};

/* Maps guest [iova, last] -> gpa: its RAM parts, one host call each (none
 * without RAM or without access). All or nothing. */
int ram_map(const struct viommu_vfio *h, const struct table_ops *t, void *table,
            uint64_t iova, uint64_t last, uint64_t gpa, uint32_t flags);
/* All RAM at IOVA = gpa (a bypass domain); its table holds nothing else,
 * so it goes with an unmap of everything. */
int identity_map(const struct viommu_vfio *h, const struct table_ops *t,
                 void *table);

#endif
