/* SPDX-License-Identifier: BSD-3-Clause */
/* ATTACH (R12-R19) and DETACH (R20-R23). */
#include "common.h"

static uint8_t attach_reserved(struct viommu *v, uint32_t domain, uint32_t ep,
                               uint8_t fill)
{
    struct virtio_iommu_req_attach req = vdrv_attach_req(domain, ep, 0);

    return send_with_reserved(
        v, &req, sizeof(req),
        offsetof(struct virtio_iommu_req_attach, reserved),
        sizeof(req.reserved), fill);
}

static void test_attach_reserved_nonzero_R12(void **state)
{
    struct viommu *v = new_device(NULL);

    assert_int_equal(attach_reserved(v, 1, EP1, 0x01), VIRTIO_IOMMU_S_INVAL);
    assert_int_equal(attach_reserved(v, 1, EP1, 0x80), VIRTIO_IOMMU_S_INVAL);
    assert_int_equal(endpoint_domain(v, EP1), -1);
    assert_int_equal(attach_reserved(v, 1, EP1, 0), VIRTIO_IOMMU_S_OK);
    viommu_free(v);
}

static void test_attach_unknown_flag_R13(void **state)
{
    struct viommu *v = new_device(NULL);

    for (int bit = 1; bit < 32; bit++) {
        assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP1, 1u << bit),
                         VIRTIO_IOMMU_S_INVAL);
    }
    assert_int_equal(endpoint_domain(v, EP1), -1);
    /* ATTACH_F_BYPASS is known only with BYPASS_CONFIG negotiated. */
    assert_int_equal(
        vdrv_attach(VDRV_LOCAL(v), 1, EP1, VIRTIO_IOMMU_ATTACH_F_BYPASS),
        VIRTIO_IOMMU_S_OK);
    viommu_free(v);

    v = new_device(NULL);
    assert_int_equal(viommu_set_driver_features(
                         v, viommu_device_features(v) &
                                ~(1ull << VIRTIO_IOMMU_F_BYPASS_CONFIG)),
                     0);
    assert_int_equal(
        vdrv_attach(VDRV_LOCAL(v), 1, EP1, VIRTIO_IOMMU_ATTACH_F_BYPASS),
        VIRTIO_IOMMU_S_INVAL);
    assert_int_equal(endpoint_domain(v, EP1), -1);
    viommu_free(v);
}

static void test_attach_unknown_endpoint_R14(void **state)
{
    struct viommu *v = new_device(NULL);

    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, 42, 0),
                     VIRTIO_IOMMU_S_NOENT);
    struct viommu_stats st = {.size = sizeof(st)};
    assert_int_equal(viommu_get_stats(v, &st), 0);
    assert_int_equal(st.domains, 0); /* no domain created on the way */
    viommu_free(v);
}

static void test_several_endpoints_per_domain_R15(void **state)
{
    struct viommu *v = new_device(NULL);
    struct viommu_translation t = {.size = sizeof(t)};

    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 7, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 7, EP2, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 7, 0x5000, 0x5fff, 0x9000, RW),
                     VIRTIO_IOMMU_S_OK);
    for (uint32_t ep = EP1; ep <= EP2; ep++) {
        assert_int_equal(
            viommu_translate(v, ep, 0x5008, VIOMMU_ACCESS_READ, &t), 0);
        assert_int_equal(t.gpa, 0x9008);
    }
    viommu_free(v);
}

static void test_bypass_flag_mismatch_R16(void **state)
{
    struct viommu *v = new_device(NULL);

    assert_int_equal(
        vdrv_attach(VDRV_LOCAL(v), 1, EP1, VIRTIO_IOMMU_ATTACH_F_BYPASS),
        VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP2, 0),
                     VIRTIO_IOMMU_S_INVAL);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 2, EP2, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(
        vdrv_attach(VDRV_LOCAL(v), 2, EP3, VIRTIO_IOMMU_ATTACH_F_BYPASS),
        VIRTIO_IOMMU_S_INVAL);
    assert_int_equal(endpoint_domain(v, EP3), -1);
    viommu_free(v);
}

static void test_reattach_moves_endpoint_R17(void **state)
{
    struct viommu *v = new_device(NULL);
    struct viommu_translation t = {.size = sizeof(t)};

    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0, G - 1, 0x1000, RW),
                     VIRTIO_IOMMU_S_OK);
    /* No DETACH first, as Linux does. */
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 2, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(endpoint_domain(v, EP1), 2);
    /* Domain 1 lost its only endpoint: gone with its mapping. */
    assert_int_equal(domain_mappings(v, 1), -1);
    assert_int_equal(viommu_translate(v, EP1, 0, VIOMMU_ACCESS_READ, &t),
                     -EFAULT);
    /* A domain that keeps other endpoints survives the move. */
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 2, EP2, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 2, 0, G - 1, 0x1000, RW),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 3, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(domain_mappings(v, 2), 1);
    /* Attaching to the domain it is already in changes nothing. */
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 2, EP2, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(domain_mappings(v, 2), 1);
    viommu_free(v);
}

