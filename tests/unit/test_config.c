/* SPDX-License-Identifier: BSD-3-Clause */
/* Features, config space, bypass and reset: R1-R7. */
#include "common.h"

#define BIT(f) (1ull << (f))

static struct virtio_iommu_config read_config(struct viommu *v)
{
    struct virtio_iommu_config c;

    assert_int_equal(viommu_config_size(), sizeof(c));
    assert_int_equal(viommu_config_read(v, 0, &c, sizeof(c)), 0);
    return c;
}

static uint8_t read_bypass(struct viommu *v)
{
    uint8_t b = 0xaa;

    assert_int_equal(
        viommu_config_read(v, offsetof(struct virtio_iommu_config, bypass), &b,
                           1),
        0);
    return b;
}

static int write_bypass(struct viommu *v, uint8_t value)
{
    return viommu_config_write(v, offsetof(struct virtio_iommu_config, bypass),
                               &value, 1);
}

/* A read of endpoint EP1, which is in no domain, as a DMA the VMM emulates:
 * 0 when it passes untranslated, else the error of viommu_translate. */
static int unattached_read(struct viommu *v)
{
    struct viommu_translation t = {.size = sizeof(t)};
    int ret = viommu_translate(v, EP1, 0x5008, VIOMMU_ACCESS_READ, &t);

    if (ret == 0) {
        assert_int_equal(t.gpa, 0x5008);
        assert_true(t.flags & VIOMMU_XLATE_BYPASS);
    }
    return ret;
}

static void test_features_R1_R2_R3(void **state)
{
    struct viommu *v = new_device(NULL);
    uint64_t f = viommu_device_features(v);

    assert_true(f & BIT(VIRTIO_IOMMU_F_MAP_UNMAP));     /* R1 */
    assert_false(f & BIT(VIRTIO_IOMMU_F_BYPASS));       /* R2 */
    assert_true(f & BIT(VIRTIO_IOMMU_F_BYPASS_CONFIG)); /* R3: only this */
    assert_true(f & VIOMMU_F_VERSION_1);
    assert_true(f & BIT(VIRTIO_IOMMU_F_INPUT_RANGE));
    assert_true(f & BIT(VIRTIO_IOMMU_F_DOMAIN_RANGE));
    assert_true(f & BIT(VIRTIO_IOMMU_F_PROBE));
    assert_true(f & BIT(VIRTIO_IOMMU_F_MMIO));
    viommu_free(v);
}

static void no_probe(struct viommu_config *c)
{
    c->no_probe = true;
}

static void test_no_probe_feature_and_zero_probe_size(void **state)
{
    struct viommu *v = new_device(no_probe);

    assert_false(viommu_device_features(v) & BIT(VIRTIO_IOMMU_F_PROBE));
    assert_int_equal(le32toh(read_config(v).probe_size), 0);
    viommu_free(v);
}

static void test_negotiation(void **state)
{
    struct viommu *v = new_device(NULL);
    uint64_t f = viommu_device_features(v);

    assert_int_equal(viommu_set_driver_features(v, f | BIT(3)), -EINVAL);
    assert_int_equal(viommu_set_driver_features(v, f & ~VIOMMU_F_VERSION_1),
                     -EINVAL);
    assert_int_equal(viommu_set_driver_features(
                         v, VIOMMU_F_VERSION_1 | BIT(VIRTIO_IOMMU_F_MAP_UNMAP)),
                     0);
    viommu_free(v);
}

/* Found by fuzz_vhost_user (a frontend that changed the features under a
 * bypass domain: the saved state did not restore). */
static void test_features_fixed_while_domains_exist(void **state)
{
    struct viommu *v = new_device(NULL);
    uint64_t f = viommu_device_features(v);
    uint64_t no_bypass = f & ~BIT(VIRTIO_IOMMU_F_BYPASS_CONFIG);

    assert_int_equal(
        vdrv_attach(VDRV_LOCAL(v), 1, EP1, VIRTIO_IOMMU_ATTACH_F_BYPASS),
        VIRTIO_IOMMU_S_OK);
    assert_int_equal(viommu_set_driver_features(v, no_bypass), -EBUSY);
    assert_int_equal(viommu_set_driver_features(v, f), 0); /* the same */
    assert_int_equal(viommu_reset(v, VIOMMU_RESET_DEVICE), 0);
    assert_int_equal(viommu_set_driver_features(v, no_bypass), 0);
    viommu_free(v);
}

static void test_default_config_R4(void **state)
{
    struct viommu *v = new_device(NULL);
    struct virtio_iommu_config c = read_config(v);

    /* R4: a non-empty mask whose lowest bit (4 KiB) is the granule. */
    assert_int_equal(le64toh(c.page_size_mask), ~0xfffull);
    assert_int_equal(le64toh(c.input_range.start), 0);
    assert_int_equal(le64toh(c.input_range.end), UINT64_MAX);
    assert_int_equal(le32toh(c.domain_range.start), 0);
    assert_int_equal(le32toh(c.domain_range.end), UINT32_MAX);
    assert_int_equal(le32toh(c.probe_size), 512);
    assert_int_equal(c.bypass, 0);
    assert_int_equal(c.reserved[0] | c.reserved[1] | c.reserved[2], 0);
    viommu_free(v);
}

