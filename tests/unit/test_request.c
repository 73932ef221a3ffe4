/* SPDX-License-Identifier: BSD-3-Clause */
/* Requests in general: R8-R11 and every malformed shape of request. */
#include "common.h"

static void test_ok_on_success_R8(void **state)
{
    struct viommu *v = new_device(NULL);

    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0, G - 1, 0, RW),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_unmap(VDRV_LOCAL(v), 1, 0, G - 1), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_probe(VDRV_LOCAL(v), EP1, NULL, 0),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_detach(VDRV_LOCAL(v), 1, EP1), VIRTIO_IOMMU_S_OK);
    viommu_free(v);
}

static void test_unknown_type_writes_nothing_R9(void **state)
{
    struct viommu *v = new_device(NULL);
    uint8_t types[] = {0, 6, 7, 0x7f, 0x80, 0xff};

    for (size_t i = 0; i < sizeof(types); i++) {
        uint8_t req[72] = {types[i]};
        uint8_t out[16];
        memset(out, 0xa5, sizeof(out));
        assert_int_equal(
            vdrv_send(VDRV_LOCAL(v), req, sizeof(req), out, sizeof(out)), 0);
        for (size_t j = 0; j < sizeof(out); j++) {
            assert_int_equal(out[j], 0xa5);
        }
    }
    viommu_free(v);
}

static void test_head_reserved_ignored_tail_reserved_zeroed_R10(void **state)
{
    struct viommu *v = new_device(NULL);
    struct virtio_iommu_req_attach req = {
        .head = {.type = VIRTIO_IOMMU_T_ATTACH, .reserved = {1, 2, 3}},
        .domain = htole32(1),
        .endpoint = htole32(EP1),
        .tail = {.status = 0xee, .reserved = {0xff, 0xff, 0xff}},
    };
    uint32_t used =
        vdrv_send(VDRV_LOCAL(v), &req, sizeof(req) - 4, &req.tail, 4);

    assert_int_equal(used, 4);
    assert_int_equal(req.tail.status, VIRTIO_IOMMU_S_OK);
    assert_int_equal(req.tail.reserved[0], 0);
    assert_int_equal(req.tail.reserved[1], 0);
    assert_int_equal(req.tail.reserved[2], 0);
    assert_int_equal(endpoint_domain(v, EP1), 1);

    /* Also for an error status. */
    memset(req.tail.reserved, 0xff, 3);
    req.endpoint = htole32(99);
    vdrv_send(VDRV_LOCAL(v), &req, sizeof(req) - 4, &req.tail, 4);
    assert_int_equal(req.tail.status, VIRTIO_IOMMU_S_NOENT);
    assert_int_equal(
        req.tail.reserved[0] | req.tail.reserved[1] | req.tail.reserved[2], 0);
    viommu_free(v);
}

static void test_too_short_for_head_or_tail(void **state)
{
    struct viommu *v = new_device(NULL);
    struct virtio_iommu_req_attach req = {
        .head.type = VIRTIO_IOMMU_T_ATTACH,
        .domain = htole32(1),
        .endpoint = htole32(EP1),
    };
    uint8_t out[8];

    /* No head: nothing can be answered. */
    assert_int_equal(vdrv_send(VDRV_LOCAL(v), &req, 3, out, 4), 0);
    assert_int_equal(vdrv_send(VDRV_LOCAL(v), &req, 0, out, 4), 0);
    /* No room for the tail. */
    for (size_t n = 0; n < 4; n++) {
        memset(out, 0xa5, sizeof(out));
        assert_int_equal(
            vdrv_send(VDRV_LOCAL(v), &req, sizeof(req) - 4, out, n), 0);
        assert_int_equal(out[0], 0xa5);
    }
    /* Nothing was attached by the requests that got no answer. */
    assert_int_equal(endpoint_domain(v, EP1), -1);
    viommu_free(v);
}

