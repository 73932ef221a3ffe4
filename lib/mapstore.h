/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The mappings of one domain: non-overlapping intervals [start, end] of IOVA
 * space keyed by start, in a B+tree whose leaves hold their entries as
 * parallel arrays (no allocation per mapping, two cache lines per level).
 */
#ifndef VIOMMU_MAPSTORE_H
#define VIOMMU_MAPSTORE_H

#include <stdbool.h>
#include <stdint.h>

struct mapping {
    uint64_t start;
    uint64_t end; /* inclusive */
    uint64_t phys;
    uint32_t flags;
};

struct mapstore {
    void *root;      /* a leaf when height == 0, else an inner node */
    unsigned height; /* number of inner levels */
    uint64_t count;
};

void mapstore_init(struct mapstore *ms);
/* Frees every node; the store is empty and usable afterwards. */
void mapstore_clear(struct mapstore *ms);

/*
 * The mapping with the lowest start whose end is >= addr: the one that
 * contains addr, else the first one after it. Returns false if none.
 */
bool mapstore_find_first(const struct mapstore *ms, uint64_t addr,
                         struct mapping *out);

/* True if some mapping intersects [start, end]. */
bool mapstore_overlaps(const struct mapstore *ms, uint64_t start, uint64_t end);

/* Adds m. -EEXIST if it overlaps a mapping, -ENOMEM; both change nothing. */
int mapstore_insert(struct mapstore *ms, const struct mapping *m);

/* True if a mapping straddles start or end (it is partly inside). */
bool mapstore_straddles(const struct mapstore *ms, uint64_t start,
                        uint64_t end);

/*
 * Removes every mapping inside [start, end]. If a mapping straddles either
 * bound, returns -ERANGE and removes nothing. Otherwise returns the number
 * of mappings removed (>= 0).
 */
int64_t mapstore_unmap(struct mapstore *ms, uint64_t start, uint64_t end);

/* Calls fn for each mapping in order; stops at and returns a non-zero. */
int mapstore_foreach(const struct mapstore *ms,
                     int (*fn)(void *opaque, const struct mapping *m),
                     void *opaque);

/*
 * For tests: checks the invariants of the tree (order, fill, separators,
 * leaf links, and the padding and summaries that lookups rely on). Returns
 * NULL when they hold, else the first one found broken.
 */
const char *mapstore_check(const struct mapstore *ms);

#endif
