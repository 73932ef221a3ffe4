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

/* Appends the RESERVED regions of list[0..n) and notes its MSI region. */
static void collect(const struct viommu_resv_region *src, uint32_t n,
                    struct viommu_resv_region *list, size_t *nr,
                    const struct viommu_resv_region **msi)
{
    for (uint32_t i = 0; i < n; i++) {
        if (src[i].type == VIOMMU_RESV_MSI) {
            *msi = &src[i]; /* one and the same in every member */
        } else {
            list[(*nr)++] = src[i];
        }
    }
}

/* The union of two normalized lists (either may be empty). */
static int regions_union(const struct viommu *v,
                         const struct viommu_resv_region *a, uint32_t na,
                         const struct viommu_resv_region *b, uint32_t nb,
                         struct viommu_resv_region **out, uint32_t *nr_out)
{
    const struct viommu_resv_region *msi = NULL;
    size_t nr = 0;
    struct viommu_resv_region *list =
        calloc((size_t)na + nb + 2, sizeof(*list));

    if (list == NULL) {
        return -ENOMEM;
    }
    collect(a, na, list, &nr, &msi);
    collect(b, nb, list, &nr, &msi);
    nr = regions_normalize(list, nr, msi);
    if (!fits_probe(v, nr)) {
        free(list);
        return -ENOSPC;
    }
    *out = list;
    *nr_out = (uint32_t)nr;
    return 0;
}

/* The union of the members' own regions, from scratch. */
static int members_union(const struct viommu *v, const struct group *g,
                         struct viommu_resv_region **out, uint32_t *nr_out)
{
    struct viommu_resv_region *acc = NULL;
    uint32_t nr = 0;

    for (const struct endpoint *m = g->members; m != NULL;
         m = m->next_in_group) {
        struct viommu_resv_region *next;
        int err = regions_union(v, acc, nr, m->own, m->nr_own, &next, &nr);
        free(acc);
        if (err != 0) {
            return err;
        }
        acc = next;
    }
    *out = acc;
    *nr_out = nr;
    return 0;
}

static bool same_regions(const struct viommu_resv_region *a, uint32_t na,
                         const struct viommu_resv_region *b, uint32_t nb)
{
    if (na != nb) {
        return false;
    }
    for (uint32_t i = 0; i < na; i++) {
        if (a[i].start != b[i].start || a[i].end != b[i].end ||
            a[i].type != b[i].type) {
            return false;
        }
    }
    return true;
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
    err =
        regions_union(v, g != NULL ? g->resv : NULL, g != NULL ? g->nr_resv : 0,
                      ep->own, ep->nr_own, &resv, &nr);
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
    /* A union that grew may cover what the others translated. */
    bool grew = !same_regions(g->resv, g->nr_resv, resv, nr);
    free(g->resv);
    g->resv = resv;
    g->nr_resv = nr;
    for (const struct endpoint *m = g->members; grew && m != NULL;
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
        /* The remaining members' union may be smaller; not when one of
         * them has the same regions (members declared alike: no need to
         * go over them all). Should it not be computable or not fit, the
         * old one is a safe superset. */
        struct viommu_resv_region *resv;
        uint32_t nr;
        if (same_regions(g->members->own, g->members->nr_own, ep->own,
                         ep->nr_own)) {
            return;
        }
        if (members_union(v, g, &resv, &nr) == 0) {
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
