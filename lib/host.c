/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Host IOMMU contexts. Invariant: a context holds exactly the union of the
 * mappings of the domains its attached endpoints are in. Each domain keeps a
 * link per context serving it, counting that context's endpoints in the
 * domain: the first one in replays the domain's mappings into the context,
 * the last one out takes them out, and MAP and UNMAP go to every context
 * with users. Every step that a request causes is all or nothing: a failed
 * host call is undone in every context before the error goes to the guest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "host.h"
#include "log.h"

/* The errno of the status the guest gets for a host error (see
 * viommu_host_ops in the public header). */
static int host_status(int err)
{
    switch (err) {
    case 0:
        return 0;
    case -ENOMEM:
    case -ENOSPC:
        return -ENOMEM;
    case -EOPNOTSUPP:
        return -EOPNOTSUPP;
    case -EEXIST:
        return -EINVAL;
    case -ERANGE:
        return -ERANGE;
    default:
        return -EREMOTEIO; /* DEVERR */
    }
}

/* A host error that cannot be refused or undone: logged, counted, and the
 * first one kept in *forced. */
static void host_error(struct viommu *v, const char *what, uint64_t arg,
                       int err, int *forced)
{
    v->host_errors++;
    if (*forced == 0) {
        *forced = err;
    }
    vlog(v, VIOMMU_LOG_ERR, VIOMMU_LOG_SOURCE_DEVICE,
         "host %s %#llx failed (errno %d); host state may differ", what,
         (unsigned long long)arg, -err);
}

enum op { OP_MAP, OP_UNMAP };

/*
 * `forced` says how a host error is taken. NULL: it is returned, as the
 * errno of the guest's status, for the caller to undo what it did. Else the
 * operation goes on as if it had worked and the first error is kept in
 * *forced (removal, reset, and undoing cannot be refused).
 */
static int op_mapping(struct viommu *v, struct hostctx *c, enum op op,
                      const struct mapping *m, int *forced)
{
    int err;

    if (op == OP_MAP) {
        CALLBACK(v, err = c->ops.map(c->opaque, m->start, m->end, m->phys,
                                     m->flags));
    } else {
        CALLBACK(v, err = c->ops.unmap(c->opaque, m->start, m->end));
    }
    if (err == 0) {
        return 0;
    }
    if (forced != NULL) {
        host_error(v, op == OP_MAP ? "map" : "unmap", m->start, err, forced);
        return 0;
    }
    return host_status(err);
}

/*
 * Applies op to context c for every mapping of ms inside [start, end]. On a
 * failure (not forced) undoes what it did and returns the error.
 */
static int ctx_apply(struct viommu *v, struct hostctx *c,
                     const struct mapstore *ms, uint64_t start, uint64_t end,
                     enum op op, int *forced)
{
    struct mapping m;
    uint64_t addr = start;

    while (mapstore_find_first(ms, addr, &m) && m.start <= end) {
        int err = op_mapping(v, c, op, &m, forced);
        if (err != 0) {
            int undo = 0;
            if (m.start > start) {
                ctx_apply(v, c, ms, start, m.start - 1,
                          op == OP_MAP ? OP_UNMAP : OP_MAP, &undo);
            }
            return err;
        }
        if (m.end >= end) {
            break;
        }
        addr = m.end + 1;
    }
    return 0;
}

