/* SPDX-License-Identifier: BSD-3-Clause */
/* Endpoint properties and PROBE: R35-R47. */
#include "common.h"

#define PROBE_SIZE 512
#define RESV_SIZE sizeof(struct virtio_iommu_probe_resv_mem)

/* Sends a PROBE with `props_len` bytes of properties buffer filled with
 * 0xa5 beforehand; returns the used length. */
static uint32_t probe_raw(struct viommu *v, uint32_t ep, uint8_t reserved_fill,
                          uint8_t *out, size_t props_len)
{
    struct virtio_iommu_req_probe req = vdrv_probe_req(ep);

    memset(req.reserved, reserved_fill, sizeof(req.reserved));
    memset(out, 0xa5, props_len + 4);
    return vdrv_send(VDRV_LOCAL(v), &req, sizeof(req), out, props_len + 4);
}

static struct virtio_iommu_probe_resv_mem prop_at(const uint8_t *props,
                                                  size_t i)
{
    struct virtio_iommu_probe_resv_mem p;

    memcpy(&p, props + i * RESV_SIZE, sizeof(p));
    return p;
}

static void test_probe_reserved_ignored_R35(void **state)
{
    struct viommu *v = new_device(NULL);
    uint8_t out[PROBE_SIZE + 4];

    assert_int_equal(probe_raw(v, EP1, 0xff, out, PROBE_SIZE), sizeof(out));
    assert_int_equal(out[PROBE_SIZE], VIRTIO_IOMMU_S_OK);
    viommu_free(v);
}

static void test_probe_unknown_endpoint_R36(void **state)
{
    struct viommu *v = new_device(NULL);
    uint8_t out[PROBE_SIZE + 4];

    assert_int_equal(probe_raw(v, 1234, 0, out, PROBE_SIZE), sizeof(out));
    assert_int_equal(out[PROBE_SIZE], VIRTIO_IOMMU_S_NOENT);
    viommu_free(v);
}

static void no_probe(struct viommu_config *c)
{
    c->no_probe = true;
}

static void test_probe_without_feature_writes_nothing_R37(void **state)
{
    uint8_t out[PROBE_SIZE + 4];
    struct viommu *v = new_device(no_probe);

    assert_int_equal(probe_raw(v, EP1, 0, out, PROBE_SIZE), 0);
    assert_int_equal(out[0], 0xa5);
    assert_int_equal(out[PROBE_SIZE], 0xa5);
    viommu_free(v);

    /* Offered but not accepted by the driver: the same. */
    v = new_device(NULL);
    assert_int_equal(
        viommu_set_driver_features(v, viommu_device_features(v) &
                                          ~(1ull << VIRTIO_IOMMU_F_PROBE)),
        0);
    assert_int_equal(probe_raw(v, EP1, 0, out, PROBE_SIZE), 0);
    assert_int_equal(out[PROBE_SIZE], 0xa5);
    viommu_free(v);
}

static void test_property_layout_R38_R39_R40_R43(void **state)
{
    struct viommu *v = new_device(NULL);
    uint8_t out[PROBE_SIZE + 4];

    add_endpoint_with(v, 10, 0x80000000, 0x8fffffff, VIOMMU_RESV_RESERVED);
    assert_int_equal(probe_raw(v, 10, 0, out, PROBE_SIZE), sizeof(out));
    assert_int_equal(out[PROBE_SIZE], VIRTIO_IOMMU_S_OK);

    for (size_t i = 0; i < 2; i++) {
        struct virtio_iommu_probe_resv_mem p = prop_at(out, i);
        /* R38: the reserved high bits of the type are zero. */
        assert_int_equal(le16toh(p.head.type), VIRTIO_IOMMU_PROBE_T_RESV_MEM);
        /* R39: the length excludes the 4-byte header. */
        assert_int_equal(le16toh(p.head.length), RESV_SIZE - 4);
        /* R43 */
        assert_int_equal(p.reserved[0] | p.reserved[1] | p.reserved[2], 0);
    }
    struct virtio_iommu_probe_resv_mem a = prop_at(out, 0), b;
    assert_int_equal(a.subtype, VIRTIO_IOMMU_RESV_MEM_T_RESERVED);
    assert_int_equal(le64toh(a.start), 0x80000000);
    assert_int_equal(le64toh(a.end), 0x8fffffff);
    /* A driver finds the next property through the length field. */
    memcpy(&b, out + sizeof(a.head) + le16toh(a.head.length), sizeof(b));
    /* R40: the second property starts length + 4 bytes after the first. */
    assert_int_equal(b.subtype, VIRTIO_IOMMU_RESV_MEM_T_MSI);
    assert_int_equal(le64toh(b.start), VIOMMU_MSI_X86_START);
    assert_int_equal(le64toh(b.end), VIOMMU_MSI_X86_END);
    /* Then type NONE ends the list. */
    assert_int_equal(out[2 * RESV_SIZE] | out[2 * RESV_SIZE + 1], 0);
    viommu_free(v);
}

