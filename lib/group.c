/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Groups: endpoints that the host IOMMU cannot isolate from each other (one
 * host IOMMU group, or one aliased requester ID). They use one host context,
 * share the union of their reserved regions, and are never attached to two
 * different domains (R15, R18).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "iotlb.h"
#include "log.h"
#include "regions.h"
#include "wire.h"

static bool fits_probe(const struct viommu *v, size_t nr)
{
    return v->cfg.no_probe || nr * WIRE_RESV_MEM_SIZE <= v->cfg.probe_size;
}

/* Appends m's RESERVED regions to list and notes its MSI region. */
static void collect(const struct endpoint *m, struct viommu_resv_region *list,
                    size_t *nr, const struct viommu_resv_region **msi)
{
    for (uint32_t i = 0; i < m->nr_own; i++) {
        if (m->own[i].type == VIOMMU_RESV_MSI) {
            *msi = &m->own[i]; /* one and the same in every member */
        } else {
            list[(*nr)++] = m->own[i];
        }
    }
}

/* The union of the regions of `members` and `extra` (either may be NULL). */
static int regions_union(const struct viommu *v, const struct endpoint *members,
                         const struct endpoint *extra,
                         struct viommu_resv_region **out, uint32_t *nr_out)
{
    const struct viommu_resv_region *msi = NULL;
    size_t cap = 2, nr = 0;

    for (const struct endpoint *m = members; m != NULL; m = m->next_in_group) {
        cap += m->nr_own;
    }
    if (extra != NULL) {
        cap += extra->nr_own;
    }
    struct viommu_resv_region *list = calloc(cap, sizeof(*list));
    if (list == NULL) {
        return -ENOMEM;
    }
    for (const struct endpoint *m = members; m != NULL; m = m->next_in_group) {
        collect(m, list, &nr, &msi);
    }
    if (extra != NULL) {
        collect(extra, list, &nr, &msi);
    }
    nr = regions_normalize(list, nr, msi);
    if (!fits_probe(v, nr)) {
        free(list);
        return -ENOSPC;
    }
    *out = list;
    *nr_out = (uint32_t)nr;
    return 0;
}

static bool same_msi(const struct endpoint *a, const struct endpoint *b)
{
    const struct viommu_resv_region *x = regions_msi(a->own, a->nr_own);
    const struct viommu_resv_region *y = regions_msi(b->own, b->nr_own);

    if (x == NULL || y == NULL) {
        return x == y;
    }
    return x->start == y->start && x->end == y->end;
}

int group_join(struct viommu *v, struct endpoint *ep, uint64_t key)
{
    struct group *g = NULL;
    struct viommu_resv_region *resv;
    uint32_t nr;
    int err;

    for (struct group *it = v->groups; key != 0 && it != NULL; it = it->next) {
        if (it->key == key) {
            g = it;
            break;
        }
    }
    if (g != NULL) {
        if (g->members->host != ep->host) {
            vlog(v, VIOMMU_LOG_ERR, VIOMMU_LOG_SOURCE_DEVICE,
                 "endpoint %u: another host context than its group's", ep->id);
            return -EINVAL;
        }
        if (!same_msi(g->members, ep)) {
            vlog(v, VIOMMU_LOG_ERR, VIOMMU_LOG_SOURCE_DEVICE,
                 "endpoint %u: another MSI region than its group's", ep->id);
            return -EINVAL;
        }
    }
    err = regions_union(v, g != NULL ? g->members : NULL, ep, &resv, &nr);
    if (err != 0) {
        return err;
    }
    if (g == NULL) {
        g = calloc(1, sizeof(*g));
        if (g == NULL) {
            free(resv);
            return -ENOMEM;
        }
        g->key = key;
        if (key != 0) {
            g->next = v->groups;
            v->groups = g;
        }
    }
    free(g->resv);
    g->resv = resv;
    g->nr_resv = nr;
    /* The union may have grown over what the others translated. */
    for (const struct endpoint *m = g->members; m != NULL;
         m = m->next_in_group) {
        invalidate(v, m->id, 0, UINT64_MAX);
    }
    ep->next_in_group = g->members;
    g->members = ep;
    ep->group = g;
    return 0;
}

void group_leave(struct viommu *v, struct endpoint *ep)
{
    struct group *g = ep->group;
    struct endpoint **link = &g->members;

    while (*link != ep) {
        link = &(*link)->next_in_group;
    }
    *link = ep->next_in_group;
    ep->next_in_group = NULL;
    ep->group = NULL;
    if (g->members != NULL) {
        /* The remaining members' union is smaller. Should it not be
         * computable or not fit, the old one is a safe superset. */
        struct viommu_resv_region *resv;
        uint32_t nr;
        if (regions_union(v, g->members, NULL, &resv, &nr) == 0) {
            free(g->resv);
            g->resv = resv;
            g->nr_resv = nr;
        }
        return;
    }
    for (struct group **it = &v->groups; g->key != 0; it = &(*it)->next) {
        if (*it == g) {
            *it = g->next;
            break;
        }
    }
    free(g->resv);
    free(g);
}

bool group_would_split(const struct endpoint *ep, uint32_t domain)
{
    for (const struct endpoint *m = ep->group->members; m != NULL;
         m = m->next_in_group) {
        if (m != ep && m->domain != NULL && m->domain->id != domain) {
            return true;
        }
    }
    return false;
}

const struct viommu_resv_region *endpoint_resv_from(const struct endpoint *ep,
                                                    uint64_t addr)
{
    return regions_from(ep->group->resv, ep->group->nr_resv, addr);
}

const struct viommu_resv_region *endpoint_resv_at(const struct endpoint *ep,
                                                  uint64_t iova)
{
    const struct viommu_resv_region *r = endpoint_resv_from(ep, iova);

    return r != NULL && r->start <= iova ? r : NULL;
}

bool endpoint_resv_overlaps(const struct endpoint *ep, uint64_t start,
                            uint64_t end)
{
    const struct viommu_resv_region *r = endpoint_resv_from(ep, start);

    return r != NULL && r->start <= end;
}
