/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Invalidation of translations handed out for emulated DMA. Every change of
 * the device that can make one wrong comes through here, so the library's
 * cache and the embedder's caches are dropped at the same points.
 */
#include <linux/virtio_iommu.h>

#include "iotlb.h"

#define PAGE_SHIFT 12

static unsigned slot(uint32_t ep, uint64_t iova)
{
    uint64_t h =
        ((uint64_t)ep << 32 ^ iova >> PAGE_SHIFT) * 0x9e3779b97f4a7c15ULL;

    return (unsigned)(h >> 56) & (IOTLB_SLOTS - 1);
}

static bool empty(const struct iotlb_entry *e)
{
    return e->start > e->last;
}

static void clear(struct iotlb_entry *e)
{
    e->start = 1;
    e->last = 0;
}

void iotlb_init(struct iotlb *t)
{
    for (unsigned i = 0; i < IOTLB_SLOTS; i++) {
        clear(&t->e[i]);
    }
    t->used = 0;
}

const struct iotlb_entry *iotlb_lookup(const struct iotlb *t, uint32_t ep,
                                       uint64_t iova)
{
    const struct iotlb_entry *e = &t->e[slot(ep, iova)];

    if (e->endpoint == ep && e->start <= iova && iova <= e->last) {
        return e;
    }
    return NULL;
}

void iotlb_insert(struct iotlb *t, uint32_t ep, uint64_t iova,
                  const struct iotlb_entry *e)
{
    struct iotlb_entry *s = &t->e[slot(ep, iova)];

    if (empty(s)) {
        t->used++;
    }
    *s = *e;
    s->endpoint = ep;
}

static void drop(struct iotlb *t, struct iotlb_entry *e, uint32_t ep,
                 uint64_t start, uint64_t last)
{
    if (!empty(e) && e->endpoint == ep && e->start <= last &&
        start <= e->last) {
        clear(e);
        t->used--;
    }
}

static void tell(struct viommu *v, uint32_t ep, uint64_t start, uint64_t last)
{
    if (v->cfg.invalidate != NULL) {
        CALLBACK(v,
                 v->cfg.invalidate(v->cfg.invalidate_opaque, ep, start, last));
    }
}

void invalidate(struct viommu *v, uint32_t ep, uint64_t start, uint64_t last)
{
    struct iotlb *t = &v->iotlb;

    for (unsigned i = 0; t->used > 0 && i < IOTLB_SLOTS; i++) {
        drop(t, &t->e[i], ep, start, last);
    }
    tell(v, ep, start, last);
}

void invalidate_unmapped(struct viommu *v, const struct domain *d,
                         uint64_t start, uint64_t last)
{
    struct iotlb *t = &v->iotlb;
    /* Pages in the range, less one (no overflow for the whole space). */
    uint64_t pages = (last >> PAGE_SHIFT) - (start >> PAGE_SHIFT);

    for (const struct endpoint *ep = d->endpoints; ep != NULL;
         ep = ep->next_in_domain) {
        if (pages >= IOTLB_SLOTS) {
            invalidate(v, ep->id, start, last);
            continue;
        }
        /* A cached translation of a mapping sits in the slot of the page
         * it was looked up at, inside that mapping: inside the range. */
        for (uint64_t p = 0; t->used > 0 && p <= pages; p++) {
            uint64_t iova = start + (p << PAGE_SHIFT);
            drop(t, &t->e[slot(ep->id, iova)], ep->id, start, last);
        }
        tell(v, ep->id, start, last);
    }
}

bool viommu_bypass_effective(const struct viommu *v)
{
    return v->bypass && viommu_has(v, VIRTIO_IOMMU_F_BYPASS_CONFIG);
}

void invalidate_unattached(struct viommu *v, bool before)
{
    if (viommu_bypass_effective(v) == before) {
        return;
    }
    for (uint32_t i = 0; i < v->endpoints.n; i++) {
        const struct endpoint *ep = (struct endpoint *)v->endpoints.items[i];
        if (ep->domain == NULL) {
            invalidate(v, ep->id, 0, UINT64_MAX);
        }
    }
}

void invalidate_all(struct viommu *v)
{
    for (uint32_t i = 0; i < v->endpoints.n; i++) {
        invalidate(v, *v->endpoints.items[i], 0, UINT64_MAX);
    }
}