static void test_small_properties_buffer_R41(void **state)
{
    struct viommu *v = new_device(NULL);
    uint8_t out[PROBE_SIZE + 4];

    assert_int_equal(probe_raw(v, EP1, 0, out, PROBE_SIZE - 8),
                     PROBE_SIZE - 8 + 4);
    assert_int_equal(out[PROBE_SIZE - 8], VIRTIO_IOMMU_S_INVAL);
    for (size_t i = 0; i < PROBE_SIZE - 8; i++) {
        assert_int_equal(out[i], 0); /* no property written */
    }
    /* Even with no room at all for properties. */
    assert_int_equal(probe_raw(v, EP1, 0, out, 0), 4);
    assert_int_equal(out[0], VIRTIO_IOMMU_S_INVAL);
    viommu_free(v);
}

static void test_rest_of_buffer_zeroed_R42(void **state)
{
    struct viommu *v = new_device(NULL);
    uint8_t out[PROBE_SIZE + 64 + 4];

    /* A buffer larger than probe_size is zeroed to its end. */
    assert_int_equal(probe_raw(v, EP1, 0, out, PROBE_SIZE + 64), sizeof(out));
    assert_int_equal(out[PROBE_SIZE + 64], VIRTIO_IOMMU_S_OK);
    for (size_t i = RESV_SIZE; i < PROBE_SIZE + 64; i++) {
        assert_int_equal(out[i], 0);
    }
    viommu_free(v);
}

static void test_one_msi_region_R44(void **state)
{
    struct viommu *v = new_device(NULL);
    struct viommu_resv_region two[] = {
        VIOMMU_RESV_REGION(0x1000, 0x1fff, VIOMMU_RESV_MSI),
        VIOMMU_RESV_REGION(0x8000, 0x8fff, VIOMMU_RESV_MSI),
    };
    struct viommu_endpoint_config ep = {
        .size = sizeof(ep), .id = 10, .resv = two, .nr_resv = 2};
    struct viommu_resv_region r[8];
    uint8_t props[PROBE_SIZE];

    assert_int_equal(viommu_endpoint_add(v, &ep), -EINVAL);
    /* An endpoint's own MSI region replaces the device's window. */
    ep.nr_resv = 1;
    assert_int_equal(viommu_endpoint_add(v, &ep), 0);
    assert_int_equal(vdrv_probe(VDRV_LOCAL(v), 10, props, sizeof(props)),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_parse_resv(props, sizeof(props), r, 8), 1);
    assert_int_equal(r[0].type, VIOMMU_RESV_MSI);
    assert_int_equal(r[0].start, 0x1000);
    viommu_free(v);
}

static void no_msi(struct viommu_config *c)
{
    c->no_msi_window = true;
}

static void test_no_msi_window(void **state)
{
    struct viommu *v = new_device(no_msi);
    uint8_t props[PROBE_SIZE];
    struct viommu_resv_region r[8];

    assert_int_equal(vdrv_probe(VDRV_LOCAL(v), EP1, props, sizeof(props)),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_parse_resv(props, sizeof(props), r, 8), 0);
    viommu_free(v);
}

