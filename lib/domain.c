/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Domains and the requests that bind endpoints to them: ATTACH (R12-R19)
 * and DETACH (R20-R23). A domain exists while at least one endpoint is
 * attached to it; the last one leaving destroys it with all its mappings,
 * so a domain ID the guest reuses always starts empty.
 */
#include <errno.h>
#include <stdlib.h>

#include <linux/virtio_iommu.h>

#include "abi.h"
#include "domain.h"
#include "group.h"
#include "host.h"
#include "iotlb.h"
#include "log.h"

static struct domain *domain_create(struct viommu *v, uint32_t id, bool bypass)
{
    struct domain *d = calloc(1, sizeof(*d));

    if (d == NULL) {
        return NULL;
    }
    d->id = id;
    d->bypass = bypass;
    mapstore_init(&d->maps);
    if (idtable_insert(&v->domains, d) != 0) {
        free(d);
        return NULL;
    }
    return d;
}

/* The domain must have no endpoint left. */
static void domain_destroy(struct viommu *v, struct domain *d)
{
    v->nr_mappings -= d->maps.count;
    mapstore_clear(&d->maps);
    host_links_free(d);
    idtable_remove(&v->domains, d->id);
    free(d);
}

/* The device's side of a detach, once the host context is done: what the
 * endpoint translated through the domain is gone. */
static void domain_unlink(struct viommu *v, struct endpoint *ep)
{
    struct domain *d = ep->domain;
    struct endpoint **link = &d->endpoints;

    while (*link != ep) {
        link = &(*link)->next_in_domain;
    }
    *link = ep->next_in_domain;
    ep->next_in_domain = NULL;
    ep->domain = NULL;
    if (d->endpoints == NULL) {
        domain_destroy(v, d);
    }
    invalidate(v, ep->id, 0, UINT64_MAX);
}

void endpoint_detach_forced(struct viommu *v, struct endpoint *ep,
                            int *host_err)
{
    host_leave(v, ep, host_err);
    domain_unlink(v, ep);
}

/* R18: an endpoint whose reserved regions hold mappings of the domain
 * could never use them. */
static bool endpoint_fits_domain(const struct endpoint *ep,
                                 const struct domain *d)
{
    const struct group *g = ep->group;

    for (uint32_t i = 0; i < g->nr_resv; i++) {
        if (mapstore_overlaps(&d->maps, g->resv[i].start, g->resv[i].end)) {
            return false;
        }
    }
    return true;
}

int req_attach(struct viommu *v, const struct request *r)
{
    uint32_t known_flags = viommu_has(v, VIRTIO_IOMMU_F_BYPASS_CONFIG)
                               ? VIRTIO_IOMMU_ATTACH_F_BYPASS
                               : 0;
    bool bypass = r->flags & VIRTIO_IOMMU_ATTACH_F_BYPASS;
    bool created = false;
    int err;

    if (r->reserved_nonzero || (r->flags & ~known_flags) != 0) {
        return -EINVAL; /* R12, R13 */
    }
    if (r->domain < v->cfg.domain_start || r->domain > v->cfg.domain_end) {
        return -ERANGE;
    }
    struct endpoint *ep = idtable_find(&v->endpoints, r->endpoint);
    if (ep == NULL) {
        return -ENOENT; /* R14 */
    }
    struct domain *d = idtable_find(&v->domains, r->domain);
    if (d != NULL && d->bypass != bypass) {
        return -EINVAL; /* R16 */
    }
    if (d != NULL && ep->domain == d) {
        return 0;
    }
    /* R15: the host cannot isolate the members of a group, so they may
     * not be told apart by domain. */
    if (group_would_split(ep, r->domain)) {
        vlog(v, VIOMMU_LOG_WARN, VIOMMU_LOG_SOURCE_GUEST,
             "ATTACH of endpoint %u to domain %u would split its host group",
             ep->id, r->domain);
        return -EOPNOTSUPP;
    }
    if (d != NULL && !endpoint_fits_domain(ep, d)) {
        return -EOPNOTSUPP; /* R18 */
    }
    if (d == NULL) {
        /* Moving the sole endpoint of a domain frees that domain. */
        bool frees_one = ep->domain != NULL && ep->domain->endpoints == ep &&
                         ep->next_in_domain == NULL;
        if (v->domains.n >= v->cfg.max_domains && !frees_one) {
            return -ENOMEM;
        }
        d = domain_create(v, r->domain, bypass);
        if (d == NULL) {
            return -ENOMEM;
        }
        created = true;
    }
    err = host_enter(v, ep, d);
    if (err != 0) {
        if (created) {
            domain_destroy(v, d);
        }
        return err;
    }
    if (ep->domain != NULL) {
        domain_unlink(v, ep); /* R17 */
    } else {
        invalidate(v, ep->id, 0, UINT64_MAX); /* it may have bypassed */
    }
    ep->domain = d;
    ep->next_in_domain = d->endpoints;
    d->endpoints = ep;
    return 0;
}

