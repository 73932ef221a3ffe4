/* SPDX-License-Identifier: BSD-3-Clause */
/* MAP (R24-R29, R46) and UNMAP (R30-R34), with the spec's UNMAP examples. */
#include "common.h"

static struct viommu *attached(void (*tweak)(struct viommu_config *c))
{
    struct viommu *v = new_device(tweak);

    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP1, 0), VIRTIO_IOMMU_S_OK);
    return v;
}

static void test_map_misaligned_R24(void **state)
{
    struct viommu *v = attached(NULL);

    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0x800, 0x17ff, 0, RW),
                     VIRTIO_IOMMU_S_RANGE); /* virt_start */
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0x1000, 0x1fff, 0x10, RW),
                     VIRTIO_IOMMU_S_RANGE); /* phys_start */
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0x1000, 0x1ffe, 0, RW),
                     VIRTIO_IOMMU_S_RANGE); /* virt_end + 1 */
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0x1000, 0x1000, 0, RW),
                     VIRTIO_IOMMU_S_RANGE);
    assert_int_equal(domain_mappings(v, 1), 0);
    /* virt_end + 1 wraps to 0 at the top of the space: aligned. */
    assert_int_equal(
        vdrv_map(VDRV_LOCAL(v), 1, UINT64_MAX - G + 1, UINT64_MAX, 0, RW),
        VIRTIO_IOMMU_S_OK);
    viommu_free(v);
}

static void test_map_overlap_R25(void **state)
{
    struct viommu *v = attached(NULL);

    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 4 * G, 8 * G - 1, 0, RW),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 4 * G, 8 * G - 1, 0, RW),
                     VIRTIO_IOMMU_S_INVAL);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0, 5 * G - 1, 0, RW),
                     VIRTIO_IOMMU_S_INVAL);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 7 * G, 9 * G - 1, 0, RW),
                     VIRTIO_IOMMU_S_INVAL);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 5 * G, 6 * G - 1, 0, RW),
                     VIRTIO_IOMMU_S_INVAL);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0, 100 * G - 1, 0, RW),
                     VIRTIO_IOMMU_S_INVAL);
    /* Adjacent on both sides is fine. */
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0, 4 * G - 1, 0, RW),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 8 * G, 9 * G - 1, 0, RW),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(domain_mappings(v, 1), 3);
    viommu_free(v);
}

static void test_map_unknown_flags_R26(void **state)
{
    struct viommu *v = attached(NULL);

    for (int bit = 3; bit < 32; bit++) {
        assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0, G - 1, 0, 1u << bit),
                         VIRTIO_IOMMU_S_INVAL);
    }
    /* MMIO is a known flag only while the MMIO feature is negotiated. */
    assert_int_equal(
        vdrv_map(VDRV_LOCAL(v), 1, 0, G - 1, 0, VIRTIO_IOMMU_MAP_F_MMIO),
        VIRTIO_IOMMU_S_OK);
    viommu_free(v);

    v = new_device(NULL);
    assert_int_equal(
        viommu_set_driver_features(v, viommu_device_features(v) &
                                          ~(1ull << VIRTIO_IOMMU_F_MMIO)),
        0);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(
        vdrv_map(VDRV_LOCAL(v), 1, G, 2 * G - 1, 0, VIRTIO_IOMMU_MAP_F_MMIO),
        VIRTIO_IOMMU_S_INVAL);
    assert_int_equal(domain_mappings(v, 1), 0);
    viommu_free(v);
}

static void test_map_unknown_domain_R27(void **state)
{
    struct viommu *v = attached(NULL);

    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 2, 0, G - 1, 0, RW),
                     VIRTIO_IOMMU_S_NOENT);
    viommu_free(v);
}

static void test_map_bypass_domain_R28(void **state)
{
    struct viommu *v = new_device(NULL);

    assert_int_equal(
        vdrv_attach(VDRV_LOCAL(v), 5, EP1, VIRTIO_IOMMU_ATTACH_F_BYPASS),
        VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 5, 0, G - 1, 0, RW),
                     VIRTIO_IOMMU_S_INVAL);
    assert_int_equal(domain_mappings(v, 5), 0);
    viommu_free(v);
}

static void test_no_write_without_write_flag_R29(void **state)
{
    struct viommu *v = attached(NULL);
    struct viommu_translation t = {.size = sizeof(t)};

    assert_int_equal(
        vdrv_map(VDRV_LOCAL(v), 1, 0, G - 1, 0x7000, VIRTIO_IOMMU_MAP_F_READ),
        VIRTIO_IOMMU_S_OK);
    assert_int_equal(viommu_translate(v, EP1, 8, VIOMMU_ACCESS_READ, &t), 0);
    assert_int_equal(t.flags, VIOMMU_XLATE_READ);
    assert_int_equal(viommu_translate(v, EP1, 8, VIOMMU_ACCESS_WRITE, &t),
                     -EFAULT);
    viommu_free(v);
}