static void test_regions_merged_sorted_disjoint_R45(void **state)
{
    struct viommu *v = new_device(NULL);
    struct viommu_resv_region in[] = {
        VIOMMU_RESV_REGION(0x9000, 0xafff, VIOMMU_RESV_RESERVED),
        VIOMMU_RESV_REGION(0x1000, 0x1fff, VIOMMU_RESV_RESERVED),
        VIOMMU_RESV_REGION(0x2000, 0x2fff,
                           VIOMMU_RESV_RESERVED), /* adjacent: merged */
        VIOMMU_RESV_REGION(0xa000, 0xcfff,
                           VIOMMU_RESV_RESERVED), /* overlapping: merged */
        /* Straddles the MSI window: cut around it. */
        VIOMMU_RESV_REGION(0xfed00000, 0xff0fffff, VIOMMU_RESV_RESERVED),
    };
    struct viommu_endpoint_config ep = {
        .size = sizeof(ep), .id = 10, .resv = in, .nr_resv = 5};
    struct viommu_resv_region want[] = {
        VIOMMU_RESV_REGION(0x1000, 0x2fff, VIOMMU_RESV_RESERVED),
        VIOMMU_RESV_REGION(0x9000, 0xcfff, VIOMMU_RESV_RESERVED),
        VIOMMU_RESV_REGION(0xfed00000, 0xfedfffff, VIOMMU_RESV_RESERVED),
        VIOMMU_RESV_REGION(0xfee00000, 0xfeefffff, VIOMMU_RESV_MSI),
        VIOMMU_RESV_REGION(0xfef00000, 0xff0fffff, VIOMMU_RESV_RESERVED),
    };
    struct viommu_resv_region r[8];
    uint8_t props[PROBE_SIZE];

    assert_int_equal(viommu_endpoint_add(v, &ep), 0);
    assert_int_equal(vdrv_probe(VDRV_LOCAL(v), 10, props, sizeof(props)),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_parse_resv(props, sizeof(props), r, 8), 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(r[i].start, want[i].start);
        assert_int_equal(r[i].end, want[i].end);
        assert_int_equal(r[i].type, want[i].type);
    }
    viommu_free(v);
}

/* Probes endpoint id and compares with want[0..n). */
static void expect_regions(struct viommu *v, uint32_t id,
                           const struct viommu_resv_region *want, int n)
{
    struct viommu_resv_region r[16];
    uint8_t props[PROBE_SIZE];

    assert_int_equal(vdrv_probe(VDRV_LOCAL(v), id, props, sizeof(props)),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_parse_resv(props, sizeof(props), r, 16), n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(r[i].start, want[i].start);
        assert_int_equal(r[i].end, want[i].end);
        assert_int_equal(r[i].type, want[i].type);
    }
}

/* The host's usable ranges (unsorted, overlapping) leave holes that PROBE
 * reports as RESERVED, merged with declared regions (R45). */
static void test_usable_range_holes_are_reserved_R45(void **state)
{
    struct viommu *v = new_device(NULL);
    struct viommu_host_geometry geo = {
        .size = sizeof(geo),
        .nr_usable = 3,
        .usable = {{0x100000, 0xfedfffff},
                   {0x10000, 0x1fffff},
                   {0xfef00000, (1ULL << 48) - 1}},
    };
    struct viommu_resv_region declared =
        VIOMMU_RESV_REGION(0x8000, 0x1ffff, VIOMMU_RESV_RESERVED);
    struct viommu_endpoint_config ep = {.size = sizeof(ep),
                                        .id = 10,
                                        .resv = &declared,
                                        .nr_resv = 1,
                                        .geometry = &geo};
    const struct viommu_resv_region want[] = {
        VIOMMU_RESV_REGION(0, 0x1ffff,
                           VIOMMU_RESV_RESERVED), /* hole + declared, merged */
        VIOMMU_RESV_REGION(0xfee00000, 0xfeefffff, VIOMMU_RESV_MSI),
        VIOMMU_RESV_REGION(1ULL << 48, UINT64_MAX, VIOMMU_RESV_RESERVED),
    };

    assert_int_equal(viommu_endpoint_add(v, &ep), 0);
    expect_regions(v, 10, want, 3);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, 10, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(
        vdrv_map(VDRV_LOCAL(v), 1, 1ULL << 48, (1ULL << 48) + G - 1, 0, RW),
        VIRTIO_IOMMU_S_RANGE);
    viommu_free(v);
}

