/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An embedder's view: only <viommu/viommu.h>, linked against the shared
 * library. The API works end to end, and the embedding contract of the
 * header holds: callbacks, invalidation, NULL handles, sizes, copies.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <viommu/viommu.h>

static void test_attach_through_shared_library(void **state)
{
    struct viommu_config cfg = {.size = sizeof(cfg)};
    struct viommu_endpoint_config ep = {.size = sizeof(ep), .id = 8};
    /* ATTACH domain 1, endpoint 8, as little-endian bytes. */
    uint8_t req[20] = {1, 0, 0, 0, 1, 0, 0, 0, 8};
    uint8_t tail[4] = {0xff, 0xff, 0xff, 0xff};
    struct iovec r = {req, sizeof(req)}, w = {tail, sizeof(tail)};
    uint32_t used = 0, domain = 0;

    struct viommu *v = viommu_new(&cfg);
    assert_non_null(v);
    assert_int_equal(viommu_endpoint_add(v, &ep), 0);
    assert_int_equal(viommu_handle_request(v, &r, 1, &w, 1, &used), 0);
    assert_int_equal(used, 4);
    assert_int_equal(tail[0], 0); /* VIRTIO_IOMMU_S_OK */
    assert_int_equal(viommu_endpoint_domain(v, 8, &domain, NULL), 0);
    assert_int_equal(domain, 1);
    viommu_free(v);
}

/* ATTACH (type 1) or DETACH (type 2) of endpoint ep to domain, as bytes. */
static int send_attach(struct viommu *v, uint8_t type, uint32_t domain,
                       uint32_t ep, uint8_t *status)
{
    uint8_t req[20] = {type, 0, 0, 0, (uint8_t)domain, 0, 0, 0, (uint8_t)ep};
    uint8_t tail[4];
    struct iovec r = {req, sizeof(req)}, w = {tail, sizeof(tail)};
    uint32_t used;
    int err = viommu_handle_request(v, &r, 1, &w, 1, &used);

    *status = tail[0];
    return err;
}

/* MAP (type 3) or UNMAP (type 4) of [iova, last] in domain. */
static int send_map(struct viommu *v, uint8_t type, uint32_t domain,
                    uint64_t iova, uint64_t last, uint8_t *status)
{
    uint8_t req[40] = {type, 0, 0, 0, (uint8_t)domain};
    uint8_t tail[4];
    struct iovec r = {req, type == 3 ? 36u : 28u}, w = {tail, sizeof(tail)};
    uint32_t used;

    memcpy(req + 8, &iova, 8); /* the test runs on little-endian hosts */
    memcpy(req + 16, &last, 8);
    memcpy(req + 24, &iova, 8);
    req[32] = 3; /* READ | WRITE */
    int err = viommu_handle_request(v, &r, 1, &w, 1, &used);
    *status = tail[0];
    return err;
}

/* What the callbacks saw, and what the forbidden calls answered there. */
struct seen {
    struct viommu *v;
    unsigned invalidations;
    uint32_t ep[8];
    uint64_t start[8], last[8];
    unsigned removed;
    int busy[6];
    int queries;
};

static void try_everything(struct seen *s)
{
    struct viommu_endpoint_config ep = {.size = sizeof(ep), .id = 99};
    struct viommu_translation t = {.size = sizeof(t)};
    struct viommu_stats st = {.size = sizeof(st)};
    uint8_t status;
    uint32_t domain;

    s->busy[0] = send_attach(s->v, 1, 7, 8, &status);
    s->busy[1] = viommu_endpoint_add(s->v, &ep);
    s->busy[2] = viommu_endpoint_remove(s->v, 8);
    s->busy[3] = viommu_translate(s->v, 8, 0, VIOMMU_ACCESS_READ, &t);
    s->busy[4] = viommu_reset(s->v, VIOMMU_RESET_DEVICE);
    s->busy[5] = viommu_set_driver_features(s->v, VIOMMU_F_VERSION_1);
    /* Queries are allowed. */
    s->queries = viommu_get_stats(s->v, &st) == 0 &&
                 viommu_endpoint_domain(s->v, 8, &domain, NULL) != -EBUSY;
}

