/* SPDX-License-Identifier: BSD-3-Clause */
#include "hostsim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool injected(struct hostsim *h, int *err)
{
    struct hostsim_faults *f = h->faults;

    if (f == NULL) {
        return false;
    }
    ++f->calls;
    if (f->calls != f->fail_at && f->calls != f->fail_also) {
        return false;
    }
    f->fired = true;
    *err = f->err;
    return true;
}

static ssize_t find_attached(const struct hostsim *h, uint32_t id)
{
    for (size_t i = 0; i < h->nr_attached; i++) {
        if (h->attached[i].id == id) {
            return (ssize_t)i;
        }
    }
    return -1;
}

static int attach_to(struct hostsim *h, uint32_t id, bool identity)
{
    ssize_t i = find_attached(h, id);

    if (i < 0) {
        if (h->nr_attached == HOSTSIM_MAX_ENDPOINTS) {
            return -ENOSPC;
        }
        i = (ssize_t)h->nr_attached++;
    }
    h->attached[i].id = id;
    h->attached[i].identity = identity;
    return 0;
}

static int sim_attach(void *ctx, uint32_t id, bool identity)
{
    struct hostsim *h = ctx;
    int err;

    return injected(h, &err) ? err : attach_to(h, id, identity);
}

static int sim_detach(void *ctx, uint32_t id)
{
    struct hostsim *h = ctx;
    ssize_t i = find_attached(h, id);
    int err;

    if (injected(h, &err)) {
        return err;
    }
    if (i < 0) {
        return -ENODEV; /* the library detached what it never attached */
    }
    h->attached[i] = h->attached[--h->nr_attached];
    return 0;
}

static bool usable(const struct hostsim *h, uint64_t iova, uint64_t last)
{
    const struct viommu_host_geometry *g = &h->geometry;

    if (g->nr_usable == 0) {
        return true;
    }
    for (uint32_t i = 0; i < g->nr_usable; i++) {
        if (iova >= g->usable[i].start && last <= g->usable[i].end) {
            return true;
        }
    }
    return false;
}

/* Index of the first mapping that ends at or after iova. */
static size_t lower_bound(const struct hostsim *h, uint64_t iova)
{
    size_t lo = 0, hi = h->nr_maps;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->maps[mid].last < iova) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static int sim_map(void *ctx, uint64_t iova, uint64_t last, uint64_t gpa,
                   uint32_t flags)
{
    struct hostsim *h = ctx;
    int err;

    h->map_calls++;
    if (injected(h, &err)) {
        return err;
    }
    if (last < iova || !usable(h, iova, last)) {
        return -ERANGE;
    }
    size_t i = lower_bound(h, iova);
    if (i < h->nr_maps && h->maps[i].iova <= last) {
        return -EEXIST; /* as VFIO_IOMMU_MAP_DMA says */
    }
    if (h->nr_maps == h->cap_maps) {
        size_t cap = h->cap_maps ? 2 * h->cap_maps : 16;
        struct hostsim_map *m = realloc(h->maps, cap * sizeof(*m));
        if (m == NULL) {
            return -ENOMEM;
        }
        h->maps = m;
        h->cap_maps = cap;
    }
    memmove(&h->maps[i + 1], &h->maps[i], (h->nr_maps - i) * sizeof(*h->maps));
    h->maps[i] = (struct hostsim_map){iova, last, gpa, flags};
    h->nr_maps++;
    return 0;
}

static int sim_unmap(void *ctx, uint64_t iova, uint64_t last)
{
    struct hostsim *h = ctx;
    int err;

    if (injected(h, &err)) {
        return err;
    }
    size_t i = lower_bound(h, iova);
    if (i == h->nr_maps || h->maps[i].iova != iova || h->maps[i].last != last) {
        return -ENOENT; /* not one range earlier mapped */
    }
    memmove(&h->maps[i], &h->maps[i + 1],
            (h->nr_maps - i - 1) * sizeof(*h->maps));
    h->nr_maps--;
    return 0;
}

static int sim_geometry(void *ctx, uint32_t id, struct viommu_host_geometry *g)
{
    struct hostsim *h = ctx;
    int err;

    (void)id;
    if (injected(h, &err)) {
        return err;
    }
    *g = h->geometry;
    return 0;
}