int hostctx_get(struct viommu *v, const struct viommu_host_ops *ops,
                void *opaque, struct hostctx **out)
{
    struct hostctx *c;

    for (c = v->hostctxs; c != NULL; c = c->next) {
        if (c->key == ops && c->opaque == opaque) {
            c->nr_endpoints++;
            *out = c;
            return 0;
        }
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    int err = copy_versioned(&c->ops, sizeof(c->ops), ops,
                             ABI_FIRST_SIZE(struct viommu_host_ops));
    if (err != 0 || c->ops.attach == NULL || c->ops.detach == NULL ||
        c->ops.map == NULL || c->ops.unmap == NULL) {
        free(c);
        return -EINVAL;
    }
    c->key = ops;
    c->opaque = opaque;
    c->nr_endpoints = 1;
    c->next = v->hostctxs;
    v->hostctxs = c;
    *out = c;
    return 0;
}

int hostctx_geometry(struct viommu *v, const struct hostctx *c, uint32_t ep,
                     struct viommu_host_geometry *g)
{
    int err = 0;

    memset(g, 0, sizeof(*g));
    g->size = sizeof(*g);
    if (c != NULL && c->ops.geometry != NULL) {
        CALLBACK(v, err = c->ops.geometry(c->opaque, ep, g));
        g->size = sizeof(*g);
    }
    return err;
}

void hostctx_put(struct viommu *v, struct hostctx *c)
{
    if (--c->nr_endpoints > 0) {
        return;
    }
    /* Domains may keep unused links to the context: drop them with it. */
    for (uint32_t i = 0; i < v->domains.n; i++) {
        struct domain *d = (struct domain *)v->domains.items[i];
        for (struct hostlink **l = &d->links; *l != NULL;) {
            if ((*l)->ctx == c) {
                struct hostlink *dead = *l;
                *l = dead->next;
                free(dead);
            } else {
                l = &(*l)->next;
            }
        }
    }
    struct hostctx **link = &v->hostctxs;
    while (*link != c) {
        link = &(*link)->next;
    }
    *link = c->next;
    free(c);
}

static struct hostlink *link_find(const struct domain *d,
                                  const struct hostctx *c)
{
    for (struct hostlink *l = d->links; l != NULL; l = l->next) {
        if (l->ctx == c) {
            return l;
        }
    }
    return NULL;
}

/* One more endpoint of c in d: the first one replays d's mappings. Never
 * allocates when d already had a link for c, so undoing a link_put() does
 * not fail for want of memory. */
static int link_get(struct viommu *v, struct domain *d, struct hostctx *c,
                    int *forced)
{
    struct hostlink *l = link_find(d, c);

    if (l == NULL) {
        l = calloc(1, sizeof(*l));
        if (l == NULL) {
            return -ENOMEM;
        }
        l->ctx = c;
        l->next = d->links;
        d->links = l;
    }
    if (l->users == 0) {
        int err = ctx_apply(v, c, &d->maps, 0, UINT64_MAX, OP_MAP, forced);
        if (err != 0) {
            return err;
        }
    }
    l->users++;
    return 0;
}

/* One endpoint of c fewer in d: the last one takes d's mappings out. */
static int link_put(struct viommu *v, struct domain *d, struct hostctx *c,
                    int *forced)
{
    struct hostlink *l = link_find(d, c);

    if (l->users == 1) {
        int err = ctx_apply(v, c, &d->maps, 0, UINT64_MAX, OP_UNMAP, forced);
        if (err != 0) {
            return err;
        }
    }
    l->users--;
    return 0;
}

void host_links_free(struct domain *d)
{
    while (d->links != NULL) {
        struct hostlink *l = d->links;
        d->links = l->next;
        free(l);
    }
}

static int op_attach(struct viommu *v, struct hostctx *c, uint32_t ep,
                     bool identity, int *forced)
{
    int err;

    CALLBACK(v, err = c->ops.attach(c->opaque, ep, identity));
    if (err != 0 && forced != NULL) {
        host_error(v, "attach of endpoint", ep, err, forced);
        return 0;
    }
    return err == 0 ? 0 : host_status(err);
}

int host_enter(struct viommu *v, struct endpoint *ep, struct domain *to)
{
    struct hostctx *c = ep->host;
    struct domain *from = ep->domain;
    int undo = 0;
    int err;

    if (c == NULL) {
        return 0;
    }
    /* Out of the old domain first: the context is one address space, and
     * the old domain's mappings may sit where the new domain's go. */
    if (from != NULL) {
        err = link_put(v, from, c, NULL);
        if (err != 0) {
            return err;
        }
    }
    err = link_get(v, to, c, NULL);
    if (err == 0) {
        err = op_attach(v, c, ep->id, to->bypass, NULL);
        if (err == 0) {
            return 0;
        }
        link_put(v, to, c, &undo);
    }
    if (from != NULL) {
        link_get(v, from, c, &undo);
    }
    return err;
}

int host_leave(struct viommu *v, struct endpoint *ep, int *forced)
{
    struct hostctx *c = ep->host;
    int undo = 0;
    int err;

    if (c == NULL) {
        return 0;
    }
    /* Block the endpoint's DMA before its mappings go. */
    CALLBACK(v, err = c->ops.detach(c->opaque, ep->id));
    if (err != 0) {
        if (forced == NULL) {
            return host_status(err);
        }
        host_error(v, "detach of endpoint", ep->id, err, forced);
    }
    err = link_put(v, ep->domain, c, forced);
    if (err != 0) {
        op_attach(v, c, ep->id, ep->domain->bypass, &undo);
    }
    return err;
}

int host_map(struct viommu *v, struct domain *d, const struct mapping *m)
{
    int undo = 0;

    for (struct hostlink *l = d->links; l != NULL; l = l->next) {
        if (l->users == 0) {
            continue;
        }
        int err = op_mapping(v, l->ctx, OP_MAP, m, NULL);
        if (err != 0) {
            for (struct hostlink *k = d->links; k != l; k = k->next) {
                if (k->users > 0) {
                    op_mapping(v, k->ctx, OP_UNMAP, m, &undo);
                }
            }
            return err;
        }
    }
    return 0;
}

int host_unmap_range(struct viommu *v, struct domain *d, uint64_t start,
                     uint64_t end)
{
    int undo = 0;

    for (struct hostlink *l = d->links; l != NULL; l = l->next) {
        if (l->users == 0) {
            continue;
        }
        int err = ctx_apply(v, l->ctx, &d->maps, start, end, OP_UNMAP, NULL);
        if (err != 0) {
            for (struct hostlink *k = d->links; k != l; k = k->next) {
                if (k->users > 0) {
                    ctx_apply(v, k->ctx, &d->maps, start, end, OP_MAP, &undo);
                }
            }
            return err;
        }
    }
    return 0;
}