static void limited_input(struct viommu_config *c)
{
    c->input_start = 0x100000;
    c->input_end = (1ull << 39) - 1;
}

static void test_map_outside_input_range(void **state)
{
    struct viommu *v = attached(limited_input);

    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0xff000, 0xfffff, 0, RW),
                     VIRTIO_IOMMU_S_RANGE);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0xff000, 0x100fff, 0, RW),
                     VIRTIO_IOMMU_S_RANGE);
    assert_int_equal(
        vdrv_map(VDRV_LOCAL(v), 1, (1ull << 39) - G, 1ull << 39, 0, RW),
        VIRTIO_IOMMU_S_RANGE);
    assert_int_equal(
        vdrv_map(VDRV_LOCAL(v), 1, (1ull << 39) - G, (1ull << 39) - 1, 0, RW),
        VIRTIO_IOMMU_S_OK);
    viommu_free(v);
}

static void test_map_inverted_or_wrapping(void **state)
{
    struct viommu *v = attached(NULL);

    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 2 * G, G - 1, 0, RW),
                     VIRTIO_IOMMU_S_INVAL);
    /* The physical range would wrap past 2^64. */
    assert_int_equal(
        vdrv_map(VDRV_LOCAL(v), 1, 0, 2 * G - 1, UINT64_MAX - G + 1, RW),
        VIRTIO_IOMMU_S_RANGE);
    assert_int_equal(domain_mappings(v, 1), 0);
    viommu_free(v);
}

static void small_caps(struct viommu_config *c)
{
    c->max_mappings_per_domain = 3;
    c->max_mappings = 4;
}

static void test_mapping_caps_are_nomem(void **state)
{
    struct viommu *v = attached(small_caps);

    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 2, EP2, 0), VIRTIO_IOMMU_S_OK);
    for (uint64_t i = 0; i < 3; i++) {
        assert_int_equal(
            vdrv_map(VDRV_LOCAL(v), 1, i * G, i * G + G - 1, 0, RW),
            VIRTIO_IOMMU_S_OK);
    }
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 3 * G, 4 * G - 1, 0, RW),
                     VIRTIO_IOMMU_S_NOMEM);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 2, 0, G - 1, 0, RW),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 2, G, 2 * G - 1, 0, RW),
                     VIRTIO_IOMMU_S_NOMEM); /* total cap */
    assert_int_equal(domain_mappings(v, 1), 3);
    assert_int_equal(domain_mappings(v, 2), 1);
    /* Freed room can be used again. */
    assert_int_equal(vdrv_unmap(VDRV_LOCAL(v), 1, 0, G - 1), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 2, G, 2 * G - 1, 0, RW),
                     VIRTIO_IOMMU_S_OK);
    viommu_free(v);
}

static uint8_t unmap_reserved(struct viommu *v, uint32_t domain, uint64_t start,
                              uint64_t end)
{
    struct virtio_iommu_req_unmap req = vdrv_unmap_req(domain, start, end);

    return send_with_reserved(v, &req, sizeof(req),
                              offsetof(struct virtio_iommu_req_unmap, reserved),
                              sizeof(req.reserved), 0xff);
}

static void test_unmap_reserved_ignored_R30(void **state)
{
    struct viommu *v = attached(NULL);

    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0, G - 1, 0, RW),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(unmap_reserved(v, 1, 0, G - 1), VIRTIO_IOMMU_S_OK);
    assert_int_equal(domain_mappings(v, 1), 0);
    viommu_free(v);
}

static void test_unmap_unknown_domain_R31(void **state)
{
    struct viommu *v = attached(NULL);

    assert_int_equal(vdrv_unmap(VDRV_LOCAL(v), 9, 0, G - 1),
                     VIRTIO_IOMMU_S_NOENT);
    viommu_free(v);
}

static void test_unmap_bypass_domain_R32(void **state)
{
    struct viommu *v = new_device(NULL);

    assert_int_equal(
        vdrv_attach(VDRV_LOCAL(v), 5, EP1, VIRTIO_IOMMU_ATTACH_F_BYPASS),
        VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_unmap(VDRV_LOCAL(v), 5, 0, G - 1),
                     VIRTIO_IOMMU_S_INVAL);
    viommu_free(v);
}

