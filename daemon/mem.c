/* SPDX-License-Identifier: BSD-3-Clause */
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static int check(const struct mem_region_desc *d, unsigned n, const int *fds)
{
    for (unsigned i = 0; i < n; i++) {
        struct stat st;
        if (d[i].size == 0 || d[i].gpa + d[i].size < d[i].gpa ||
            d[i].uva + d[i].size < d[i].uva ||
            d[i].mmap_offset + d[i].size < d[i].mmap_offset) {
            return -EINVAL;
        }
        if (fstat(fds[i], &st) != 0) {
            return -errno;
        }
        /* Beyond the file's end an access would be SIGBUS. */
        if ((uint64_t)st.st_size < d[i].mmap_offset + d[i].size) {
            return -EINVAL;
        }
        /* So would a file shrunk later: seal it against that where the
         * file allows (a memfd made with MFD_ALLOW_SEALING; QEMU's memfd
         * backend seals it itself). */
        int seals = fcntl(fds[i], F_GET_SEALS);
        if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
            if (fcntl(fds[i], F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
                dlog(VIOMMU_LOG_DEBUG,
                     "guest memory region %u cannot be sealed against "
                     "shrinking (%s)",
                     i, strerror(errno));
            }
        }
        for (unsigned k = 0; k < i; k++) {
            if (overlap(d[i].gpa, d[i].size, d[k].gpa, d[k].size) ||
                overlap(d[i].uva, d[i].size, d[k].uva, d[k].size)) {
                return -EINVAL;
            }
        }
    }
    return 0;
}

static void unmap_all(struct mem_region *r, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        munmap(r[i].base, r[i].map_size);
    }
}

int mem_table_set(struct mem_table *t, const struct mem_region_desc *d,
                  unsigned n, const int *fds)
{
    struct mem_table next = {.n = 0};
    int err = n <= MEM_MAX_REGIONS ? check(d, n, fds) : -EINVAL;

    for (unsigned i = 0; err == 0 && i < n; i++) {
        struct mem_region *r = &next.r[next.n];
        r->d = d[i];
        r->map_size = d[i].mmap_offset + d[i].size;
        r->base = mmap(NULL, r->map_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                       fds[i], 0);
        if (r->base == MAP_FAILED) {
            err = -errno;
        } else {
            next.n++;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        close(fds[i]);
    }
    if (err != 0) {
        unmap_all(next.r, next.n);
        return err;
    }
    mem_table_clear(t);
    *t = next;
    return 0;
}

void mem_table_clear(struct mem_table *t)
{
    unmap_all(t->r, t->n);
    t->n = 0;
}

void *mem_gpa(const struct mem_table *t, uint64_t gpa, uint64_t len,
              uint64_t *contig)
{
    for (unsigned i = 0; i < t->n; i++) {
        const struct mem_region *r = &t->r[i];
        if (gpa >= r->d.gpa && gpa - r->d.gpa < r->d.size) {
            uint64_t off = gpa - r->d.gpa;
            uint64_t left = r->d.size - off;
            *contig = len < left ? len : left;
            return r->base + r->d.mmap_offset + off;
        }
    }
    return NULL;
}

void *mem_uva(const struct mem_table *t, uint64_t uva, uint64_t len)
{
    for (unsigned i = 0; i < t->n; i++) {
        const struct mem_region *r = &t->r[i];
        if (uva >= r->d.uva && uva - r->d.uva < r->d.size &&
            len <= r->d.size - (uva - r->d.uva)) {
            return r->base + r->d.mmap_offset + (uva - r->d.uva);
        }
    }
    return NULL;
}