const struct viommu_host_ops hostsim_ops = {
    .size = sizeof(struct viommu_host_ops),
    .attach = sim_attach,
    .detach = sim_detach,
    .map = sim_map,
    .unmap = sim_unmap,
    .geometry = sim_geometry,
};

static int sim_table_new(void *ctx, uint32_t domain, void **table)
{
    struct hostsim *h = ctx;
    int err;

    if (injected(h, &err)) {
        return err;
    }
    struct hostsim *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    hostsim_init(t, h->name);
    t->parent = h;
    t->faults = h->faults;
    t->geometry = h->geometry;
    t->domain = domain;
    t->next_table = h->tables;
    h->tables = t;
    *table = t;
    return 0;
}

static int sim_table_free(void *ctx, void *table)
{
    struct hostsim *h = ctx, *t = table;
    int err;

    if (injected(h, &err)) {
        return err; /* the table stays, as a failed IOMMU_DESTROY leaves it */
    }
    if (t->nr_attached > 0) {
        return -EBUSY; /* as the kernel says of an IOAS in use */
    }
    struct hostsim **link = &h->tables;
    while (*link != t) {
        link = &(*link)->next_table;
    }
    *link = t->next_table;
    hostsim_destroy(t);
    free(t);
    return 0;
}

/* Into this table, out of any other of the context: the kernel's replace. */
static int sim_table_attach(void *table, uint32_t id, bool identity)
{
    struct hostsim *t = table;
    int err;

    if (injected(t, &err)) {
        return err;
    }
    for (struct hostsim *o = t->parent->tables; o != NULL;
         o = o->next_table) {
        ssize_t i = find_attached(o, id);
        if (o != t && i >= 0) {
            o->attached[i] = o->attached[--o->nr_attached];
        }
    }
    return attach_to(t, id, identity);
}

const struct viommu_host_ops hostsim_table_ops = {
    .size = sizeof(struct viommu_host_ops),
    .attach = sim_table_attach,
    .detach = sim_detach,
    .map = sim_map,
    .unmap = sim_unmap,
    .geometry = sim_geometry,
    .table_new = sim_table_new,
    .table_free = sim_table_free,
};

const struct viommu_host_ops *hostsim_ops_of(const struct hostsim *h)
{
    return h->per_domain ? &hostsim_table_ops : &hostsim_ops;
}

void hostsim_init(struct hostsim *h, const char *name)
{
    memset(h, 0, sizeof(*h));
    h->name = name;
}

void hostsim_destroy(struct hostsim *h)
{
    while (h->tables != NULL) {
        struct hostsim *t = h->tables;
        h->tables = t->next_table;
        hostsim_destroy(t);
        free(t);
    }
    free(h->maps);
    h->maps = NULL;
    h->nr_maps = h->cap_maps = 0;
}

void hostsim_set_address_bits(struct hostsim *h, unsigned bits)
{
    struct viommu_host_geometry *g = &h->geometry;

    g->page_size_mask = (1ULL << 12) | (1ULL << 21) | (1ULL << 30);
    g->nr_usable = 2;
    g->usable[0] = (struct viommu_iova_range){0, VIOMMU_MSI_X86_START - 1};
    g->usable[1] =
        (struct viommu_iova_range){VIOMMU_MSI_X86_END + 1, (1ULL << bits) - 1};
}

bool hostsim_empty(const struct hostsim *h)
{
    return h->nr_maps == 0 && h->nr_attached == 0 && h->tables == NULL;
}

bool hostsim_attached(const struct hostsim *h, uint32_t id, bool *identity)
{
    for (const struct hostsim *t = h->tables; t != NULL; t = t->next_table) {
        if (hostsim_attached(t, id, identity)) {
            return true;
        }
    }
    ssize_t i = find_attached(h, id);

    if (i >= 0 && identity != NULL) {
        *identity = h->attached[i].identity;
    }
    return i >= 0;
}

