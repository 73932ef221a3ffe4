/* SPDX-License-Identifier: BSD-3-Clause */
#include "world.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const host_names[WORLD_MAX_HOSTS] = {
    "host0", "host1", "host2", "host3", "host4", "host5", "host6", "host7"};

static bool host_invariant(struct world *w, char *why, size_t len)
{
    struct hostsim *hosts[WORLD_MAX_HOSTS];

    for (int i = 0; i < WORLD_MAX_HOSTS; i++) {
        hosts[i] = &w->hosts[i];
    }
    return hostsim_check(w->v, w->bindings, w->nr_bindings, hosts,
                         WORLD_MAX_HOSTS, why, len);
}

/* The moment a management layer may rebind the device: nothing of the
 * endpoint may be left on the host. */
static void on_removed(void *opaque, uint32_t id, int host_err)
{
    struct world *w = opaque;
    char why[2048];

    assert_true(w->nr_removed < WORLD_MAX_ENDPOINTS);
    w->removed[w->nr_removed] = id;
    w->removed_err[w->nr_removed++] = host_err;
    assert_int_equal(viommu_endpoint_domain(w->v, id, NULL, NULL), -ENOENT);
    if (host_err != 0) {
        return;
    }
    for (int i = 0; i < WORLD_MAX_HOSTS; i++) {
        if (hostsim_attached(&w->hosts[i], id, NULL)) {
            fail_msg("endpoint %u reported removed while attached on %s", id,
                     w->hosts[i].name);
        }
    }
    /* With no earlier host failure, every context is exactly right. */
    struct viommu_stats st = {.size = sizeof(st)};
    assert_int_equal(viommu_get_stats(w->v, &st), 0);
    if (st.host_errors == 0 && !host_invariant(w, why, sizeof(why))) {
        fail_msg("endpoint %u reported removed too early: %s", id, why);
    }
}

struct world *world_new(enum lnx_release release)
{
    struct world *w = calloc(1, sizeof(*w));

    assert_non_null(w);
    struct viommu_config cfg = {
        .size = sizeof(cfg),
        .endpoint_removed = on_removed,
        .endpoint_removed_opaque = w,
    };
    w->v = viommu_new(&cfg);
    assert_non_null(w->v);
    for (int i = 0; i < WORLD_MAX_HOSTS; i++) {
        hostsim_init(&w->hosts[i], host_names[i]);
        w->hosts[i].faults = &w->faults;
    }
    w->guest_view_checked = true;
    assert_true(
        lnx_init(&w->guest, VDRV_LOCAL(w->v), release, LNX_DEFAULT_DMA));
    return w;
}

void world_free(struct world *w)
{
    char why[2048];
    struct viommu_stats st = {.size = sizeof(st)};

    /* Freeing the device releases every host context, unless a host
     * failure, earlier (reported to the VMM) or while freeing, left
     * something there. */
    assert_int_equal(viommu_get_stats(w->v, &st), 0);
    w->faults.fired = false;
    viommu_free(w->v);
    w->v = NULL;
    for (int i = 0; i < WORLD_MAX_HOSTS; i++) {
        if (st.host_errors == 0 && !w->faults.fired &&
            !hostsim_empty(&w->hosts[i])) {
            hostsim_dump(&w->hosts[i], why, sizeof(why));
            fail_msg("left on the host after viommu_free: %s", why);
        }
        hostsim_destroy(&w->hosts[i]);
    }
    free(w);
}

int world_add(struct world *w, uint32_t id, struct hostsim *h,
              const struct viommu_endpoint_config *tmpl)
{
    struct viommu_endpoint_config cfg = {.size = sizeof(cfg)};

    if (tmpl != NULL) {
        cfg = *tmpl;
    }
    cfg.id = id;
    cfg.host_ops = h != NULL ? hostsim_ops_of(h) : NULL;
    cfg.host_ctx = h;
    int err = viommu_endpoint_add(w->v, &cfg);
    if (err == 0) {
        assert_true(w->nr_bindings < WORLD_MAX_ENDPOINTS);
        w->bindings[w->nr_bindings++] = (struct hostsim_binding){id, h};
    }
    world_check(w);
    return err;
}

int world_add_vfs(struct world *w, const struct viommu_sriov *s,
                  struct hostsim *h)
{
    struct viommu_endpoint_config tmpl = {
        .size = sizeof(tmpl),
        .host_ops = h != NULL ? hostsim_ops_of(h) : NULL,
        .host_ctx = h,
    };
    int err = viommu_sriov_add_vfs(w->v, s, &tmpl);