static void test_short_body_is_inval(void **state)
{
    struct viommu *v = new_device(NULL);
    struct {
        uint8_t type;
        size_t readable;
    } cases[] = {
        {VIRTIO_IOMMU_T_ATTACH, sizeof(struct virtio_iommu_req_attach) - 4},
        {VIRTIO_IOMMU_T_DETACH, sizeof(struct virtio_iommu_req_detach) - 4},
        {VIRTIO_IOMMU_T_MAP, sizeof(struct virtio_iommu_req_map) - 4},
        {VIRTIO_IOMMU_T_UNMAP, sizeof(struct virtio_iommu_req_unmap) - 4},
        {VIRTIO_IOMMU_T_PROBE, sizeof(struct virtio_iommu_req_probe)},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t len = 4; len < cases[i].readable; len++) {
            uint8_t req[80] = {cases[i].type};
            uint8_t out[516];
            memset(out, 0xa5, sizeof(out));
            /* A PROBE gets a full properties buffer so that only the short
             * body is wrong. */
            size_t out_len = cases[i].type == VIRTIO_IOMMU_T_PROBE ? 516 : 4;
            assert_int_equal(vdrv_send(VDRV_LOCAL(v), req, len, out, out_len),
                             out_len);
            assert_int_equal(out[out_len - 4], VIRTIO_IOMMU_S_INVAL);
        }
    }
    viommu_free(v);
}

static void test_extra_readable_bytes_ignored(void **state)
{
    struct viommu *v = new_device(NULL);
    uint8_t req[64] = {0};
    struct virtio_iommu_req_attach a = {
        .head.type = VIRTIO_IOMMU_T_ATTACH,
        .domain = htole32(3),
        .endpoint = htole32(EP2),
    };
    uint8_t tail[4];

    memcpy(req, &a, sizeof(a) - 4);
    memset(req + sizeof(a) - 4, 0x5a, sizeof(req) - (sizeof(a) - 4));
    assert_int_equal(vdrv_send(VDRV_LOCAL(v), req, sizeof(req), tail, 4), 4);
    assert_int_equal(tail[0], VIRTIO_IOMMU_S_OK);
    assert_int_equal(endpoint_domain(v, EP2), 3);
    viommu_free(v);
}

static void test_larger_writable_area_tail_at_end(void **state)
{
    struct viommu *v = new_device(NULL);
    struct virtio_iommu_req_detach d = {
        .head.type = VIRTIO_IOMMU_T_DETACH,
        .domain = htole32(5),
        .endpoint = htole32(EP1),
    };
    uint8_t out[32];

    memset(out, 0xa5, sizeof(out));
    assert_int_equal(
        vdrv_send(VDRV_LOCAL(v), &d, sizeof(d) - 4, out, sizeof(out)),
        sizeof(out));
    for (size_t i = 0; i < 28; i++) {
        assert_int_equal(out[i], 0);
    }
    assert_int_equal(out[28], VIRTIO_IOMMU_S_INVAL); /* not attached */
    assert_int_equal(out[29] | out[30] | out[31], 0);
    viommu_free(v);
}

static void test_oversized_writable_area_dropped(void **state)
{
    struct viommu *v = new_device(NULL);
    struct virtio_iommu_req_attach a = {
        .head.type = VIRTIO_IOMMU_T_ATTACH,
        .domain = htole32(1),
        .endpoint = htole32(EP1),
    };
    size_t big = VIOMMU_MAX_WRITABLE + 1;
    uint8_t *out = malloc(big);

    assert_non_null(out);
    assert_int_equal(vdrv_send(VDRV_LOCAL(v), &a, sizeof(a) - 4, out, big), 0);
    assert_int_equal(endpoint_domain(v, EP1), -1);
    free(out);
    viommu_free(v);
}