static void append(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strnlen(buf, len);
    va_list ap;

    if (used + 1 >= len) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Merges neighbours contiguous in IOVA and gpa with the same flags: the
 * library pushes a replayed run of mappings as one. */
static size_t coalesce(struct hostsim_map *m, size_t n)
{
    size_t out = 0;

    for (size_t i = 0; i < n; i++) {
        struct hostsim_map *p = out > 0 ? &m[out - 1] : NULL;
        if (p != NULL && m[i].iova == p->last + 1 && m[i].flags == p->flags &&
            m[i].gpa >= p->gpa && m[i].gpa - p->gpa == m[i].iova - p->iova) {
            p->last = m[i].last;
        } else {
            m[out++] = m[i];
        }
    }
    return out;
}

/* What h translates, as coalesced mappings in a new array (NULL when out
 * of memory), their number in *nr. */
static struct hostsim_map *held(const struct hostsim *h, size_t *nr)
{
    struct hostsim_map *m = malloc((h->nr_maps + 1) * sizeof(*m));

    if (m != NULL && h->nr_maps > 0) {
        memcpy(m, h->maps, h->nr_maps * sizeof(*m));
    }
    *nr = m != NULL ? coalesce(m, h->nr_maps) : 0;
    return m;
}

void hostsim_dump(const struct hostsim *h, char *buf, size_t len)
{
    uint64_t ids[HOSTSIM_MAX_ENDPOINTS]; /* id << 1 | identity, sorted */

    for (size_t i = 0; i < h->nr_attached; i++) {
        ids[i] = (uint64_t)h->attached[i].id << 1 | h->attached[i].identity;
    }
    qsort(ids, h->nr_attached, sizeof(ids[0]), cmp_u64);
    buf[0] = '\0';
    append(buf, len, "%s: attached {", h->name);
    for (size_t i = 0; i < h->nr_attached; i++) {
        append(buf, len, " %llu%s", (unsigned long long)(ids[i] >> 1),
               ids[i] & 1 ? "(identity)" : "");
    }
    append(buf, len, " } maps {");
    size_t nr;
    struct hostsim_map *m = held(h, &nr);
    for (size_t i = 0; i < nr; i++) {
        append(buf, len, " %#llx-%#llx->%#llx/%u",
               (unsigned long long)m[i].iova, (unsigned long long)m[i].last,
               (unsigned long long)m[i].gpa, m[i].flags);
    }
    append(buf, len, m != NULL ? " }" : " (out of memory) }");
    free(m);
    for (const struct hostsim *t = h->tables; t != NULL; t = t->next_table) {
        append(buf, len, " [domain %u] ", t->domain);
        size_t used = strnlen(buf, len);
        hostsim_dump(t, buf + used, len - used);
    }
}

/* What a context should hold, gathered from the device. */
struct expected {
    struct hostsim_map *maps;
    size_t nr, cap;
    bool failed;
};

static int gather(void *opaque, uint64_t iova, uint64_t last, uint64_t gpa,
                  uint32_t flags)
{
    struct expected *e = opaque;

    if (e->nr == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 16;
        struct hostsim_map *m = realloc(e->maps, cap * sizeof(*m));
        if (m == NULL) {
            e->failed = true;
            return -ENOMEM;
        }
        e->maps = m;
        e->cap = cap;
    }
    e->maps[e->nr++] = (struct hostsim_map){iova, last, gpa, flags};
    return 0;
}

static int cmp_map(const void *a, const void *b)
{
    const struct hostsim_map *x = a, *y = b;

    return x->iova < y->iova ? -1 : x->iova > y->iova;
}

/*
 * Checks table h of context owner (h == owner for a context that is one
 * table) against the endpoints declared with owner that are in a domain,
 * or in domain `only` when it is not negative.
 */
static bool check_one(struct viommu *v, const struct hostsim_binding *b,
                      size_t nr_b, const struct hostsim *owner,
                      const struct hostsim *h, int64_t only, char *why,
                      size_t len)
{
    struct expected e = {0};
    uint32_t done[HOSTSIM_MAX_ENDPOINTS];
    size_t nr_done = 0, nr_attached = 0;
    bool ok = true;

    for (size_t i = 0; i < nr_b && ok; i++) {
        uint32_t domain;
        bool bypass, identity;
        if (b[i].host != owner) {
            continue;
        }
        if (viommu_endpoint_domain(v, b[i].endpoint, &domain, &bypass) != 0 ||
            (only >= 0 && domain != only)) {
            if (hostsim_attached(h, b[i].endpoint, NULL)) {
                snprintf(why, len,
                         "%s: endpoint %u attached on the host (table of "
                         "domain %u), not in the device there",
                         h->name, b[i].endpoint, h->domain);
                ok = false;
            }
            continue;
        }
        nr_attached++;
        if (!hostsim_attached(h, b[i].endpoint, &identity) ||
            identity != bypass) {
            snprintf(why, len, "%s: endpoint %u in domain %u%s, host: %s",
                     h->name, b[i].endpoint, domain, bypass ? " (bypass)" : "",
                     hostsim_attached(h, b[i].endpoint, NULL) ? "wrong mode"
                                                              : "not attached");
            ok = false;
            continue;
        }
        bool seen = false;
        for (size_t k = 0; k < nr_done; k++) {
            seen |= done[k] == domain;
        }
        if (!seen) {
            done[nr_done++] = domain;
            if (viommu_domain_foreach_mapping(v, domain, 0, gather, &e) != 0) {
                snprintf(why, len, "%s: domain %u unreadable", h->name, domain);
                ok = false;
            }
        }
    }
    if (ok && nr_attached != h->nr_attached) {
        snprintf(why, len,
                 "%s: %zu endpoints attached on the host, %zu in "
                 "the device",
                 h->name, h->nr_attached, nr_attached);
        ok = false;
    }
    if (ok) {
        size_t nr_held;
        struct hostsim_map *hm = held(h, &nr_held);
        if (e.nr > 0) {
            qsort(e.maps, e.nr, sizeof(*e.maps), cmp_map);
        }
        size_t nr_expected = coalesce(e.maps, e.nr);
        ok = !e.failed && hm != NULL && nr_expected == nr_held;
        for (size_t i = 0; ok && i < nr_expected; i++) {
            ok = e.maps[i].iova == hm[i].iova && e.maps[i].last == hm[i].last &&
                 e.maps[i].gpa == hm[i].gpa && e.maps[i].flags == hm[i].flags;
        }
        free(hm);
        if (!ok) {
            char dump[1024];
            hostsim_dump(h, dump, sizeof(dump));
            snprintf(why, len, "host holds %zu mappings, domains have %zu: %s",
                     h->nr_maps, e.nr, dump);
        }
    }
    free(e.maps);
    return ok;
}

/* A per_domain context: a table for each domain its endpoints are in,
 * each right, and no other. */
static bool check_tables(struct viommu *v, const struct hostsim_binding *b,
                         size_t nr_b, const struct hostsim *h, char *why,
                         size_t len)
{
    if (h->nr_maps != 0 || h->nr_attached != 0) {
        snprintf(why, len, "%s: used as one table", h->name);
        return false;
    }
    for (size_t i = 0; i < nr_b; i++) {
        uint32_t domain;
        const struct hostsim *t = h->tables;
        if (b[i].host != h ||
            viommu_endpoint_domain(v, b[i].endpoint, &domain, NULL) != 0) {
            continue;
        }
        while (t != NULL && t->domain != domain) {
            t = t->next_table;
        }
        if (t == NULL) {
            snprintf(why, len, "%s: endpoint %u in domain %u, no table",
                     h->name, b[i].endpoint, domain);
            return false;
        }
    }
    for (const struct hostsim *t = h->tables; t != NULL; t = t->next_table) {
        if (t->nr_attached == 0) {
            snprintf(why, len, "%s: the table of domain %u has no endpoint",
                     h->name, t->domain);
            return false;
        }
        if (!check_one(v, b, nr_b, h, t, t->domain, why, len)) {
            return false;
        }
    }
    return true;
}

bool hostsim_check(struct viommu *v, const struct hostsim_binding *bindings,
                   size_t nr_bindings, struct hostsim *const *hosts,
                   size_t nr_hosts, char *why, size_t why_len)
{
    for (size_t i = 0; i < nr_hosts; i++) {
        const struct hostsim *h = hosts[i];
        if (h->per_domain
                ? !check_tables(v, bindings, nr_bindings, h, why, why_len)
                : !check_one(v, bindings, nr_bindings, h, h, -1, why,
                             why_len)) {
            return false;
        }
    }
    return true;
}
