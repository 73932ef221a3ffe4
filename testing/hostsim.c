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

static int sim_attach(void *ctx, uint32_t id, bool identity)
{
    struct hostsim *h = ctx;
    ssize_t i = find_attached(h, id);
    int err;

    if (injected(h, &err)) {
        return err;
    }
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

void hostsim_init(struct hostsim *h, const char *name)
{
    memset(h, 0, sizeof(*h));
    h->name = name;
}

void hostsim_destroy(struct hostsim *h)
{
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

bool hostsim_attached(const struct hostsim *h, uint32_t id, bool *identity)
{
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

static bool check_one(struct viommu *v, const struct hostsim_binding *b,
                      size_t nr_b, const struct hostsim *h, char *why,
                      size_t len)
{
    struct expected e = {0};
    uint32_t done[HOSTSIM_MAX_ENDPOINTS];
    size_t nr_done = 0, nr_attached = 0;
    bool ok = true;

    for (size_t i = 0; i < nr_b && ok; i++) {
        uint32_t domain;
        bool bypass, identity;
        if (b[i].host != h) {
            continue;
        }
        if (viommu_endpoint_domain(v, b[i].endpoint, &domain, &bypass) != 0) {
            if (hostsim_attached(h, b[i].endpoint, NULL)) {
                snprintf(why, len,
                         "%s: endpoint %u attached on the host, "
                         "not in the device",
                         h->name, b[i].endpoint);
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

bool hostsim_check(struct viommu *v, const struct hostsim_binding *bindings,
                   size_t nr_bindings, struct hostsim *const *hosts,
                   size_t nr_hosts, char *why, size_t why_len)
{
    for (size_t i = 0; i < nr_hosts; i++) {
        if (!check_one(v, bindings, nr_bindings, hosts[i], why, why_len)) {
            return false;
        }
    }
    return true;
}
