/* SPDX-License-Identifier: BSD-3-Clause */
#include "linux.h"

#include <endian.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_iommu.h>

#include "driver.h"

#define OK VIRTIO_IOMMU_S_OK

/* The first failure of a sequence of requests. */
static uint8_t first(uint8_t so_far, uint8_t status)
{
    return so_far != OK ? so_far : status;
}

static void config_read(const struct vdrv *d, size_t off, void *buf, size_t len)
{
    if (vdrv_config_read(d, (uint32_t)off, buf, (uint32_t)len) != 0) {
        abort();
    }
}

bool lnx_init(struct lnx *l, const struct vdrv *drv, enum lnx_release release,
              enum lnx_default def)
{
    struct virtio_iommu_config c;
    uint64_t wanted =
        VIOMMU_F_VERSION_1 | (1ULL << VIRTIO_IOMMU_F_INPUT_RANGE) |
        (1ULL << VIRTIO_IOMMU_F_DOMAIN_RANGE) |
        (1ULL << VIRTIO_IOMMU_F_MAP_UNMAP) | (1ULL << VIRTIO_IOMMU_F_PROBE) |
        (1ULL << VIRTIO_IOMMU_F_MMIO) | (1ULL << VIRTIO_IOMMU_F_BYPASS_CONFIG);
    uint64_t features = vdrv_features(drv) & wanted;

    memset(l, 0, sizeof(*l));
    l->drv = *drv;
    l->release = release;
    l->def = def;
    for (int i = 0; i < LNX_MAX_ENDPOINTS; i++) {
        l->endpoints[i].domain = l->endpoints[i].default_domain = -1;
    }
    if (!(features & VIOMMU_F_VERSION_1) ||
        !(features & (1ULL << VIRTIO_IOMMU_F_MAP_UNMAP)) ||
        vdrv_set_features(drv, features) != 0) {
        return false;
    }
    config_read(drv, 0, &c, sizeof(c));
    l->page_size_mask = le64toh(c.page_size_mask);
    l->input_start = le64toh(c.input_range.start);
    l->input_end = le64toh(c.input_range.end);
    l->domain_start = le32toh(c.domain_range.start);
    l->domain_end = le32toh(c.domain_range.end);
    l->bypass_config = features & (1ULL << VIRTIO_IOMMU_F_BYPASS_CONFIG);
    return l->page_size_mask != 0;
}

static struct lnx_endpoint *find_ep(struct lnx *l, uint32_t id)
{
    for (int i = 0; i < LNX_MAX_ENDPOINTS; i++) {
        if (l->endpoints[i].present && l->endpoints[i].id == id) {
            return &l->endpoints[i];
        }
    }
    return NULL;
}

const struct lnx_endpoint *lnx_endpoint(const struct lnx *l, uint32_t id)
{
    return find_ep((struct lnx *)l, id);
}

uint32_t lnx_domain_id(const struct lnx *l, int domain)
{
    if (!l->domains[domain].finalised) {
        abort();
    }
    return l->domains[domain].id;
}

int lnx_domain_alloc(struct lnx *l, bool identity)
{
    for (int i = 0; i < LNX_MAX_DOMAINS; i++) {
        struct lnx_domain *d = &l->domains[i];
        if (!d->allocated) {
            memset(d, 0, sizeof(*d));
            d->allocated = true;
            d->identity = identity;
            return i;
        }
    }
    return -1;
}

/* ida_alloc_range(domain_start, domain_end): the lowest free ID. */
static bool alloc_id(struct lnx *l, uint32_t *id)
{
    for (uint64_t cand = l->domain_start; cand <= l->domain_end; cand++) {
        bool used = false;
        for (int i = 0; i < LNX_MAX_DOMAINS && !used; i++) {
            used = l->domains[i].allocated && l->domains[i].finalised &&
                   l->domains[i].id == cand;
        }
        if (!used) {
            *id = (uint32_t)cand;
            return true;
        }
    }
    return false;
}

static uint8_t send_map(struct lnx *l, const struct lnx_domain *d,
                        const struct lnx_map *m)
{
    l->requests++;
    return vdrv_map(&l->drv, d->id, m->iova, m->last, m->gpa, m->prot);
}

