/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * e. Fault injection. A long lifecycle story (PF with a VFIO user, endpoints
 * sharing a host context joining and leaving populated domains, a VF enabled
 * and disabled, a 39-bit host) is first run to count its host calls; then,
 * for every k, run again with the k-th host call failing. Around every
 * request the test checks the host invariant, and that a request that fails
 * leaves the device and every host context exactly as before; the request
 * that met the failure gets the status the header promises. The story stops
 * at the first failed step; freeing the device must then leave every host
 * context empty. Run under the sanitizer build, nothing may leak.
 */
#include "world.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define G 0x1000ull
#define SNAPSHOT_LEN 16384

struct fi {
    struct world *w;
    struct vdrv_hooks hooks; /* around each request of the guest */
    int err;                 /* what the failing call returns */
    char before[SNAPSHOT_LEN];
    char after[SNAPSHOT_LEN];
    unsigned requests_failed_by_host;
};

static uint8_t expected_status(int err)
{
    switch (err) {
    case -ENOMEM:
    case -ENOSPC:
        return VIRTIO_IOMMU_S_NOMEM;
    case -EOPNOTSUPP:
        return VIRTIO_IOMMU_S_UNSUPP;
    case -EEXIST:
        return VIRTIO_IOMMU_S_INVAL;
    case -ERANGE:
        return VIRTIO_IOMMU_S_RANGE;
    default:
        return VIRTIO_IOMMU_S_DEVERR;
    }
}

static void append(char *buf, size_t len, size_t *used, const char *s)
{
    size_t n = strnlen(s, len);

    if (*used + n + 1 < len) {
        memcpy(buf + *used, s, n);
        *used += n;
        buf[*used] = '\0';
    }
}

static int dump_mapping(void *opaque, uint64_t iova, uint64_t last,
                        uint64_t gpa, uint32_t flags)
{
    struct fi *f = opaque;
    char one[96];
    size_t used = strlen(f->after);

    snprintf(one, sizeof(one), " %#llx-%#llx>%#llx/%u",
             (unsigned long long)iova, (unsigned long long)last,
             (unsigned long long)gpa, flags);
    append(f->after, SNAPSHOT_LEN, &used, one);
    return 0;
}

/* Device state (endpoints, their domains, the domains' mappings) and every
 * host context, as text, into f->after. */
static void snapshot(struct fi *f)
{
    struct world *w = f->w;
    struct viommu_stats st = {.size = sizeof(st)};
    char one[4096];
    size_t used = 0;

    f->after[0] = '\0';
    assert_int_equal(viommu_get_stats(w->v, &st), 0);
    snprintf(one, sizeof(one), "eps %u doms %u maps %llu ctxs %u;",
             st.endpoints, st.domains, (unsigned long long)st.mappings,
             st.host_contexts);
    append(f->after, SNAPSHOT_LEN, &used, one);
    for (size_t i = 0; i < w->nr_bindings; i++) {
        long d = world_endpoint_domain(w, w->bindings[i].endpoint);
        snprintf(one, sizeof(one), " ep %u:%ld", w->bindings[i].endpoint, d);
        append(f->after, SNAPSHOT_LEN, &used, one);
        if (d >= 0) {
            assert_int_equal(viommu_domain_foreach_mapping(w->v, (uint32_t)d, 0,
                                                           dump_mapping, f),
                             0);
            used = strlen(f->after);
        }
    }
    for (int i = 0; i < WORLD_MAX_HOSTS; i++) {
        hostsim_dump(&w->hosts[i], one, sizeof(one));
        append(f->after, SNAPSHOT_LEN, &used, " | ");
        append(f->after, SNAPSHOT_LEN, &used, one);
    }
}

static void before_request(void *opaque)
{
    struct fi *f = opaque;

    snapshot(f);
    memcpy(f->before, f->after, SNAPSHOT_LEN);
    f->w->faults.fired = false;
}

static void after_request(void *opaque, uint8_t status)
{
    struct fi *f = opaque;
    struct world *w = f->w;
    struct viommu_stats st = {.size = sizeof(st)};

    /* A failure while undoing is reported (host_errors), not undone: from
     * then on only the absence of crashes and leaks is checked. */
    assert_int_equal(viommu_get_stats(w->v, &st), 0);
    if (st.host_errors > 0) {
        return;
    }
    world_check(w);
    if (w->faults.fired) {
        if (status != expected_status(f->err)) {
            fail_msg("host call %u failed with errno %d: guest got %s, "
                     "expected %s",
                     w->faults.fail_at, -f->err, vdrv_status_name(status),
                     vdrv_status_name(expected_status(f->err)));
        }
        f->requests_failed_by_host++;
    }
    if (status != OK) {
        snapshot(f);
        if (strcmp(f->before, f->after) != 0) {
            fail_msg("a request failed with %s but changed state:\n"
                     "before: %s\nafter:  %s",
                     vdrv_status_name(status), f->before, f->after);
        }
    }
}

/* VMM steps outside requests. A failure met there is the VMM's to see:
 * the step reports it and the story stops. */
