/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Host IOMMU contexts. Invariant: a context holds exactly the union of the
 * mappings of the domains its attached endpoints are in (in one table, or
 * in one table per domain when its ops have table_new). Each domain keeps a
 * link per context serving it, counting that context's endpoints in the
 * domain: the first one in replays the domain's mappings into the context,
 * coalescing runs contiguous in IOVA and guest-physical address into one
 * host mapping each; the last one out takes them out; MAP and UNMAP go to
 * every context with users. Every step that a request causes is all or
 * nothing: a failed host call is undone in every context before the error
 * goes to the guest.
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

/* The table a link's calls go to: the domain's own, or the context. */
static void *table_of(const struct hostlink *l)
{
    return l->ctx->ops.table_new != NULL ? l->table : l->ctx->opaque;
}

/*
 * One host call on the link's table. `forced` says how a host error is
 * taken. NULL: it is returned, as the errno of the guest's status, for the
 * caller to undo what it did. Else the operation goes on as if it had
 * worked and the first error is kept in *forced (removal, reset, and
 * undoing cannot be refused).
 */
static int call(struct viommu *v, struct hostlink *l, enum op op,
                const struct hostrun *r, int *forced)
{
    const struct viommu_host_ops *ops = &l->ctx->ops;
    int err;

    if (op == OP_MAP) {
        CALLBACK(v, err = ops->map(table_of(l), r->start, r->end, r->phys,
                                   r->flags));
    } else {
        CALLBACK(v, err = ops->unmap(table_of(l), r->start, r->end));
    }
    if (err == 0) {
        return 0;
    }
    if (forced != NULL) {
        host_error(v, op == OP_MAP ? "map" : "unmap", r->start, err, forced);
        return 0;
    }
    return host_status(err);
}