/* Holes are reported only inside the input range. */
static void test_holes_clipped_to_input_range(void **state)
{
    struct viommu_config cfg = {.size = sizeof(cfg),
                                .input_start = 1ULL << 20,
                                .input_end = (1ULL << 40) - 1};
    struct viommu *v = viommu_new(&cfg);
    struct viommu_host_geometry geo = {
        .size = sizeof(geo), .nr_usable = 1, .usable = {{0, (1ULL << 39) - 1}}};
    struct viommu_endpoint_config ep = {
        .size = sizeof(ep), .id = 10, .geometry = &geo};
    const struct viommu_resv_region want[] = {
        VIOMMU_RESV_REGION(0xfee00000, 0xfeefffff, VIOMMU_RESV_MSI),
        VIOMMU_RESV_REGION(1ULL << 39, (1ULL << 40) - 1, VIOMMU_RESV_RESERVED),
    };

    assert_non_null(v);
    assert_int_equal(viommu_endpoint_add(v, &ep), 0);
    expect_regions(v, 10, want, 2);
    /* Usable space covering the whole input range: no hole at all. */
    geo.usable[0] = (struct viommu_iova_range){0, UINT64_MAX};
    ep.id = 11;
    assert_int_equal(viommu_endpoint_add(v, &ep), 0);
    expect_regions(v, 11, want, 1);
    viommu_free(v);
}

static int no_op(void *ctx, uint32_t ep)
{
    (void)ctx, (void)ep;
    return 0;
}

static int failing_geometry(void *ctx, uint32_t ep,
                            struct viommu_host_geometry *g)
{
    (void)ctx, (void)ep, (void)g;
    return -ENODEV;
}

static void test_host_declaration_errors(void **state)
{
    struct viommu *v = new_device(NULL);
    struct viommu_host_ops partial = {.size = sizeof(partial), .detach = no_op};
    struct viommu_host_geometry geo = {
        .size = sizeof(geo), .nr_usable = 1, .usable = {{0x2000, 0x1000}}};
    struct viommu_endpoint_config ep = {
        .size = sizeof(ep), .id = 10, .host_ops = &partial};
    struct viommu_stats st = {.size = sizeof(st)};

    assert_int_equal(viommu_endpoint_add(v, &ep), -EINVAL);
    ep.host_ops = NULL;
    ep.geometry = &geo; /* inverted usable range */
    assert_int_equal(viommu_endpoint_add(v, &ep), -EINVAL);
    geo.nr_usable = VIOMMU_HOST_MAX_RANGES + 1;
    assert_int_equal(viommu_endpoint_add(v, &ep), -EINVAL);
    geo = (struct viommu_host_geometry){.page_size_mask = 1ULL << 21};
    assert_int_equal(viommu_endpoint_add(v, &ep), -EINVAL);

    /* The host's own error when asked for the geometry. */
    struct viommu_host_ops full = hostsim_ops;
    full.geometry = failing_geometry;
    ep = (struct viommu_endpoint_config){
        .size = sizeof(ep), .id = 10, .host_ops = &full};
    assert_int_equal(viommu_endpoint_add(v, &ep), -ENODEV);
    assert_int_equal(viommu_get_stats(v, &st), 0);
    assert_int_equal(st.endpoints, 3);
    assert_int_equal(st.host_contexts, 0);
    viommu_free(v);
}

static void test_endpoint_declaration_errors(void **state)
{
    struct viommu *v = new_device(NULL);
    struct viommu_resv_region bad =
        VIOMMU_RESV_REGION(0x2000, 0x1fff, VIOMMU_RESV_RESERVED);
    struct viommu_endpoint_config ep = {
        .size = sizeof(ep), .id = 10, .resv = &bad, .nr_resv = 1};

    assert_int_equal(viommu_endpoint_add(v, &ep), -EINVAL);
    bad = (struct viommu_resv_region)VIOMMU_RESV_REGION(
        0, 1, (enum viommu_resv_type)7);
    assert_int_equal(viommu_endpoint_add(v, &ep), -EINVAL);
    ep.resv = NULL;
    assert_int_equal(viommu_endpoint_add(v, &ep), -EINVAL);
    ep.nr_resv = 0;
    ep.id = EP1;
    assert_int_equal(viommu_endpoint_add(v, &ep), -EEXIST);
    ep.size = 0;
    assert_int_equal(viommu_endpoint_add(v, &ep), -EINVAL);

    /* More regions than probe_size can report: refused now, not at PROBE. */
    struct viommu_resv_region many[32];
    for (int i = 0; i < 32; i++) {
        many[i] = (struct viommu_resv_region)VIOMMU_RESV_REGION(
            i * 0x10000ull, i * 0x10000ull + 0xfff, VIOMMU_RESV_RESERVED);
    }
    ep = (struct viommu_endpoint_config){
        .size = sizeof(ep), .id = 11, .resv = many, .nr_resv = 32};
    assert_int_equal(viommu_endpoint_add(v, &ep), -ENOSPC);
    ep.nr_resv = PROBE_SIZE / RESV_SIZE - 1; /* plus the MSI region */
    assert_int_equal(viommu_endpoint_add(v, &ep), 0);
    assert_int_equal(vdrv_probe(VDRV_LOCAL(v), 11, NULL, 0), VIRTIO_IOMMU_S_OK);
    viommu_free(v);
}