static void custom(struct viommu_config *c)
{
    c->page_size_mask = 0x40201000; /* 4K | 2M | 1G */
    c->input_start = 0x10000;
    c->input_end = (1ull << 39) - 1;
    c->domain_start = 1;
    c->domain_end = 1000;
    c->probe_size = 64;
}

static void test_custom_config_R4(void **state)
{
    struct viommu *v = new_device(custom);
    struct virtio_iommu_config c = read_config(v);

    assert_int_equal(le64toh(c.page_size_mask), 0x40201000);
    assert_int_equal(le64toh(c.input_range.start), 0x10000);
    assert_int_equal(le64toh(c.input_range.end), (1ull << 39) - 1);
    assert_int_equal(le32toh(c.domain_range.start), 1);
    assert_int_equal(le32toh(c.domain_range.end), 1000);
    assert_int_equal(le32toh(c.probe_size), 64);
    /* The granule is 4 KiB: a 4 KiB MAP is aligned, a 2 KiB one is not. */
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0x10000, 0x10fff, 0, RW),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0x20000, 0x207ff, 0, RW),
                     VIRTIO_IOMMU_S_RANGE);
    viommu_free(v);
}

static struct viommu *new_raw(struct viommu_config c)
{
    c.size = sizeof(c);
    return viommu_new(&c);
}

static void test_bad_configs_rejected(void **state)
{
    struct viommu_config c = {0};

    errno = 0;
    assert_null(viommu_new(NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(viommu_new(&c)); /* size 0 */
    assert_null(
        new_raw((struct viommu_config){.input_start = 5, .input_end = 4}));
    assert_null(new_raw(
        (struct viommu_config){.input_start = 0x800, .input_end = 0xffff}));
    assert_null(
        new_raw((struct viommu_config){.domain_start = 9, .domain_end = 3}));
    assert_null(new_raw((struct viommu_config){.probe_size = 12}));
    assert_null(new_raw((struct viommu_config){.probe_size = 100}));
    assert_null(new_raw((struct viommu_config){.probe_size = 1 << 20}));
    assert_null(new_raw((struct viommu_config){.msi_start = 2, .msi_end = 1}));
}

static void test_versioned_config_size(void **state)
{
    /* 0.2 is the first version of the struct: nothing smaller exists, and
     * a size that cuts a field in two is refused. */
    struct viommu_config c = {.size =
                                  offsetof(struct viommu_config, input_start)};
    assert_null(viommu_new(&c));
    assert_int_equal(errno, EINVAL);
    c.size = sizeof(c);
    struct viommu *v = viommu_new(&c);
    assert_non_null(v);
    viommu_free(v);

    /* A newer caller's unknown fields must be zero. */
    struct {
        struct viommu_config c;
        uint64_t future;
    } bigger = {.c.size = sizeof(bigger)};
    v = viommu_new(&bigger.c);
    assert_non_null(v);
    viommu_free(v);
    bigger.future = 1;
    assert_null(viommu_new(&bigger.c));
    assert_int_equal(errno, EINVAL);
}

static void boot_bypass(struct viommu_config *c)
{
    c->boot_bypass = true;
}

static void test_bypass_may_start_at_1_R5(void **state)
{
    struct viommu *v = new_device(boot_bypass);

    assert_int_equal(read_bypass(v), 1);
    assert_true(viommu_bypass(v));
    assert_int_equal(unattached_read(v), 0);
    viommu_free(v);
}

/* A driver's write of `bypass` reads back, in the byte and in the whole
 * config space, and decides what an endpoint in no domain reaches. */
static void test_bypass_write_reads_back_and_applies_R7_R11(void **state)
{
    struct viommu *v = new_device(NULL);
    struct virtio_iommu_config before = read_config(v);

    /* R11 */
    assert_int_equal(unattached_read(v), -EFAULT);
    assert_int_equal(write_bypass(v, 1), 0);
    assert_int_equal(read_bypass(v), 1);
    struct virtio_iommu_config after = read_config(v);
    assert_int_equal(after.bypass, 1);
    after.bypass = 0; /* nothing else changed */
    assert_memory_equal(&before, &after, sizeof(before));
    assert_int_equal(unattached_read(v), 0);

    /* R7: a refused value changes neither the field nor its effect. */
    assert_int_equal(write_bypass(v, 2), -EINVAL);
    assert_int_equal(read_bypass(v), 1);
    assert_int_equal(unattached_read(v), 0);

    /* An attached endpoint follows its domain, whatever bypass says. */
    struct viommu_translation t = {.size = sizeof(t)};
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP2, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(viommu_translate(v, EP2, 0x5008, VIOMMU_ACCESS_READ, &t),
                     -EFAULT);

    assert_int_equal(write_bypass(v, 0), 0);
    assert_int_equal(read_bypass(v), 0);
    assert_int_equal(read_config(v).bypass, 0);
    /* R11 */
    assert_int_equal(unattached_read(v), -EFAULT);
    viommu_free(v);
}

static void test_bypass_over_resets_R6(void **state)
{
    struct viommu *v = new_device(NULL);

    assert_int_equal(write_bypass(v, 1), 0);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 4, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 4, 0, G - 1, 0, RW),
                     VIRTIO_IOMMU_S_OK);

    assert_int_equal(viommu_reset(v, VIOMMU_RESET_DEVICE), 0);
    assert_int_equal(read_bypass(v), 1); /* kept */
    assert_int_equal(unattached_read(v), 0);
    /* Everything the driver built is gone, the endpoints stay declared. */
    struct viommu_stats st = {.size = sizeof(st)};
    assert_int_equal(viommu_get_stats(v, &st), 0);
    assert_int_equal(st.domains, 0);
    assert_int_equal(st.mappings, 0);
    assert_int_equal(st.endpoints, 3);
    assert_int_equal(endpoint_domain(v, EP1), -1);

    assert_int_equal(viommu_reset(v, VIOMMU_RESET_SYSTEM), 0);
    assert_int_equal(read_bypass(v), 0); /* back to its initial value */
    assert_int_equal(unattached_read(v), -EFAULT);

    viommu_free(v);
    v = new_device(boot_bypass);
    assert_int_equal(write_bypass(v, 0), 0);
    assert_int_equal(viommu_reset(v, VIOMMU_RESET_DEVICE), 0);
    assert_int_equal(read_bypass(v), 0);
    assert_int_equal(unattached_read(v), -EFAULT);
    assert_int_equal(viommu_reset(v, VIOMMU_RESET_SYSTEM), 0);
    assert_int_equal(read_bypass(v), 1);
    assert_int_equal(unattached_read(v), 0);
    viommu_free(v);
}