static void on_invalidate(void *opaque, uint32_t ep, uint64_t start,
                          uint64_t last)
{
    struct seen *s = opaque;

    if (s->invalidations < 8) {
        s->ep[s->invalidations] = ep;
        s->start[s->invalidations] = start;
        s->last[s->invalidations] = last;
    }
    s->invalidations++;
    try_everything(s);
}

static void on_removed(void *opaque, uint32_t ep, int host_err)
{
    struct seen *s = opaque;

    (void)ep, (void)host_err;
    s->removed++;
    try_everything(s);
}

static void assert_all_busy(const struct seen *s)
{
    for (int i = 0; i < 6; i++) {
        assert_int_equal(s->busy[i], -EBUSY);
    }
    assert_true(s->queries);
}

/* Inside a callback only queries work; the device is unchanged by the
 * refused calls. */
static void test_callbacks_may_only_query(void **state)
{
    struct seen s = {0};
    struct viommu_config cfg = {
        .size = sizeof(cfg),
        .invalidate = on_invalidate,
        .invalidate_opaque = &s,
        .endpoint_removed = on_removed,
        .endpoint_removed_opaque = &s,
    };
    struct viommu_endpoint_config ep = {.size = sizeof(ep), .id = 8};
    uint8_t status;
    uint32_t domain;

    s.v = viommu_new(&cfg);
    assert_int_equal(viommu_endpoint_add(s.v, &ep), 0);
    assert_int_equal(send_attach(s.v, 1, 1, 8, &status), 0);
    assert_int_equal(status, 0);
    assert_int_equal(s.invalidations, 1);
    assert_all_busy(&s);
    assert_int_equal(viommu_endpoint_domain(s.v, 8, &domain, NULL), 0);
    assert_int_equal(domain, 1); /* the ATTACH to 7 inside was refused */

    memset(s.busy, 0, sizeof(s.busy));
    assert_int_equal(viommu_endpoint_remove(s.v, 8), 0);
    assert_int_equal(s.removed, 1);
    assert_all_busy(&s);
    viommu_free(s.v);
}

/* config.invalidate names the endpoints and the range that changed. */
static void test_invalidation_contract(void **state)
{
    struct seen s = {0};
    struct viommu_config cfg = {
        .size = sizeof(cfg),
        .invalidate = on_invalidate,
        .invalidate_opaque = &s,
    };
    struct viommu_endpoint_config ep = {.size = sizeof(ep)};
    uint8_t status;
    uint8_t on = 1;

    s.v = viommu_new(&cfg);
    assert_int_equal(viommu_endpoint_add_range(s.v, 8, 9, &ep), 0);
    assert_int_equal(send_attach(s.v, 1, 1, 8, &status), 0);
    assert_int_equal(send_attach(s.v, 1, 1, 9, &status), 0);
    s.invalidations = 0;

    /* MAP calls nothing; UNMAP names each endpoint of the domain. */
    assert_int_equal(send_map(s.v, 3, 1, 0x10000, 0x1ffff, &status), 0);
    assert_int_equal(status, 0);
    assert_int_equal(s.invalidations, 0);
    assert_int_equal(send_map(s.v, 4, 1, 0x10000, 0x1ffff, &status), 0);
    assert_int_equal(s.invalidations, 2);
    assert_true((s.ep[0] == 8 && s.ep[1] == 9) ||
                (s.ep[0] == 9 && s.ep[1] == 8));
    assert_int_equal(s.start[0], 0x10000);
    assert_int_equal(s.last[0], 0x1ffff);
    /* UNMAP of nothing changes nothing and says so. */
    assert_int_equal(send_map(s.v, 4, 1, 0x10000, 0x1ffff, &status), 0);
    assert_int_equal(s.invalidations, 2);

    /* DETACH: that endpoint, everything. */
    s.invalidations = 0;
    assert_int_equal(send_attach(s.v, 2, 1, 9, &status), 0);
    assert_int_equal(s.invalidations, 1);
    assert_int_equal(s.ep[0], 9);
    assert_int_equal(s.start[0], 0);
    assert_int_equal(s.last[0], UINT64_MAX);

    /* bypass on: the unattached endpoint 9 only. */
    s.invalidations = 0;
    assert_int_equal(viommu_config_write(s.v, 36, &on, 1), 0);
    assert_int_equal(s.invalidations, 1);
    assert_int_equal(s.ep[0], 9);

    /* A reset: every endpoint. */
    s.invalidations = 0;
    assert_int_equal(viommu_reset(s.v, VIOMMU_RESET_SYSTEM), 0);
    assert_int_equal(s.invalidations, 2); /* once each: 8 detached, 9 */
    assert_true((s.ep[0] == 8 && s.ep[1] == 9) ||
                (s.ep[0] == 9 && s.ep[1] == 8));
    /* Freeing the device tells nothing: the embedder lets go of it all. */
    s.invalidations = 0;
    assert_int_equal(send_attach(s.v, 1, 1, 8, &status), 0);
    s.invalidations = 0;
    viommu_free(s.v);
    assert_int_equal(s.invalidations, 0);
}