    for (uint16_t vf = 0; err == 0 && vf < s->num_vfs; vf++) {
        uint32_t id;
        assert_int_equal(viommu_sriov_vf_id(s, vf, &id), 0);
        assert_true(w->nr_bindings < WORLD_MAX_ENDPOINTS);
        w->bindings[w->nr_bindings++] = (struct hostsim_binding){id, h};
    }
    world_check(w);
    return err;
}

int world_remove_vfs(struct world *w, const struct viommu_sriov *s)
{
    int removed = viommu_sriov_remove_vfs(w->v, s);

    world_forget_removed(w);
    world_check(w);
    return removed;
}

void world_forget_removed(struct world *w)
{
    size_t kept = 0;

    for (size_t i = 0; i < w->nr_bindings; i++) {
        if (viommu_endpoint_domain(w->v, w->bindings[i].endpoint, NULL, NULL) !=
            -ENOENT) {
            w->bindings[kept++] = w->bindings[i];
        }
    }
    w->nr_bindings = kept;
}

int world_remove(struct world *w, uint32_t id)
{
    int err = viommu_endpoint_remove(w->v, id);

    world_forget_removed(w);
    world_check(w);
    return err;
}

static int count_one(void *opaque, uint64_t iova, uint64_t last, uint64_t gpa,
                     uint32_t flags)
{
    (void)iova, (void)last, (void)gpa, (void)flags;
    (*(long *)opaque)++;
    return 0;
}

long world_domain_mappings(struct world *w, uint32_t domain)
{
    long n = 0;

    return viommu_domain_foreach_mapping(w->v, domain, 0, count_one, &n) == 0
               ? n
               : -1;
}

long world_endpoint_domain(struct world *w, uint32_t ep)
{
    uint32_t d;

    return viommu_endpoint_domain(w->v, ep, &d, NULL) == 0 ? (long)d : -1;
}

/* The guest's mappings of a domain are the device's, one for one. */
struct guest_maps {
    const struct lnx_domain *d;
    unsigned seen;
    bool differ;
};

static int match_guest(void *opaque, uint64_t iova, uint64_t last, uint64_t gpa,
                       uint32_t flags)
{
    struct guest_maps *g = opaque;
    bool found = false;

    for (unsigned i = 0; i < g->d->nr_maps && !found; i++) {
        const struct lnx_map *m = &g->d->maps[i];
        found = m->iova == iova && m->last == last && m->gpa == gpa &&
                m->prot == flags;
    }
    g->differ |= !found;
    g->seen++;
    return 0;
}

static void check_guest_view(struct world *w)
{
    const struct lnx *l = &w->guest;
    struct viommu_stats st = {.size = sizeof(st)};
    unsigned guest_domains = 0;

    for (int i = 0; i < LNX_MAX_ENDPOINTS; i++) {
        const struct lnx_endpoint *ep = &l->endpoints[i];
        if (!ep->present || ep->domain < 0) {
            continue;
        }
        const struct lnx_domain *d = &l->domains[ep->domain];
        if (world_endpoint_domain(w, ep->id) != (long)d->id) {
            fail_msg("guest has endpoint %u in domain %u, device in %ld",
                     ep->id, d->id, world_endpoint_domain(w, ep->id));
        }
        struct guest_maps g = {d, 0, false};
        assert_int_equal(
            viommu_domain_foreach_mapping(w->v, d->id, 0, match_guest, &g), 0);
        if (g.differ || g.seen != d->nr_maps) {
            fail_msg("domain %u: guest has %u mappings, device %u%s", d->id,
                     d->nr_maps, g.seen, g.differ ? ", different" : "");
        }
    }
    /* No domain survives that the guest does not have in use. */
    for (int i = 0; i < LNX_MAX_DOMAINS; i++) {
        guest_domains +=
            l->domains[i].allocated && l->domains[i].nr_endpoints > 0;
    }
    assert_int_equal(viommu_get_stats(w->v, &st), 0);
    if (st.domains != guest_domains) {
        fail_msg("device has %u domains, the guest uses %u", st.domains,
                 guest_domains);
    }
}

void world_check(struct world *w)
{
    char why[2048];
    struct viommu_stats st = {.size = sizeof(st)};

    /* A host failure that could not be refused (counted in host_errors)
     * leaves the host as it is: from then on it is not compared. */
    assert_int_equal(viommu_get_stats(w->v, &st), 0);
    if (st.host_errors == 0 && !host_invariant(w, why, sizeof(why))) {
        fail_msg("host invariant: %s", why);
    }
    if (w->guest_view_checked) {
        check_guest_view(w);
    }
}