int req_detach(struct viommu *v, const struct request *r)
{
    /* R20: reserved bytes are ignored. */
    struct endpoint *ep = idtable_find(&v->endpoints, r->endpoint);

    if (ep == NULL) {
        return -ENOENT; /* R21 */
    }
    if (ep->domain == NULL || ep->domain->id != r->domain) {
        return -EINVAL; /* R22 */
    }
    int err = host_leave(v, ep, NULL);
    if (err != 0) {
        return err;
    }
    domain_unlink(v, ep);
    return 0;
}

int viommu_endpoint_domain(const struct viommu *v, uint32_t id,
                           uint32_t *domain, bool *bypass)
{
    if (v == NULL) {
        return -EINVAL;
    }
    const struct endpoint *ep = idtable_find(&v->endpoints, id);
    if (ep == NULL) {
        return -ENOENT;
    }
    if (ep->domain == NULL) {
        return -ENODATA;
    }
    if (domain != NULL) {
        *domain = ep->domain->id;
    }
    if (bypass != NULL) {
        *bypass = ep->domain->bypass;
    }
    return 0;
}

int viommu_domain_foreach_mapping(const struct viommu *v, uint32_t id,
                                  uint64_t from, viommu_mapping_fn fn,
                                  void *opaque)
{
    struct mapping m;
    int ret = 0;

    if (v == NULL || fn == NULL) {
        return -EINVAL;
    }
    const struct domain *d = idtable_find(&v->domains, id);
    if (d == NULL) {
        return -ENOENT;
    }
    while (ret == 0 && mapstore_find_first(&d->maps, from, &m)) {
        CALLBACK(v, ret = fn(opaque, m.start, m.end, m.phys, m.flags));
        if (m.end == UINT64_MAX) {
            break;
        }
        from = m.end + 1;
    }
    return ret;
}

static int foreach_id(const struct viommu *v, const struct idtable *t,
                      uint32_t from, viommu_id_fn fn, void *opaque)
{
    int ret = 0;

    if (v == NULL || fn == NULL) {
        return -EINVAL;
    }
    for (uint32_t i = idtable_lower_bound(t, from); i < t->n && ret == 0; i++) {
        CALLBACK(v, ret = fn(opaque, *t->items[i]));
    }
    return ret;
}

int viommu_foreach_endpoint(const struct viommu *v, uint32_t from,
                            viommu_id_fn fn, void *opaque)
{
    return foreach_id(v, v != NULL ? &v->endpoints : NULL, from, fn, opaque);
}

int viommu_foreach_domain(const struct viommu *v, uint32_t from,
                          viommu_id_fn fn, void *opaque)
{
    return foreach_id(v, v != NULL ? &v->domains : NULL, from, fn, opaque);
}

int viommu_domain_foreach_endpoint(const struct viommu *v, uint32_t id,
                                   viommu_id_fn fn, void *opaque)
{
    int ret = 0;

    if (v == NULL || fn == NULL) {
        return -EINVAL;
    }
    const struct domain *d = idtable_find(&v->domains, id);
    if (d == NULL) {
        return -ENOENT;
    }
    for (const struct endpoint *ep = d->endpoints; ep != NULL && ret == 0;
         ep = ep->next_in_domain) {
        CALLBACK(v, ret = fn(opaque, ep->id));
    }
    return ret;
}

int viommu_domain_info(const struct viommu *v, uint32_t id,
                       struct viommu_domain_info *info)
{
    struct viommu_domain_info out = {.size = sizeof(out)};

    if (v == NULL) {
        return -EINVAL;
    }
    const struct domain *d = idtable_find(&v->domains, id);
    if (d == NULL) {
        return -ENOENT;
    }
    out.bypass = d->bypass;
    for (const struct endpoint *ep = d->endpoints; ep != NULL;
         ep = ep->next_in_domain) {
        out.endpoints++;
    }
    out.mappings = d->maps.count;
    return fill_versioned(info, &out, sizeof(out),
                          ABI_FIRST_SIZE(struct viommu_domain_info));
}