/* Records a mapping in the driver's tree; sends it if the domain has
 * endpoints (viommu_map_pages). */
static uint8_t map_one(struct lnx *l, int domain, const struct lnx_map *m)
{
    struct lnx_domain *d = &l->domains[domain];

    if (d->nr_maps == LNX_MAX_MAPS) {
        return VIRTIO_IOMMU_S_NOMEM;
    }
    d->maps[d->nr_maps++] = *m;
    if (d->nr_endpoints == 0) {
        return OK;
    }
    uint8_t status = send_map(l, d, m);
    if (status != OK) {
        d->nr_maps--;
    }
    return status;
}

static uint8_t map_identity_chunk(struct lnx *l, int domain, uint64_t start,
                                  uint64_t last)
{
    struct lnx_map m = {start, last, start,
                        VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE};

    return map_one(l, domain, &m);
}

/* viommu_domain_map_identity: the input range minus the endpoint's
 * reserved regions (sorted, as PROBE reports them). */
static uint8_t map_identity(struct lnx *l, int domain,
                            const struct lnx_endpoint *ep)
{
    uint64_t next = l->input_start;
    uint8_t status = OK;

    for (int i = 0; i < ep->nr_resv && status == OK; i++) {
        const struct viommu_resv_region *r = &ep->resv[i];
        if (r->end < next) {
            continue;
        }
        if (r->start > next) {
            uint64_t last = r->start - 1;
            status = map_identity_chunk(
                l, domain, next, last < l->input_end ? last : l->input_end);
        }
        if (r->end >= l->input_end) {
            return status;
        }
        next = r->end + 1;
    }
    if (status == OK) {
        status = map_identity_chunk(l, domain, next, l->input_end);
    }
    return status;
}

uint8_t lnx_attach(struct lnx *l, int domain, uint32_t id)
{
    struct lnx_domain *d = &l->domains[domain];
    struct lnx_endpoint *ep = find_ep(l, id);
    uint8_t status;

    if (ep == NULL || !d->allocated) {
        abort();
    }
    if (!d->finalised) { /* viommu_domain_finalise */
        if (!alloc_id(l, &d->id)) {
            return VIRTIO_IOMMU_S_NOMEM;
        }
        d->finalised = true;
        if (d->identity) {
            if (l->bypass_config) {
                d->bypass = true;
            } else if ((status = map_identity(l, domain, ep)) != OK) {
                d->finalised = false;
                d->nr_maps = 0;
                return status;
            }
        }
    }
    /* No DETACH from the old domain: the device does it (R17). */
    l->requests++;
    status = vdrv_attach(&l->drv, d->id, id,
                         d->bypass ? VIRTIO_IOMMU_ATTACH_F_BYPASS : 0);
    if (status != OK) {
        return status;
    }
    if (d->nr_endpoints == 0) { /* the first endpoint gets the replay */
        for (unsigned i = 0; i < d->nr_maps && status == OK; i++) {
            status = send_map(l, d, &d->maps[i]);
        }
    }
    if (ep->domain >= 0) {
        l->domains[ep->domain].nr_endpoints--;
    }
    d->nr_endpoints++;
    ep->domain = domain;
    return status;
}

uint8_t lnx_map(struct lnx *l, int domain, uint64_t iova, uint64_t size,
                uint64_t gpa, uint32_t prot)
{
    struct lnx_map m = {iova, iova + size - 1, gpa, prot};

    return map_one(l, domain, &m);
}

uint8_t lnx_unmap(struct lnx *l, int domain, uint64_t iova, uint64_t size)
{
    struct lnx_domain *d = &l->domains[domain];
    uint64_t last = iova + size - 1;
    unsigned kept = 0;

    /* viommu_del_mappings, then UNMAP only if the domain has endpoints. */
    for (unsigned i = 0; i < d->nr_maps; i++) {
        if (d->maps[i].iova < iova || d->maps[i].last > last) {
            d->maps[kept++] = d->maps[i];
        }
    }
    d->nr_maps = kept;
    if (d->nr_endpoints == 0) {
        return OK;
    }
    l->requests++;
    return vdrv_unmap(&l->drv, d->id, iova, last);
}