/* Index of the first run of l that ends at or after addr. */
static size_t run_lower_bound(const struct hostlink *l, uint64_t addr)
{
    size_t lo = 0, hi = l->nr_runs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->runs[mid].end < addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The run of l holding addr, or NULL; its index in *at. */
static struct hostrun *run_at(struct hostlink *l, uint64_t addr, size_t *at)
{
    size_t i = run_lower_bound(l, addr);

    *at = i;
    return i < l->nr_runs && l->runs[i].start <= addr ? &l->runs[i] : NULL;
}

/* Room for `more` runs. */
static int run_reserve(struct hostlink *l, size_t more)
{
    if (l->nr_runs + more <= l->cap_runs) {
        return 0;
    }
    size_t cap = 2 * (l->nr_runs + more);
    struct hostrun *runs = realloc(l->runs, cap * sizeof(*runs));
    if (runs == NULL) {
        return -ENOMEM;
    }
    l->runs = runs;
    l->cap_runs = cap;
    return 0;
}

/* Inserting back a run just removed never allocates. */
static void run_insert(struct hostlink *l, size_t at, const struct hostrun *r)
{
    memmove(&l->runs[at + 1], &l->runs[at],
            (l->nr_runs - at) * sizeof(*l->runs));
    l->runs[at] = *r;
    l->nr_runs++;
}

static void run_remove(struct hostlink *l, size_t at)
{
    l->nr_runs--;
    memmove(&l->runs[at], &l->runs[at + 1],
            (l->nr_runs - at) * sizeof(*l->runs));
}

/* Whether m continues r: next in IOVA and in guest-physical address. */
static bool continues(const struct hostrun *r, const struct mapping *m)
{
    return m->start == r->end + 1 && m->flags == r->flags &&
           m->phys >= r->phys && m->phys - r->phys == m->start - r->start;
}

static int unmap_range(struct viommu *v, struct hostlink *l,
                       const struct mapstore *ms, uint64_t start,
                       uint64_t end, int *forced);

/*
 * Maps the mappings of ms inside [start, end] into l's table, one host
 * call per mapping, or per run of them when `coalesce` (a replay, which
 * records the runs). All or nothing unless forced.
 */
static int map_range(struct viommu *v, struct hostlink *l,
                     const struct mapstore *ms, uint64_t start, uint64_t end,
                     bool coalesce, int *forced)
{
    struct mapping m;
    bool more = mapstore_find_first(ms, start, &m) && m.start <= end;

    while (more) {
        struct hostrun r = {m.start, m.end, m.phys, m.flags};
        bool run = false;
        for (;;) {
            more = m.end < end && mapstore_find_first(ms, m.end + 1, &m) &&
                   m.start <= end;
            if (!coalesce || !more || !continues(&r, &m)) {
                break;
            }
            r.end = m.end;
            run = true;
        }
        /* No room to remember a run: its mappings one by one. */
        bool one_by_one = run && run_reserve(l, 1) != 0;
        int err = one_by_one
                      ? map_range(v, l, ms, r.start, r.end, false, forced)
                      : call(v, l, OP_MAP, &r, forced);
        if (err != 0) {
            int undo = 0;
            if (r.start > start) {
                unmap_range(v, l, ms, start, r.start - 1, &undo);
            }
            return err;
        }
        if (run && !one_by_one) {
            run_insert(l, l->nr_runs, &r); /* a replay goes up in IOVA */
        }
    }
    return 0;
}

/* Cuts run `at` where [start, end] begins and ends inside it, into up to
 * three runs, one host mapping each: the table translates the same before
 * and after. */
static int run_split(struct viommu *v, struct hostlink *l, size_t at,
                     uint64_t start, uint64_t end)
{
    struct hostrun r = l->runs[at], piece[3];
    size_t n = 0, done = 0;
    int err;

    if (r.start < start) {
        piece[n++] = (struct hostrun){r.start, start - 1, r.phys, r.flags};
    }
    uint64_t mid = r.start > start ? r.start : start;
    uint64_t mid_end = r.end < end ? r.end : end;
    piece[n++] = (struct hostrun){mid, mid_end, r.phys + (mid - r.start),
                                  r.flags};
    if (end < r.end) {
        piece[n++] = (struct hostrun){end + 1, r.end,
                                      r.phys + (end + 1 - r.start), r.flags};
    }
    if ((err = run_reserve(l, n - 1)) != 0 ||
        (err = call(v, l, OP_UNMAP, &r, NULL)) != 0) {
        return err;
    }
    while (done < n && (err = call(v, l, OP_MAP, &piece[done], NULL)) == 0) {
        done++;
    }
    if (err != 0) {
        int undo = 0;
        while (done > 0) {
            call(v, l, OP_UNMAP, &piece[--done], &undo);
        }
        call(v, l, OP_MAP, &r, &undo);
        return err;
    }
    run_remove(l, at);
    while (n > 0) {
        run_insert(l, at, &piece[--n]);
    }
    return 0;
}

/*
 * Takes the mappings of ms inside [start, end] out of l's table. The host
 * unmaps whole host mappings only: a run across either end is split first.
 * All or nothing unless forced.
 */
static int unmap_range(struct viommu *v, struct hostlink *l,
                       const struct mapstore *ms, uint64_t start,
                       uint64_t end, int *forced)
{
    struct hostrun *r;
    struct mapping m;
    uint64_t addr = start;
    size_t at;
    int err;

    if ((r = run_at(l, start, &at)) != NULL &&
        (r->start < start || r->end > end) &&
        (err = run_split(v, l, at, start, end)) != 0) {
        return err;
    }
    if ((r = run_at(l, end, &at)) != NULL && r->end > end &&
        (err = run_split(v, l, at, start, end)) != 0) {
        return err;
    }
    while (mapstore_find_first(ms, addr, &m) && m.start <= end) {
        struct hostrun one = {m.start, m.end, m.phys, m.flags};
        r = run_at(l, m.start, &at);
        err = call(v, l, OP_UNMAP, r != NULL ? r : &one, forced);
        if (err != 0) {
            int undo = 0;
            if (one.start > start) {
                map_range(v, l, ms, start, one.start - 1, false, &undo);
            }
            return err;
        }
        uint64_t last = r != NULL ? r->end : one.end;
        if (r != NULL) {
            run_remove(l, at);
        }
        if (last >= end) {
            break;
        }
        addr = last + 1;
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
    int err = copy_versioned(
        &c->ops, sizeof(c->ops), ops,
        ABI_SIZE_BEFORE(struct viommu_host_ops, table_new));
    if (err != 0 || c->ops.attach == NULL || c->ops.detach == NULL ||
        c->ops.map == NULL || c->ops.unmap == NULL ||
        (c->ops.table_new == NULL) != (c->ops.table_free == NULL)) {
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
                free(dead->runs);
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

/* The last endpoint of a context out of a domain: the domain's mappings
 * out of the context, or its table freed with them. */
static int link_close(struct viommu *v, struct domain *d, struct hostlink *l,
                      int *forced)
{
    struct hostctx *c = l->ctx;
    int err;

    if (c->ops.table_new == NULL) {
        return unmap_range(v, l, &d->maps, 0, UINT64_MAX, forced);
    }
    CALLBACK(v, err = c->ops.table_free(c->opaque, l->table));
    if (err != 0) {
        int ignored = 0;
        host_error(v, "table free for domain", d->id, err,
                   forced != NULL ? forced : &ignored);
    }
    l->table = NULL;
    l->nr_runs = 0;
    return 0;
}

/* The first endpoint of a context in a domain: the domain's table in the
 * context (its own, or the context's one), with its mappings. */
static int link_open(struct viommu *v, struct domain *d, struct hostlink *l,
                     int *forced)
{
    struct hostctx *c = l->ctx;
    int err = 0;

    if (c->ops.table_new != NULL) {
        /* Only a context without tables is entered again while undoing. */
        CALLBACK(v, err = c->ops.table_new(c->opaque, d->id, &l->table));
        if (err != 0) {
            return host_status(err);
        }
    }
    err = map_range(v, l, &d->maps, 0, UINT64_MAX, true, forced);
    if (err != 0 && c->ops.table_new != NULL) {
        int undo = 0;
        link_close(v, d, l, &undo);
    }
    return err;
}

/* One more endpoint of c in d: the first one brings d's mappings in. The
 * link itself is kept while d lives, so that undoing a link_put() of a
 * context without tables never fails for want of a link (a replay that
 * cannot remember its runs maps mapping by mapping). */
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
        int err = link_open(v, d, l, forced);
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
        int err = link_close(v, d, l, forced);
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
        free(l->runs);
        free(l);
    }
}

static int op_attach(struct viommu *v, struct endpoint *ep, struct domain *d,
                     int *forced)
{
    struct hostlink *l = link_find(d, ep->host);
    int err;

    CALLBACK(v, err = ep->host->ops.attach(table_of(l), ep->id, d->bypass));
    if (err != 0 && forced != NULL) {
        host_error(v, "attach of endpoint", ep->id, err, forced);
        return 0;
    }
    return err == 0 ? 0 : host_status(err);
}

static int op_detach(struct viommu *v, struct endpoint *ep, int *forced)
{
    struct hostlink *l = link_find(ep->domain, ep->host);
    int err;

    CALLBACK(v, err = ep->host->ops.detach(table_of(l), ep->id));
    if (err != 0 && forced != NULL) {
        host_error(v, "detach of endpoint", ep->id, err, forced);
        return 0;
    }
    return err == 0 ? 0 : host_status(err);
}

/* A context with a table per domain: into the new table (replayed first if
 * new), attached there in one step, and only then out of the old one. */
static int enter_table(struct viommu *v, struct endpoint *ep, struct domain *to)
{
    int undo = 0;
    int err = link_get(v, to, ep->host, NULL);

    if (err != 0) {
        return err;
    }
    err = op_attach(v, ep, to, NULL);
    if (err != 0) {
        link_put(v, to, ep->host, &undo);
        return err;
    }
    if (ep->domain != NULL) {
        link_put(v, ep->domain, ep->host, &undo);
    }
    return 0;
}

/* A context that is one table: the endpoint leaves the old domain and its
 * mappings go (they may sit where the new domain's go), then the new
 * domain's come in and the endpoint is attached. */
static int enter_shared(struct viommu *v, struct endpoint *ep,
                        struct domain *to)
{
    struct hostctx *c = ep->host;
    struct domain *from = ep->domain;
    int undo = 0;
    int err;

    if (from != NULL) {
        err = op_detach(v, ep, NULL);
        if (err == 0) {
            err = link_put(v, from, c, NULL);
            if (err != 0) {
                op_attach(v, ep, from, &undo);
            }
        }
        if (err != 0) {
            return err;
        }
    }
    err = link_get(v, to, c, NULL);
    if (err == 0) {
        err = op_attach(v, ep, to, NULL);
        if (err == 0) {
            return 0;
        }
        link_put(v, to, c, &undo);
    }
    if (from != NULL) {
        link_get(v, from, c, &undo);
        op_attach(v, ep, from, &undo);
    }
    return err;
}

int host_enter(struct viommu *v, struct endpoint *ep, struct domain *to)
{
    if (ep->host == NULL) {
        return 0;
    }
    return ep->host->ops.table_new != NULL ? enter_table(v, ep, to)
                                            : enter_shared(v, ep, to);
}

int host_leave(struct viommu *v, struct endpoint *ep, int *forced)
{
    int undo = 0;

    if (ep->host == NULL) {
        return 0;
    }
    /* Block the endpoint's DMA before its mappings go. */
    int err = op_detach(v, ep, forced);
    if (err != 0) {
        return err;
    }
    err = link_put(v, ep->domain, ep->host, forced);
    if (err != 0) {
        op_attach(v, ep, ep->domain, &undo);
    }
    return err;
}

int host_map(struct viommu *v, struct domain *d, const struct mapping *m)
{
    struct hostrun one = {m->start, m->end, m->phys, m->flags};
    int undo = 0;

    for (struct hostlink *l = d->links; l != NULL; l = l->next) {
        if (l->users == 0) {
            continue;
        }
        int err = call(v, l, OP_MAP, &one, NULL);
        if (err != 0) {
            for (struct hostlink *k = d->links; k != l; k = k->next) {
                if (k->users > 0) {
                    call(v, k, OP_UNMAP, &one, &undo);
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
        int err = unmap_range(v, l, &d->maps, start, end, NULL);
        if (err != 0) {
            for (struct hostlink *k = d->links; k != l; k = k->next) {
                if (k->users > 0) {
                    map_range(v, k, &d->maps, start, end, false, &undo);
                }
            }
            return err;
        }
    }
    return 0;
}
