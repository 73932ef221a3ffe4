/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The guest's memory as the frontend shares it (VHOST_USER_SET_MEM_TABLE):
 * regions mapped from the file descriptors passed with the message, each
 * checked against the file's size so that no access can fault. Guest
 * addresses (descriptors) and frontend virtual addresses (ring addresses)
 * are translated with bounds and overflow checks.
 */
#ifndef VIOMMU_DAEMON_MEM_H
#define VIOMMU_DAEMON_MEM_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>

#define MEM_MAX_REGIONS 8 /* VHOST_MEMORY_BASELINE_NREGIONS */

/* One region as the message describes it. */
struct mem_region_desc {
    uint64_t gpa;
    uint64_t size;
    uint64_t uva; /* frontend's virtual address */
    uint64_t mmap_offset;
};

struct mem_region {
    struct mem_region_desc d;
    uint8_t *base;     /* mapping of the file from offset 0 */
    uint64_t map_size; /* mmap_offset + size */
};

struct mem_table {
    struct mem_region r[MEM_MAX_REGIONS];
    unsigned n;
};

/*
 * Replaces the table with n regions backed by fds (always closed here).
 * -EINVAL for an empty, wrapping or overlapping region or a file smaller
 * than the region; -errno of mmap. On error the old table is kept. A file
 * that can be sealed against shrinking (F_SEAL_SHRINK) is sealed; any
 * other (hugetlbfs, tmpfs) is served too, its accesses guarded as
 * mem_guard_arm() says.
 */
int mem_table_set(struct mem_table *t, const struct mem_region_desc *d,
                  unsigned n, const int *fds);
void mem_table_clear(struct mem_table *t);

/* Host pointer for guest address gpa, and in *contig how many of the len
 * bytes from there lie in the same region (>= 1); NULL if unmapped. */
void *mem_gpa(const struct mem_table *t, uint64_t gpa, uint64_t len,
              uint64_t *contig);
/* Host pointer for [uva, uva + len) of the frontend, which must lie in one
 * region; NULL otherwise. */
void *mem_uva(const struct mem_table *t, uint64_t uva, uint64_t len);

/*
 * A SIGBUS in guest memory (a file the frontend truncated) jumps to *jb
 * instead of killing the process, from mem_guard_arm() until
 * mem_guard_restore() puts back the guard it returned (guards nest); one
 * outside guest memory still kills it. Install the handler once with
 * mem_guard_install().
 */
int mem_guard_install(void);
sigjmp_buf *mem_guard_arm(const struct mem_table *t, sigjmp_buf *jb);
void mem_guard_restore(sigjmp_buf *outer);

#endif