/* A member joining a host group invalidates the others only when the
 * group's reserved regions grow. */
static void test_group_growth_invalidates(void **state)
{
    struct seen s = {0};
    struct viommu_config cfg = {
        .size = sizeof(cfg),
        .invalidate = on_invalidate,
        .invalidate_opaque = &s,
    };
    struct viommu_resv_region r =
        VIOMMU_RESV_REGION(0x10000, 0x1ffff, VIOMMU_RESV_RESERVED);
    struct viommu_endpoint_config ep = {
        .size = sizeof(ep), .flags = VIOMMU_EP_GROUP, .group = 5};

    s.v = viommu_new(&cfg);
    assert_int_equal(viommu_endpoint_add_range(s.v, 20, 21, &ep), 0);
    assert_int_equal(s.invalidations, 0); /* alike: the union is the same */
    ep.id = 22;
    ep.resv = &r;
    ep.nr_resv = 1;
    assert_int_equal(viommu_endpoint_add(s.v, &ep), 0);
    assert_int_equal(s.invalidations, 2); /* 20 and 21: it grew */
    viommu_free(s.v);
}

/* The same answer for a NULL handle everywhere. */
static void test_null_handle(void **state)
{
    struct viommu_endpoint_config ep = {.size = sizeof(ep)};
    struct viommu_translation t = {.size = sizeof(t)};
    struct viommu_stats st = {.size = sizeof(st)};
    struct viommu_domain_info di = {.size = sizeof(di)};
    struct viommu_sriov sr = {.size = sizeof(sr), .num_vfs = 1};
    struct iovec iov = {NULL, 0};
    uint32_t used, u32;
    uint8_t b = 0;

    assert_int_equal(viommu_set_driver_features(NULL, 0), -EINVAL);
    assert_int_equal(viommu_config_read(NULL, 0, &b, 1), -EINVAL);
    assert_int_equal(viommu_config_write(NULL, 36, &b, 1), -EINVAL);
    assert_int_equal(viommu_reset(NULL, VIOMMU_RESET_DEVICE), -EINVAL);
    assert_int_equal(viommu_endpoint_add(NULL, &ep), -EINVAL);
    assert_int_equal(viommu_endpoint_add_range(NULL, 0, 1, &ep), -EINVAL);
    assert_int_equal(viommu_endpoint_remove(NULL, 0), -EINVAL);
    assert_int_equal(viommu_sriov_add_vfs(NULL, &sr, &ep), -EINVAL);
    assert_int_equal(viommu_sriov_remove_vfs(NULL, &sr), -EINVAL);
    assert_int_equal(viommu_handle_request(NULL, &iov, 1, &iov, 1, &used),
                     -EINVAL);
    assert_int_equal(viommu_translate(NULL, 0, 0, VIOMMU_ACCESS_READ, &t),
                     -EINVAL);
    assert_int_equal(viommu_event_pop(NULL, &iov, 1, &used), -EINVAL);
    assert_int_equal(viommu_get_stats(NULL, &st), -EINVAL);
    assert_int_equal(viommu_endpoint_domain(NULL, 0, &u32, NULL), -EINVAL);
    assert_int_equal(viommu_domain_info(NULL, 0, &di), -EINVAL);
    assert_int_equal(viommu_domain_foreach_mapping(NULL, 0, 0, NULL, NULL),
                     -EINVAL);
    assert_int_equal(viommu_foreach_endpoint(NULL, 0, NULL, NULL), -EINVAL);
    assert_int_equal(viommu_foreach_domain(NULL, 0, NULL, NULL), -EINVAL);
    assert_int_equal(viommu_device_features(NULL), 0);
    assert_false(viommu_bypass(NULL));
    assert_false(viommu_event_pending(NULL));
    viommu_free(NULL);
}