static void test_scattered_iovecs(void **state)
{
    struct viommu *v = new_device(NULL);
    struct virtio_iommu_req_map m = {
        .head.type = VIRTIO_IOMMU_T_MAP,
        .domain = htole32(1),
        .virt_start = htole64(0x10000),
        .virt_end = htole64(0x10fff),
        .phys_start = htole64(0x20000),
        .flags = htole32(RW),
    };
    struct iovec in[36], out[4];
    uint8_t *bytes = (uint8_t *)&m;
    uint32_t used;

    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP1, 0), VIRTIO_IOMMU_S_OK);
    for (int i = 0; i < 36; i++) {
        in[i] = (struct iovec){bytes + i, 1};
    }
    for (int i = 0; i < 4; i++) {
        out[i] = (struct iovec){bytes + 36 + i, 1};
    }
    m.tail.status = 0xee;
    assert_int_equal(viommu_handle_request(v, in, 36, out, 4, &used), 0);
    assert_int_equal(used, 4);
    assert_int_equal(m.tail.status, VIRTIO_IOMMU_S_OK);
    assert_int_equal(domain_mappings(v, 1), 1);
    viommu_free(v);
}

static void test_api_misuse(void **state)
{
    struct viommu *v = new_device(NULL);
    uint32_t used;

    assert_int_equal(viommu_handle_request(v, NULL, 1, NULL, 0, &used),
                     -EINVAL);
    assert_int_equal(viommu_handle_request(v, NULL, 0, NULL, 1, &used),
                     -EINVAL);
    assert_int_equal(viommu_handle_request(v, NULL, 0, NULL, 0, NULL), -EINVAL);
    assert_int_equal(viommu_handle_request(v, NULL, 0, NULL, 0, &used), 0);
    assert_int_equal(used, 0);
    viommu_free(v);
}

static void test_unattached_endpoint_cannot_reach_memory_R11(void **state)
{
    struct viommu *v = new_device(NULL);
    struct viommu_translation t = {.size = sizeof(t)};
    struct virtio_iommu_fault f;

    assert_int_equal(viommu_translate(v, EP1, 0x1000, VIOMMU_ACCESS_READ, &t),
                     -EFAULT);
    assert_int_equal(pop_fault(v, &f), 0);
    assert_int_equal(f.reason, VIRTIO_IOMMU_FAULT_R_DOMAIN);

    /* With bypass = 1 (BYPASS_CONFIG negotiated) it may. */
    uint8_t one = 1;
    assert_int_equal(
        viommu_config_write(v, offsetof(struct virtio_iommu_config, bypass),
                            &one, 1),
        0);
    assert_int_equal(viommu_translate(v, EP1, 0x1000, VIOMMU_ACCESS_READ, &t),
                     0);
    assert_int_equal(t.gpa, 0x1000);
    assert_true(t.flags & VIOMMU_XLATE_BYPASS);

    /* A driver without BYPASS_CONFIG gets no bypass, whatever the field. */
    assert_int_equal(viommu_set_driver_features(
                         v, viommu_device_features(v) &
                                ~(1ull << VIRTIO_IOMMU_F_BYPASS_CONFIG)),
                     0);
    assert_int_equal(viommu_translate(v, EP1, 0x1000, VIOMMU_ACCESS_READ, &t),
                     -EFAULT);
    viommu_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_on_success_R8),
        cmocka_unit_test(test_unknown_type_writes_nothing_R9),
        cmocka_unit_test(test_head_reserved_ignored_tail_reserved_zeroed_R10),
        cmocka_unit_test(test_too_short_for_head_or_tail),
        cmocka_unit_test(test_short_body_is_inval),
        cmocka_unit_test(test_extra_readable_bytes_ignored),
        cmocka_unit_test(test_larger_writable_area_tail_at_end),
        cmocka_unit_test(test_oversized_writable_area_dropped),
        cmocka_unit_test(test_scattered_iovecs),
        cmocka_unit_test(test_api_misuse),
        cmocka_unit_test(test_unattached_endpoint_cannot_reach_memory_R11),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
