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
    uint64_t h = ((uint64_t)ep << 32 ^ iova >> PAGE_SHIFT) *
                 0x9e3779b97f4a7c15ULL;

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

void invalidate(struct viommu *v, uint32_t ep, uint64_t start, uint64_t last)
{
    struct iotlb *t = &v->iotlb;

    for (unsigned i = 0; t->used > 0 && i < IOTLB_SLOTS; i++) {
        struct iotlb_entry *e = &t->e[i];
        if (!empty(e) && e->endpoint == ep && e->start <= last &&
            start <= e->last) {
            clear(e);
            t->used--;
        }
    }
    if (v->cfg.invalidate != NULL) {
        CALLBACK(v, v->cfg.invalidate(v->cfg.invalidate_opaque, ep, start,
                                      last));
    }
}

void invalidate_domain(struct viommu *v, const struct domain *d,
                       uint64_t start, uint64_t last)
{
    for (const struct endpoint *ep = d->endpoints; ep != NULL;
         ep = ep->next_in_domain) {
        invalidate(v, ep->id, start, last);
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