/* Outputs are filled up to the caller's size; inputs from a newer caller
 * are taken only when what this library does not know is zero. */
static void test_sizes(void **state)
{
    struct viommu_config cfg = {.size = sizeof(cfg)};
    struct viommu *v = viommu_new(&cfg);
    struct viommu_endpoint_config ep = {.size = sizeof(ep), .id = 1};
    struct {
        struct viommu_stats st;
        uint64_t future;
    } newer = {.st.size = sizeof(newer), .future = 0xdead};
    struct {
        struct viommu_endpoint_config ep;
        uint64_t future;
    } ahead = {.ep = {.size = sizeof(ahead), .id = 2}, .future = 1};
    /* 0.2 is the first version: nothing smaller exists. */
    struct viommu_stats older = {.size = offsetof(struct viommu_stats, domains),
                                 .domains = 77};

    assert_int_equal(viommu_version(), VIOMMU_VERSION);
    assert_int_equal(viommu_endpoint_add(v, &ep), 0);
    assert_int_equal(viommu_get_stats(v, &older), -EINVAL);
    assert_int_equal(older.domains, 77); /* untouched */
    older.size = 8192;
    assert_int_equal(viommu_get_stats(v, &older), -EINVAL);
    assert_int_equal(viommu_get_stats(v, &newer.st), 0);
    assert_int_equal(newer.st.endpoints, 1);
    assert_int_equal(newer.future, 0); /* unknown here: zeroed */
    assert_int_equal(viommu_endpoint_add(v, &ahead.ep), -EINVAL);
    ahead.future = 0;
    assert_int_equal(viommu_endpoint_add(v, &ahead.ep), 0);
    older.size = 0;
    assert_int_equal(viommu_get_stats(v, &older), -EINVAL);
    viommu_free(v);
}

/* What a declaration points to is copied: changing it later changes
 * nothing the guest sees. */
static void test_declaration_is_copied(void **state)
{
    struct viommu_config cfg = {.size = sizeof(cfg)};
    struct viommu *v = viommu_new(&cfg);
    struct viommu_resv_region r =
        VIOMMU_RESV_REGION(0x10000, 0x1ffff, VIOMMU_RESV_RESERVED);
    struct viommu_endpoint_config ep = {
        .size = sizeof(ep), .id = 8, .resv = &r, .nr_resv = 1};
    struct viommu_translation t = {.size = sizeof(t)};
    uint8_t status;

    assert_int_equal(viommu_endpoint_add(v, &ep), 0);
    r.start = r.end = 0; /* the caller reuses its memory */
    assert_int_equal(send_attach(v, 1, 1, 8, &status), 0);
    assert_int_equal(send_map(v, 3, 1, 0x10000, 0x10fff, &status), 0);
    assert_int_equal(status, 5); /* VIRTIO_IOMMU_S_RANGE: still reserved */
    assert_int_equal(
        viommu_translate(v, 8, 0x10000,
                         VIOMMU_ACCESS_READ | VIOMMU_ACCESS_NO_REPORT, &t),
        -EFAULT);
    assert_false(viommu_event_pending(v)); /* NO_REPORT */
    assert_int_equal(viommu_translate(v, 8, 0x10000, VIOMMU_ACCESS_READ, &t),
                     -EFAULT);
    assert_true(viommu_event_pending(v));
    viommu_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attach_through_shared_library),
        cmocka_unit_test(test_callbacks_may_only_query),
        cmocka_unit_test(test_invalidation_contract),
        cmocka_unit_test(test_group_growth_invalidates),
        cmocka_unit_test(test_null_handle),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_declaration_is_copied),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
