/* SPDX-License-Identifier: BSD-3-Clause */
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* Seals the file against shrinking where it can be (a memfd made with
 * sealing allowed). Other files (hugetlbfs, tmpfs, a memfd without
 * sealing) are served all the same: every access to guest memory runs
 * under mem_guard_arm(), so a frontend that truncates one ends its own
 * connection. */
static void seal(int fd, unsigned i)
{
    int seals = fcntl(fd, F_GET_SEALS);

    if ((seals < 0 || !(seals & F_SEAL_SHRINK)) &&
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
        dlog(VIOMMU_LOG_DEBUG,
             "guest memory region %u not sealed against shrinking (%s)", i,
             strerror(errno));
    }
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
        /* Sealed first where it can be, then its size is the one it
         * keeps. */
        seal(fds[i], i);
        if (fstat(fds[i], &st) != 0) {
            return -errno;
        }
        /* Beyond the file's end an access would be SIGBUS. */
        if ((uint64_t)st.st_size < d[i].mmap_offset + d[i].size) {
            return -EINVAL;
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

/* The process has one event loop and one memory table: the innermost
 * guard's jump. Read by the signal handler. */
static sigjmp_buf *volatile guard_jump;
static const struct mem_table *volatile guard_table;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    const struct mem_table *t = guard_table;

    (void)uc;
    for (unsigned i = 0; guard_jump != NULL && t != NULL && i < t->n; i++) {
        const uint8_t *a = si->si_addr;
        if (a >= t->r[i].base && a < t->r[i].base + t->r[i].map_size) {
            siglongjmp(*guard_jump, 1);
        }
    }
    signal(sig, SIG_DFL); /* not guest memory: a bug, die of it */
    raise(sig);
}

int mem_guard_install(void)
{
    /* SA_NODEFER: the jump leaves SIGBUS unblocked without a sigsetjmp
     * that saves the signal mask (a system call per guarded call). */
    struct sigaction sa = {.sa_sigaction = on_sigbus,
                           .sa_flags = SA_SIGINFO | SA_NODEFER};

    sigemptyset(&sa.sa_mask);
    return sigaction(SIGBUS, &sa, NULL) == 0 ? 0 : -errno;
}

sigjmp_buf *mem_guard_arm(const struct mem_table *t, sigjmp_buf *jb)
{
    sigjmp_buf *outer = guard_jump;

    guard_table = t;
    guard_jump = jb;
    return outer;
}

void mem_guard_restore(sigjmp_buf *outer)
{
    guard_jump = outer;
    if (outer == NULL) {
        guard_table = NULL;
    }
}