static void test_unmap_split_is_range_R33(void **state)
{
    struct viommu *v = attached(NULL);

    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0, 10 * G - 1, 0, RW),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 20 * G, 30 * G - 1, 0, RW),
                     VIRTIO_IOMMU_S_OK);
    /* Splits at the end, at the start, in the middle: nothing removed,
     * even the mapping the range fully covers. */
    assert_int_equal(vdrv_unmap(VDRV_LOCAL(v), 1, 0, 25 * G - 1),
                     VIRTIO_IOMMU_S_RANGE);
    assert_int_equal(vdrv_unmap(VDRV_LOCAL(v), 1, 5 * G, 30 * G - 1),
                     VIRTIO_IOMMU_S_RANGE);
    assert_int_equal(vdrv_unmap(VDRV_LOCAL(v), 1, 2 * G, 3 * G - 1),
                     VIRTIO_IOMMU_S_RANGE);
    assert_int_equal(domain_mappings(v, 1), 2);
    viommu_free(v);
}

static void test_unmap_removes_covered_R34(void **state)
{
    struct viommu *v = attached(NULL);

    for (uint64_t i = 0; i < 100; i++) {
        assert_int_equal(
            vdrv_map(VDRV_LOCAL(v), 1, 2 * i * G, 2 * i * G + G - 1, 0, RW),
            VIRTIO_IOMMU_S_OK);
    }
    assert_int_equal(vdrv_unmap(VDRV_LOCAL(v), 1, 20 * G, 80 * G - 1),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(domain_mappings(v, 1), 70);
    assert_int_equal(vdrv_unmap(VDRV_LOCAL(v), 1, 0, UINT64_MAX),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(domain_mappings(v, 1), 0);
    assert_int_equal(vdrv_unmap(VDRV_LOCAL(v), 1, 5 * G, 4 * G),
                     VIRTIO_IOMMU_S_INVAL);
    struct viommu_stats st = {.size = sizeof(st)};
    assert_int_equal(viommu_get_stats(v, &st), 0);
    assert_int_equal(st.mappings, 0);
    viommu_free(v);
}

/* The seven UNMAP examples of the specification, in granule units. */
static void test_spec_unmap_examples_R33_R34(void **state)
{
    struct viommu *v = attached(NULL);
#define MAP(a, b)                                                              \
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, (a)*G, (b)*G - 1, 0, RW), 0)
#define UNMAP(a, b) vdrv_unmap(VDRV_LOCAL(v), 1, (a)*G, (b)*G - 1)

    /* (1) */
    assert_int_equal(UNMAP(0, 4), VIRTIO_IOMMU_S_OK);
    /* (2) */
    MAP(0, 10);
    assert_int_equal(UNMAP(0, 10), VIRTIO_IOMMU_S_OK);
    assert_int_equal(domain_mappings(v, 1), 0);
    /* (3) */
    MAP(0, 5);
    MAP(5, 10);
    assert_int_equal(UNMAP(0, 10), VIRTIO_IOMMU_S_OK);
    assert_int_equal(domain_mappings(v, 1), 0);
    /* (4) */
    MAP(0, 10);
    assert_int_equal(UNMAP(0, 5), VIRTIO_IOMMU_S_RANGE);
    assert_int_equal(domain_mappings(v, 1), 1);
    assert_int_equal(UNMAP(0, 11), VIRTIO_IOMMU_S_OK);
    assert_int_equal(domain_mappings(v, 1), 0);
    /* (5) */
    MAP(0, 5);
    MAP(5, 10);
    assert_int_equal(UNMAP(0, 5), VIRTIO_IOMMU_S_OK);
    assert_int_equal(domain_mappings(v, 1), 1);
    assert_int_equal(UNMAP(5, 10), VIRTIO_IOMMU_S_OK);
    assert_int_equal(domain_mappings(v, 1), 0);
    /* (6) */
    MAP(0, 5);
    assert_int_equal(UNMAP(0, 10), VIRTIO_IOMMU_S_OK);
    assert_int_equal(domain_mappings(v, 1), 0);
    /* (7) */
    MAP(0, 5);
    MAP(10, 15);
    assert_int_equal(UNMAP(0, 15), VIRTIO_IOMMU_S_OK);
    assert_int_equal(domain_mappings(v, 1), 0);
#undef MAP
#undef UNMAP
    viommu_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_misaligned_R24),
        cmocka_unit_test(test_map_overlap_R25),
        cmocka_unit_test(test_map_unknown_flags_R26),
        cmocka_unit_test(test_map_unknown_domain_R27),
        cmocka_unit_test(test_map_bypass_domain_R28),
        cmocka_unit_test(test_no_write_without_write_flag_R29),
        cmocka_unit_test(test_map_outside_input_range),
        cmocka_unit_test(test_map_inverted_or_wrapping),
        cmocka_unit_test(test_mapping_caps_are_nomem),
        cmocka_unit_test(test_unmap_reserved_ignored_R30),
        cmocka_unit_test(test_unmap_unknown_domain_R31),
        cmocka_unit_test(test_unmap_bypass_domain_R32),
        cmocka_unit_test(test_unmap_split_is_range_R33),
        cmocka_unit_test(test_unmap_removes_covered_R34),
        cmocka_unit_test(test_spec_unmap_examples_R33_R34),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
