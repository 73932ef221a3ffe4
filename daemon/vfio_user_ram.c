/* SPDX-License-Identifier: BSD-3-Clause */
#include "vfio_user_ram.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "log.h"

static bool overlaps(const struct viommu_ram_region *r, size_t n, uint64_t gpa,
                     uint64_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (gpa <= r[i].gpa + r[i].length - 1 && r[i].gpa <= gpa + len - 1) {
            return true;
        }
    }
    return false;
}

static void add_ram(struct viommu_ram_region *r, size_t *n, uint64_t gpa,
                    uint64_t len, const void *hva)
{
    const uint64_t page = 4096;

    /* One guest RAM seen through several messages (the vhost-user table,
     * each device's DMA_MAP) is taken once, from the first that gives it. */
    if (*n == VIOMMU_VFIO_MAX_RAM || len == 0 || hva == NULL ||
        (gpa | len | (uintptr_t)hva) % page != 0 || gpa + len - 1 < gpa ||
        overlaps(r, *n, gpa, len)) {
        return;
    }
    r[(*n)++] = (struct viommu_ram_region){
        .size = sizeof(*r), .gpa = gpa, .length = len, .hva = (uintptr_t)hva};
}

int vfio_user_ram_update(struct vfio_user_set *s)
{
    struct viommu_ram_region r[VIOMMU_VFIO_MAX_RAM];
    size_t n = 0;

    if (s->host == NULL) {
        return 0;
    }
    if (s->vu_mem != NULL) {
        for (unsigned i = 0; i < s->vu_mem->n; i++) {
            const struct mem_region *m = &s->vu_mem->r[i];
            add_ram(r, &n, m->d.gpa, m->d.size, m->base + m->d.mmap_offset);
        }
    }
    for (unsigned i = 0; i < VFIO_USER_MAX_DEVICES; i++) {
        const struct vfio_user_conn *c = &s->devs[i].conn;
        for (unsigned j = 0; s->devs[i].used && j < c->nr_dma; j++) {
            add_ram(r, &n, c->dma[j].iova, c->dma[j].size, c->dma[j].base);
        }
    }
    int err = s->ops->set_ram(s->host, r, n);
    if (err != 0) {
        dlog(VIOMMU_LOG_ERR, "vfio-user: guest RAM layout refused: %s",
             strerror(-err));
    }
    return err;
}

void vfio_user_sync_ram(struct vfio_user_set *s)
{
    const struct mem_table *t = s->vu_mem;
    bool same = t == NULL || t->n == s->vu_seen_n;

    for (unsigned i = 0; same && t != NULL && i < t->n; i++) {
        same = memcmp(&t->r[i].d, &s->vu_seen[i], sizeof(t->r[i].d)) == 0 &&
               t->r[i].base == s->vu_seen_base[i];
    }
    if (same) {
        return;
    }
    for (unsigned i = 0; i < t->n; i++) {
        s->vu_seen[i] = t->r[i].d;
        s->vu_seen_base[i] = t->r[i].base;
    }
    s->vu_seen_n = t->n;
    (void)vfio_user_ram_update(s);
}

static void dma_drop(struct vfio_user_conn *c, unsigned i)
{
    if (c->dma[i].base != NULL) {
        if (munmap(c->dma[i].base - c->dma[i].skew, c->dma[i].mapped) != 0) {
            dlog(VIOMMU_LOG_ERR, "vfio-user: a DMA window stays mapped: %s",
                 strerror(errno));
        }
    }
    c->dma[i] = c->dma[--c->nr_dma];
}

int vfio_user_dma_add(struct vfio_user_set *s, struct vfio_user_conn *c,
                      uint64_t iova, uint64_t size, int fd, uint64_t offset,
                      int prot)
{
    for (unsigned i = 0; i < c->nr_dma; i++) {
        const struct vfio_user_dma *o = &c->dma[i];
        if (iova <= o->iova + o->size - 1 && o->iova <= iova + size - 1) {
            return -EEXIST;
        }
    }
    if (c->nr_dma == VFIO_USER_MAX_DMA) {
        return -ENOSPC;
    }
    uint8_t *base = NULL;
    size_t skew = 0, mapped = 0;
    if (fd >= 0) {
        struct stat st;
        /* The whole window must be in the file: nothing may fault. */
        if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < offset + size) {
            return -EINVAL;
        }
        /* A hugetlbfs file maps from huge-page boundaries only (QEMU's
         * windows start at 0xc0000, say): map from the one below. */
        uint64_t align = st.st_blksize > 0 ? (uint64_t)st.st_blksize : 4096;
        /* ... and unmaps whole huge pages only: the kernel maps that much
         * anyway, and a shorter munmap fails. */
        skew = offset % align;
        mapped = (size + skew + align - 1) / align * align;
        void *at = mmap(NULL, mapped, prot != 0 ? prot : PROT_READ, MAP_SHARED,
                        fd, (off_t)(offset - skew));
        if (at == MAP_FAILED) {
            return -errno;
        }
        base = (uint8_t *)at + skew;
    }
    c->dma[c->nr_dma++] =
        (struct vfio_user_dma){iova, size, base, skew, mapped};
    if (base != NULL && vfio_user_ram_update(s) != 0) {
        dma_drop(c, c->nr_dma - 1);
        return -ENOSPC;
    }
    return 0;
}

int vfio_user_dma_remove(struct vfio_user_set *s, struct vfio_user_conn *c,
                         uint64_t iova, uint64_t size, bool all)
{
    if (all) {
        while (c->nr_dma > 0) {
            dma_drop(c, 0);
        }
    } else {
        unsigned i = 0;
        while (i < c->nr_dma &&
               (c->dma[i].iova != iova || c->dma[i].size != size)) {
            i++;
        }
        if (i == c->nr_dma) {
            return -ENOENT;
        }
        dma_drop(c, i);
    }
    (void)vfio_user_ram_update(s);
    return 0;
}