static void test_incompatible_reserved_regions_R18(void **state)
{
    struct viommu *v = new_device(NULL);

    add_endpoint_with(v, 10, 0x100000, 0x1fffff, VIOMMU_RESV_RESERVED);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0x1ff000, 0x200fff, 0, RW),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, 10, 0),
                     VIRTIO_IOMMU_S_UNSUPP);
    assert_int_equal(endpoint_domain(v, 10), -1);
    assert_int_equal(domain_mappings(v, 1), 1);

    /* Once the mapping is gone the endpoint fits. */
    assert_int_equal(vdrv_unmap(VDRV_LOCAL(v), 1, 0x1ff000, 0x200fff),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, 10, 0), VIRTIO_IOMMU_S_OK);

    /* The endpoint stays in its old domain when refused elsewhere. */
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 2, EP2, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 2, 0x100000, 0x100fff, 0, RW),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 2, 10, 0),
                     VIRTIO_IOMMU_S_UNSUPP);
    assert_int_equal(endpoint_domain(v, 10), 1);
    viommu_free(v);
}

static void test_attach_attaches_R19(void **state)
{
    struct viommu *v = new_device(NULL);
    bool bypass = true;
    uint32_t d = 0;

    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 0xfffffffe, EP3, 0),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(viommu_endpoint_domain(v, EP3, &d, &bypass), 0);
    assert_int_equal(d, 0xfffffffe);
    assert_false(bypass);
    assert_int_equal(viommu_endpoint_domain(v, EP2, &d, NULL), -ENODATA);
    assert_int_equal(viommu_endpoint_domain(v, 77, &d, NULL), -ENOENT);
    viommu_free(v);
}

static void domain_range(struct viommu_config *c)
{
    c->domain_start = 10;
    c->domain_end = 20;
}

static void test_domain_outside_domain_range(void **state)
{
    struct viommu *v = new_device(domain_range);

    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 9, EP1, 0),
                     VIRTIO_IOMMU_S_RANGE);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 21, EP1, 0),
                     VIRTIO_IOMMU_S_RANGE);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 10, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 20, EP2, 0), VIRTIO_IOMMU_S_OK);
    viommu_free(v);
}

static void two_domains(struct viommu_config *c)
{
    c->max_domains = 2;
}

static void test_domain_cap_is_nomem(void **state)
{
    struct viommu *v = new_device(two_domains);

    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 2, EP2, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 3, EP3, 0),
                     VIRTIO_IOMMU_S_NOMEM);
    assert_int_equal(endpoint_domain(v, EP3), -1);
    /* Moving a domain's only endpoint frees one: allowed at the cap. */
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 3, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(endpoint_domain(v, EP1), 3);
    assert_int_equal(domain_mappings(v, 1), -1);
    viommu_free(v);
}

static uint8_t detach_reserved(struct viommu *v, uint32_t domain, uint32_t ep,
                               uint8_t fill)
{
    struct virtio_iommu_req_detach req = vdrv_detach_req(domain, ep);

    return send_with_reserved(
        v, &req, sizeof(req),
        offsetof(struct virtio_iommu_req_detach, reserved),
        sizeof(req.reserved), fill);
}

static void test_detach_reserved_ignored_R20(void **state)
{
    struct viommu *v = new_device(NULL);

    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(detach_reserved(v, 1, EP1, 0xff), VIRTIO_IOMMU_S_OK);
    assert_int_equal(endpoint_domain(v, EP1), -1);
    viommu_free(v);
}

static void test_detach_unknown_endpoint_R21(void **state)
{
    struct viommu *v = new_device(NULL);

    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_detach(VDRV_LOCAL(v), 1, 1000), VIRTIO_IOMMU_S_NOENT);
    viommu_free(v);
}

static void test_detach_wrong_domain_R22(void **state)
{
    struct viommu *v = new_device(NULL);

    assert_int_equal(vdrv_detach(VDRV_LOCAL(v), 1, EP1), VIRTIO_IOMMU_S_INVAL);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 2, EP2, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_detach(VDRV_LOCAL(v), 2, EP1), VIRTIO_IOMMU_S_INVAL);
    assert_int_equal(vdrv_detach(VDRV_LOCAL(v), 3, EP1), VIRTIO_IOMMU_S_INVAL);
    assert_int_equal(endpoint_domain(v, EP1), 1);
    viommu_free(v);
}