static void test_bypass_reads_only_0_or_1_R7(void **state)
{
    struct viommu *v = new_device(NULL);

    for (unsigned value = 2; value < 256; value++) {
        assert_int_equal(write_bypass(v, (uint8_t)value), -EINVAL);
        assert_int_equal(read_bypass(v), 0);
    }
    assert_int_equal(write_bypass(v, 1), 0);
    assert_int_equal(read_bypass(v), 1);
    assert_int_equal(write_bypass(v, 0xff), -EINVAL);
    assert_int_equal(read_bypass(v), 1);
    viommu_free(v);
}

static void test_bypass_write_needs_feature_R7(void **state)
{
    struct viommu *v = new_device(NULL);

    assert_int_equal(
        viommu_set_driver_features(v, viommu_device_features(v) &
                                          ~BIT(VIRTIO_IOMMU_F_BYPASS_CONFIG)),
        0);
    assert_int_equal(write_bypass(v, 1), -EPERM);
    assert_int_equal(read_bypass(v), 0);
    viommu_free(v);
}

static void test_read_only_fields(void **state)
{
    struct viommu *v = new_device(NULL);
    uint32_t junk = 0xffffffff;
    struct virtio_iommu_config before = read_config(v);

    assert_int_equal(viommu_config_write(v, 0, &junk, 4), -EPERM);
    assert_int_equal(
        viommu_config_write(v, offsetof(struct virtio_iommu_config, probe_size),
                            &junk, 4),
        -EPERM);
    assert_int_equal(viommu_config_write(v, 40, &junk, 4), -EINVAL);
    assert_int_equal(viommu_config_write(v, 38, &junk, 4), -EINVAL);
    struct virtio_iommu_config after = read_config(v);
    assert_memory_equal(&before, &after, sizeof(before));
    viommu_free(v);
}

static void test_config_read_bounds(void **state)
{
    struct viommu *v = new_device(NULL);
    uint8_t buf[64];

    assert_int_equal(viommu_config_read(v, 0, buf, 41), -EINVAL);
    assert_int_equal(viommu_config_read(v, 40, buf, 1), -EINVAL);
    assert_int_equal(viommu_config_read(v, UINT32_MAX, buf, 2), -EINVAL);
    assert_int_equal(viommu_config_read(v, 36, buf, 4), 0);
    assert_int_equal(viommu_config_read(v, 40, buf, 0), 0);
    viommu_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_features_R1_R2_R3),
        cmocka_unit_test(test_no_probe_feature_and_zero_probe_size),
        cmocka_unit_test(test_negotiation),
        cmocka_unit_test(test_features_fixed_while_domains_exist),
        cmocka_unit_test(test_default_config_R4),
        cmocka_unit_test(test_custom_config_R4),
        cmocka_unit_test(test_bad_configs_rejected),
        cmocka_unit_test(test_versioned_config_size),
        cmocka_unit_test(test_bypass_may_start_at_1_R5),
        cmocka_unit_test(test_bypass_write_reads_back_and_applies_R7_R11),
        cmocka_unit_test(test_bypass_over_resets_R6),
        cmocka_unit_test(test_bypass_reads_only_0_or_1_R7),
        cmocka_unit_test(test_bypass_write_needs_feature_R7),
        cmocka_unit_test(test_read_only_fields),
        cmocka_unit_test(test_config_read_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