static bool vmm_add(struct world *w, uint32_t id, struct hostsim *h)
{
    w->faults.fired = false;
    int err = world_add(w, id, h, NULL);
    if (w->faults.fired) {
        assert_int_not_equal(err, 0);
        assert_int_equal(world_endpoint_domain(w, id), -1);
        return false;
    }
    assert_int_equal(err, 0);
    return true;
}

static bool vmm_add_vfs(struct world *w, const struct viommu_sriov *s,
                        struct hostsim *h)
{
    w->faults.fired = false;
    int err = world_add_vfs(w, s, h);
    if (w->faults.fired) {
        assert_int_not_equal(err, 0);
        return false;
    }
    assert_int_equal(err, 0);
    return true;
}

/* Removal cannot be refused: a host failure is reported to the VMM with
 * the endpoint_removed notification and counted. */
static bool vmm_removed(struct world *w, size_t removed_before)
{
    struct viommu_stats st = {.size = sizeof(st)};

    if (!w->faults.fired) {
        world_forget_removed(w);
        world_check(w);
        return true;
    }
    assert_int_equal(viommu_get_stats(w->v, &st), 0);
    assert_true(st.host_errors > 0);
    bool reported = false;
    for (size_t i = removed_before; i < w->nr_removed; i++) {
        reported |= w->removed_err[i] != 0;
    }
    assert_true(reported);
    return false;
}

static bool vmm_remove(struct world *w, uint32_t id)
{
    size_t n = w->nr_removed;

    w->faults.fired = false;
    int err = viommu_endpoint_remove(w->v, id);
    /* Removal is never refused; its return is the host error, if any. */
    assert_int_equal(w->nr_removed, n + 1);
    assert_int_equal(err, w->removed_err[n]);
    return vmm_removed(w, n);
}

static bool vmm_remove_vfs(struct world *w, const struct viommu_sriov *s)
{
    size_t n = w->nr_removed;

    w->faults.fired = false;
    assert_true(viommu_sriov_remove_vfs(w->v, s) > 0);
    return vmm_removed(w, n);
}

#define GUEST(call)                                                            \
    do {                                                                       \
        if ((call) != OK) {                                                    \
            return;                                                            \
        }                                                                      \
    } while (0)
#define VMM(call)                                                              \
    do {                                                                       \
        if (!(call)) {                                                         \
            return;                                                            \
        }                                                                      \
    } while (0)

/* The story's shared context: one table (as a VFIO type1 container) or a
 * table per domain (as iommufd's IOAS each); every test runs both. */
static bool shared_tables;

static void story(struct world *w)
{
    struct lnx *l = &w->guest;
    struct hostsim *pf_host = &w->hosts[0], *vf_host = &w->hosts[1];
    struct hostsim *shared = &w->hosts[2], *narrow = &w->hosts[3];
    const uint32_t pf = 0x100, a = 0x200, b = 0x208, c = 0x300;
    struct viommu_sriov sriov = {.size = sizeof(struct viommu_sriov),
                                 .pf = pf,
                                 .vf_offset = 0x80,
                                 .vf_stride = 1,
                                 .num_vfs = 2};
    int pf_vfio, c_vfio;

    hostsim_set_address_bits(narrow, 39);
    shared->per_domain = shared_tables;
    VMM(vmm_add(w, pf, pf_host));
    VMM(vmm_add(w, a, shared));
    VMM(vmm_add(w, b, shared));
    VMM(vmm_add(w, c, narrow));
    GUEST(lnx_endpoint_appear(l, pf));
    GUEST(lnx_endpoint_appear(l, a));
    GUEST(lnx_endpoint_appear(l, c));
    int pf_dma = lnx_endpoint(l, pf)->default_domain;
    for (uint64_t i = 0; i < 4; i++) {
        GUEST(lnx_map(l, pf_dma, 0x100000 + i * 0x10000, G, i * G, RW));
    }

    /* The PF's VFIO user maps before and after others join. */
    GUEST(lnx_vfio_open(l, pf, &pf_vfio));
    for (uint64_t i = 0; i < 6; i++) {
        GUEST(lnx_map(l, pf_vfio, 0x400000 + i * 0x20000, 4 * G,
                      0x80000 + i * 4 * G, RW));
    }
    GUEST(lnx_map(l, pf_vfio, 0x800000, G, 0x90000, VIRTIO_IOMMU_MAP_F_READ));
    /* Contiguous in IOVA and gpa: one host mapping when replayed below,
     * split when the middle one goes. */
    for (uint64_t i = 0; i < 3; i++) {
        GUEST(lnx_map(l, pf_vfio, 0x900000 + i * G, G, 0xd0000 + i * G, RW));
    }
    GUEST(lnx_attach(l, pf_vfio, a));             /* replayed into `shared` */
    GUEST(lnx_unmap(l, pf_vfio, 0x901000, G));
    GUEST(lnx_endpoint_appear_in(l, b, pf_vfio)); /* `shared` again */
    GUEST(lnx_map(l, pf_vfio, 0x600000, 2 * G, 0xa0000, RW));
    GUEST(lnx_unmap(l, pf_vfio, 0x400000, 0x60000)); /* three at once */

    /* A VF comes and goes while mappings exist everywhere. */
    VMM(vmm_add_vfs(w, &sriov, vf_host));
    GUEST(lnx_endpoint_appear(l, 0x180));
    GUEST(lnx_endpoint_appear(l, 0x181));
    int vf_dma = lnx_endpoint(l, 0x180)->default_domain;
    GUEST(lnx_map(l, vf_dma, 0xfffff000, G, 0xb0000, RW));
    GUEST(lnx_endpoint_release(l, 0x180));
    GUEST(lnx_endpoint_release(l, 0x181));
    VMM(vmm_remove_vfs(w, &sriov));

    /* The 39-bit endpoint's VFIO user. */
    GUEST(lnx_vfio_open(l, c, &c_vfio));
    GUEST(lnx_map(l, c_vfio, (1ULL << 39) - 2 * G, 2 * G, 0xc0000, RW));
    GUEST(lnx_vfio_close(l, c, c_vfio));

    /* a and b go back to their own default domains, then away. */
    GUEST(lnx_attach(l, lnx_endpoint(l, a)->default_domain, a));
    GUEST(lnx_endpoint_release(l, b));
    VMM(vmm_remove(w, b));
    GUEST(lnx_vfio_close(l, pf, pf_vfio));
    GUEST(lnx_endpoint_release(l, a));
    VMM(vmm_remove(w, a));
}