void lnx_domain_free(struct lnx *l, int domain)
{
    /* viommu_domain_free: mappings dropped in the driver, ID freed,
     * nothing sent. */
    l->domains[domain].allocated = false;
    l->domains[domain].finalised = false;
}

uint8_t lnx_endpoint_appear(struct lnx *l, uint32_t id)
{
    return lnx_endpoint_appear_in(l, id, -1);
}

uint8_t lnx_endpoint_appear_in(struct lnx *l, uint32_t id, int group_domain)
{
    uint8_t props[65536];
    uint32_t probe_size;
    struct lnx_endpoint *ep = NULL;

    if (l->failed) {
        return VIRTIO_IOMMU_S_DEVERR;
    }
    for (int i = 0; i < LNX_MAX_ENDPOINTS && ep == NULL; i++) {
        if (!l->endpoints[i].present) {
            ep = &l->endpoints[i];
        }
    }
    if (ep == NULL) {
        abort();
    }
    *ep = (struct lnx_endpoint){
        .present = true, .id = id, .domain = -1, .default_domain = -1};
    config_read(&l->drv, offsetof(struct virtio_iommu_config, probe_size),
                &probe_size, sizeof(probe_size));
    l->requests++;
    uint8_t status = vdrv_probe(&l->drv, id, props, le32toh(probe_size));
    if (status == OK) {
        ep->nr_resv =
            vdrv_parse_resv(props, le32toh(probe_size), ep->resv, LNX_MAX_RESV);
        if (ep->nr_resv < 0) {
            status = VIRTIO_IOMMU_S_DEVERR;
        }
    }
    if (status != OK) {
        l->failed = true; /* viommu_probe_device fails the device */
        ep->present = false;
        return status;
    }
    int d = group_domain >= 0
                ? group_domain
                : lnx_domain_alloc(l, l->def == LNX_DEFAULT_IDENTITY);
    if (d < 0) {
        return VIRTIO_IOMMU_S_NOMEM;
    }
    ep->default_domain = d;
    status = lnx_attach(l, d, id);
    if (status != OK && l->domains[d].nr_endpoints == 0) {
        lnx_domain_free(l, d);
        ep->default_domain = -1;
    }
    return status;
}

uint8_t lnx_endpoint_release(struct lnx *l, uint32_t id)
{
    struct lnx_endpoint *ep = find_ep(l, id);
    uint8_t status = OK;

    if (ep == NULL) {
        abort();
    }
    if (ep->domain >= 0) {
        struct lnx_domain *d = &l->domains[ep->domain];
        if (l->release == LNX_RELEASE_DETACH) { /* viommu_detach_dev */
            l->requests++;
            status = vdrv_detach(&l->drv, d->id, id);
        }
        d->nr_endpoints--;
    }
    /* The group's default domain goes with it. */
    if (ep->default_domain >= 0 &&
        l->domains[ep->default_domain].nr_endpoints == 0) {
        lnx_domain_free(l, ep->default_domain);
    }
    ep->present = false;
    return status;
}

uint8_t lnx_vfio_open(struct lnx *l, uint32_t ep, int *domain)
{
    *domain = lnx_domain_alloc(l, false);
    if (*domain < 0) {
        return VIRTIO_IOMMU_S_NOMEM;
    }
    uint8_t status = lnx_attach(l, *domain, ep);
    if (status != OK && l->domains[*domain].nr_endpoints == 0) {
        lnx_domain_free(l, *domain);
        *domain = -1;
    }
    return status;
}

uint8_t lnx_vfio_close(struct lnx *l, uint32_t id, int domain)
{
    struct lnx_endpoint *ep = find_ep(l, id);
    struct lnx_domain *d = &l->domains[domain];
    uint8_t status = OK;

    if (ep == NULL) {
        abort();
    }
    /* vfio_iommu_unmap_unpin_all: one UNMAP per mapping. */
    while (d->nr_maps > 0) {
        const struct lnx_map *m = &d->maps[d->nr_maps - 1];
        status =
            first(status, lnx_unmap(l, domain, m->iova, m->last - m->iova + 1));
    }
    /* The group goes back to its default domain, then the domain is
     * freed. */
    if (ep->default_domain >= 0) {
        status = first(status, lnx_attach(l, ep->default_domain, id));
    }
    lnx_domain_free(l, domain);
    return status;
}