static void test_map_over_reserved_region_refused_R46(void **state)
{
    struct viommu *v = new_device(NULL);

    add_endpoint_with(v, 10, 0x100000, 0x1fffff, VIOMMU_RESV_RESERVED);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, 10, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0x1ff000, 0x200fff, 0, RW),
                     VIRTIO_IOMMU_S_RANGE);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0xfee00000, 0xfee00fff, 0, RW),
                     VIRTIO_IOMMU_S_RANGE); /* the MSI region too */
    assert_int_equal(domain_mappings(v, 1), 0);
    /* Once that endpoint left, the range is free for the others. */
    assert_int_equal(vdrv_detach(VDRV_LOCAL(v), 1, 10), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0x1ff000, 0x200fff, 0, RW),
                     VIRTIO_IOMMU_S_OK);
    viommu_free(v);
}

static void test_reserved_access_affects_only_that_endpoint_R47(void **state)
{
    struct viommu *v = new_device(NULL);
    struct viommu_translation t = {.size = sizeof(t)};
    struct virtio_iommu_fault f;

    add_endpoint_with(v, 10, 0x100000, 0x1fffff, VIOMMU_RESV_RESERVED);
    assert_int_equal(
        vdrv_attach(VDRV_LOCAL(v), 1, 10, VIRTIO_IOMMU_ATTACH_F_BYPASS),
        VIRTIO_IOMMU_S_OK);
    assert_int_equal(
        vdrv_attach(VDRV_LOCAL(v), 1, EP1, VIRTIO_IOMMU_ATTACH_F_BYPASS),
        VIRTIO_IOMMU_S_OK);
    /* Even in bypass, the reserved region is not reachable... */
    assert_int_equal(viommu_translate(v, 10, 0x100040, VIOMMU_ACCESS_WRITE, &t),
                     -EFAULT);
    assert_int_equal(pop_fault(v, &f), 0);
    assert_int_equal(le32toh(f.endpoint), 10);
    assert_int_equal(f.reason, VIRTIO_IOMMU_FAULT_R_MAPPING);
    /* ...and the identity window of that endpoint stops before it. */
    assert_int_equal(viommu_translate(v, 10, 0x1000, VIOMMU_ACCESS_READ, &t),
                     0);
    assert_int_equal(t.iova_last, 0xfffff);
    /* Another endpoint of the same domain is not affected. */
    assert_int_equal(
        viommu_translate(v, EP1, 0x100040, VIOMMU_ACCESS_WRITE, &t), 0);
    assert_int_equal(t.gpa, 0x100040);
    assert_int_equal(pop_fault(v, &f), -EAGAIN);
    /* MSI writes pass untranslated, flagged for the VMM. */
    assert_int_equal(
        viommu_translate(v, 10, 0xfee00004, VIOMMU_ACCESS_WRITE, &t), 0);
    assert_true(t.flags & VIOMMU_XLATE_MSI);
    assert_int_equal(t.gpa, 0xfee00004);
    assert_int_equal(t.iova_last, VIOMMU_MSI_X86_END);
    viommu_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_reserved_ignored_R35),
        cmocka_unit_test(test_probe_unknown_endpoint_R36),
        cmocka_unit_test(test_probe_without_feature_writes_nothing_R37),
        cmocka_unit_test(test_property_layout_R38_R39_R40_R43),
        cmocka_unit_test(test_small_properties_buffer_R41),
        cmocka_unit_test(test_rest_of_buffer_zeroed_R42),
        cmocka_unit_test(test_one_msi_region_R44),
        cmocka_unit_test(test_no_msi_window),
        cmocka_unit_test(test_regions_merged_sorted_disjoint_R45),
        cmocka_unit_test(test_usable_range_holes_are_reserved_R45),
        cmocka_unit_test(test_holes_clipped_to_input_range),
        cmocka_unit_test(test_host_declaration_errors),
        cmocka_unit_test(test_endpoint_declaration_errors),
        cmocka_unit_test(test_map_over_reserved_region_refused_R46),
        cmocka_unit_test(test_reserved_access_affects_only_that_endpoint_R47),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