static struct world *new_world(enum lnx_release release, struct fi *f)
{
    struct world *w = world_new(release);

    /* Failed requests leave the guest model behind the device on purpose
     * (Linux forgets a mapping whose UNMAP failed, say). */
    w->guest_view_checked = false;
    f->w = w;
    f->hooks = (struct vdrv_hooks){before_request, after_request, f};
    w->guest.drv.hooks = &f->hooks;
    return w;
}

static void end_world(struct world *w)
{
    world_free(w); /* asserts that every host context is left empty */
}

static void every_host_call_fails_once(enum lnx_release release)
{
    static const int errs[] = {-ENOMEM, -EIO,        -ENOSPC,
                               -EEXIST, -EOPNOTSUPP, -ERANGE};
    struct fi f = {0};
    struct world *w = new_world(release, &f);

    story(w);
    unsigned total = w->faults.calls;
    print_message("# story: %u host calls\n", total);
    assert_int_equal(f.requests_failed_by_host, 0);
    assert_int_equal(w->nr_bindings, 2); /* pf and c remain */
    end_world(w);
    assert_true(total >= 60);

    unsigned in_requests = 0;
    for (unsigned k = 1; k <= total; k++) {
        f = (struct fi){.err = errs[k % (sizeof(errs) / sizeof(errs[0]))]};
        w = new_world(release, &f);
        w->faults.fail_at = k;
        w->faults.err = f.err;
        story(w);
        assert_true(w->faults.calls >= k); /* the failure happened */
        in_requests += f.requests_failed_by_host;
        end_world(w);
    }
    print_message("# %u host calls, each failed once; %u of them in a "
                  "request\n",
                  total, in_requests);
    assert_true(in_requests > total / 2);
}

/* The call after the first failure fails too: usually the first call
 * undoing it. The device must go on, count it, and leak nothing. */
static void undo_fails_too(enum lnx_release release)
{
    struct fi f = {0};
    struct world *w = new_world(release, &f);

    story(w);
    unsigned total = w->faults.calls;
    end_world(w);

    unsigned counted = 0;
    for (unsigned k = 1; k < total; k++) {
        for (unsigned next = 1; next <= 3; next++) {
            f = (struct fi){.err = -EIO};
            w = new_world(release, &f);
            w->faults.fail_at = k;
            w->faults.fail_also = k + next;
            w->faults.err = f.err;
            story(w);
            struct viommu_stats st = {.size = sizeof(st)};
            assert_int_equal(viommu_get_stats(w->v, &st), 0);
            counted += st.host_errors > 0;
            end_world(w);
        }
    }
    print_message("# %u runs where an undo failed too and was counted\n",
                  counted);
    assert_true(counted > 0);
}

static void test_e_undo_fails_too(void **state)
{
    (void)state;
    for (int tables = 0; tables < 2; tables++) {
        shared_tables = tables;
        undo_fails_too(LNX_RELEASE_NO_DETACH);
        undo_fails_too(LNX_RELEASE_DETACH);
    }
}

static void test_e_fault_injection_old_kernel(void **state)
{
    (void)state;
    for (int tables = 0; tables < 2; tables++) {
        shared_tables = tables;
        every_host_call_fails_once(LNX_RELEASE_NO_DETACH);
    }
}

static void test_e_fault_injection_new_kernel(void **state)
{
    (void)state;
    for (int tables = 0; tables < 2; tables++) {
        shared_tables = tables;
        every_host_call_fails_once(LNX_RELEASE_DETACH);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_e_fault_injection_old_kernel),
        cmocka_unit_test(test_e_fault_injection_new_kernel),
        cmocka_unit_test(test_e_undo_fails_too),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