static void test_detached_endpoint_reaches_nothing_R23(void **state)
{
    struct viommu *v = new_device(NULL);
    struct viommu_translation t = {.size = sizeof(t)};

    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP2, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0x4000, 0x4fff, 0x8000, RW),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_detach(VDRV_LOCAL(v), 1, EP1), VIRTIO_IOMMU_S_OK);
    assert_int_equal(viommu_translate(v, EP1, 0x4000, VIOMMU_ACCESS_READ, &t),
                     -EFAULT);
    assert_int_equal(viommu_translate(v, EP2, 0x4000, VIOMMU_ACCESS_READ, &t),
                     0);

    /* The last endpoint leaving destroys the domain; a reused ID starts
     * empty and the guest's next MAP succeeds. */
    assert_int_equal(vdrv_detach(VDRV_LOCAL(v), 1, EP2), VIRTIO_IOMMU_S_OK);
    assert_int_equal(domain_mappings(v, 1), -1);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP3, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(domain_mappings(v, 1), 0);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0x4000, 0x4fff, 0xa000, RW),
                     VIRTIO_IOMMU_S_OK);
    viommu_free(v);
}

static void test_endpoint_remove_detaches(void **state)
{
    struct viommu *v = new_device(NULL);
    struct viommu_stats st = {.size = sizeof(st)};

    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0, G - 1, 0, RW),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(viommu_endpoint_remove(v, EP1), 0);
    assert_int_equal(viommu_endpoint_remove(v, EP1), -ENOENT);
    assert_int_equal(viommu_get_stats(v, &st), 0);
    assert_int_equal(st.domains, 0);
    assert_int_equal(st.mappings, 0);
    assert_int_equal(st.endpoints, 2);
    /* The guest reuses the domain ID for another endpoint: no stale map. */
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP2, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0, G - 1, 0, RW),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP1, 0),
                     VIRTIO_IOMMU_S_NOENT);
    viommu_free(v);
}

static int collect(void *opaque, uint32_t id)
{
    uint32_t *ids = opaque;

    ids[++ids[0]] = id;
    return ids[0] == 8 ? 1 : 0;
}

/* What management sees: endpoints and domains in ID order, with counts. */
static void test_state_queries(void **state)
{
    struct viommu *v = new_device(NULL);
    struct viommu_domain_info info = {.size = sizeof(info)};
    uint32_t ids[10] = {0};

    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 7, EP3, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 7, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(
        vdrv_attach(VDRV_LOCAL(v), 2, EP2, VIRTIO_IOMMU_ATTACH_F_BYPASS),
        VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 7, 0, G - 1, 0, RW),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(viommu_foreach_endpoint(v, 0, collect, ids), 0);
    assert_int_equal(ids[0], 3);
    assert_int_equal(ids[1], EP1);
    assert_int_equal(ids[3], EP3);
    ids[0] = 0;
    assert_int_equal(viommu_foreach_domain(v, 0, collect, ids), 0);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 2);
    assert_int_equal(ids[2], 7);
    assert_int_equal(viommu_domain_info(v, 7, &info), 0);
    assert_false(info.bypass);
    assert_int_equal(info.endpoints, 2);
    assert_int_equal(info.mappings, 1);
    assert_int_equal(viommu_domain_info(v, 2, &info), 0);
    assert_true(info.bypass);
    assert_int_equal(viommu_domain_info(v, 3, &info), -ENOENT);
    ids[0] = 7; /* a non-zero return stops the walk */
    assert_int_equal(viommu_foreach_endpoint(v, 0, collect, ids), 1);
    assert_int_equal(ids[0], 8);
    /* From an ID on: the first one at or after it. */
    ids[0] = 0;
    assert_int_equal(viommu_foreach_endpoint(v, EP1 + 1, collect, ids), 0);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], EP2);
    ids[0] = 0;
    assert_int_equal(viommu_foreach_domain(v, 8, collect, ids), 0);
    assert_int_equal(ids[0], 0);
    /* The endpoints of one domain. */
    ids[0] = 0;
    assert_int_equal(viommu_domain_foreach_endpoint(v, 7, collect, ids), 0);
    assert_int_equal(ids[0], 2);
    assert_true((ids[1] == EP1 && ids[2] == EP3) ||
                (ids[1] == EP3 && ids[2] == EP1));
    assert_int_equal(viommu_domain_foreach_endpoint(v, 3, collect, ids),
                     -ENOENT);
    viommu_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_queries),
        cmocka_unit_test(test_attach_reserved_nonzero_R12),
        cmocka_unit_test(test_attach_unknown_flag_R13),
        cmocka_unit_test(test_attach_unknown_endpoint_R14),
        cmocka_unit_test(test_several_endpoints_per_domain_R15),
        cmocka_unit_test(test_bypass_flag_mismatch_R16),
        cmocka_unit_test(test_reattach_moves_endpoint_R17),
        cmocka_unit_test(test_incompatible_reserved_regions_R18),
        cmocka_unit_test(test_attach_attaches_R19),
        cmocka_unit_test(test_domain_outside_domain_range),
        cmocka_unit_test(test_domain_cap_is_nomem),
        cmocka_unit_test(test_detach_reserved_ignored_R20),
        cmocka_unit_test(test_detach_unknown_endpoint_R21),
        cmocka_unit_test(test_detach_wrong_domain_R22),
        cmocka_unit_test(test_detached_endpoint_reaches_nothing_R23),
        cmocka_unit_test(test_endpoint_remove_detaches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
