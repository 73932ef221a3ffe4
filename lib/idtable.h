/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A set of objects keyed by a 32-bit ID that is their first member, kept as
 * a sorted array of pointers: O(log n) lookup, O(n) insertion and removal of
 * pointers only. Endpoints and domains both live in one.
 */
#ifndef VIOMMU_IDTABLE_H
#define VIOMMU_IDTABLE_H

#include <stdint.h>

struct idtable {
    uint32_t **items; /* each points at the object's leading uint32_t id */
    uint32_t n;
    uint32_t cap;
};

void *idtable_find(const struct idtable *t, uint32_t id);
/* Index of the first item whose ID is >= id (n when none). */
uint32_t idtable_lower_bound(const struct idtable *t, uint32_t id);
/* 0, or -ENOMEM with no change. The ID must not be present. */
int idtable_insert(struct idtable *t, void *obj);
void idtable_remove(struct idtable *t, uint32_t id);
void idtable_free(struct idtable *t);

#endif
