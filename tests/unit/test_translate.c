/* SPDX-License-Identifier: BSD-3-Clause */
/* Translation and fault reports: R11, R29, R48-R52. */
#include "common.h"

static struct viommu *mapped(void (*tweak)(struct viommu_config *c))
{
    struct viommu *v = new_device(tweak);

    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0x10000, 0x1ffff, 0x80000, RW),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0x20000, 0x20fff, 0x40000,
                              VIRTIO_IOMMU_MAP_F_WRITE),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, 0x30000, 0x30fff, 0xc0000000,
                              RW | VIRTIO_IOMMU_MAP_F_MMIO),
                     VIRTIO_IOMMU_S_OK);
    return v;
}

static void test_translate_hits(void **state)
{
    struct viommu *v = mapped(NULL);
    struct viommu_translation t = {.size = sizeof(t)};

    assert_int_equal(viommu_translate(v, EP1, 0x10000, VIOMMU_ACCESS_READ, &t),
                     0);
    assert_int_equal(t.gpa, 0x80000);
    assert_int_equal(t.iova_last, 0x1ffff);
    assert_int_equal(t.flags, VIOMMU_XLATE_READ | VIOMMU_XLATE_WRITE);
    assert_int_equal(viommu_translate(v, EP1, 0x1ffff,
                                      VIOMMU_ACCESS_READ | VIOMMU_ACCESS_WRITE,
                                      &t),
                     0);
    assert_int_equal(t.gpa, 0x8ffff);
    assert_int_equal(viommu_translate(v, EP1, 0x30010, VIOMMU_ACCESS_WRITE, &t),
                     0);
    assert_true(t.flags & VIOMMU_XLATE_MMIO);
    assert_int_equal(t.gpa, 0xc0000010);
    viommu_free(v);
}

static void test_permissions_R29(void **state)
{
    struct viommu *v = mapped(NULL);
    struct viommu_translation t = {.size = sizeof(t)};
    struct virtio_iommu_fault f;

    /* Write-only: writes pass, reads fault. */
    assert_int_equal(viommu_translate(v, EP1, 0x20000, VIOMMU_ACCESS_WRITE, &t),
                     0);
    assert_int_equal(viommu_translate(v, EP1, 0x20000, VIOMMU_ACCESS_READ, &t),
                     -EFAULT);
    assert_int_equal(pop_fault(v, &f), 0);
    assert_int_equal(f.reason, VIRTIO_IOMMU_FAULT_R_MAPPING);
    assert_int_equal(le32toh(f.flags),
                     VIRTIO_IOMMU_FAULT_F_READ | VIRTIO_IOMMU_FAULT_F_ADDRESS);
    viommu_free(v);
}

static void test_fault_format_R48_R49_R50_R51(void **state)
{
    struct viommu *v = mapped(NULL);
    struct viommu_translation t = {.size = sizeof(t)};
    uint8_t raw[sizeof(struct virtio_iommu_fault)];
    struct virtio_iommu_fault f;
    struct iovec iov = {raw, sizeof(raw)};
    uint32_t used;

    assert_int_equal(viommu_fault_size(), sizeof(f));
    assert_int_equal(viommu_translate(v, EP1, 0x50004, VIOMMU_ACCESS_WRITE, &t),
                     -EFAULT);
    memset(raw, 0xa5, sizeof(raw));
    assert_int_equal(viommu_event_pop(v, &iov, 1, &used), 0);
    assert_int_equal(used, sizeof(raw));
    memcpy(&f, raw, sizeof(f));
    assert_int_equal(f.reason, VIRTIO_IOMMU_FAULT_R_MAPPING);
    /* R48 */
    assert_int_equal(f.reserved[0] | f.reserved[1] | f.reserved[2], 0);
    assert_int_equal(
        f.reserved2[0] | f.reserved2[1] | f.reserved2[2] | f.reserved2[3], 0);
    /* R49: only defined flags; R51: the address is given and flagged. */
    assert_int_equal(le32toh(f.flags),
                     VIRTIO_IOMMU_FAULT_F_WRITE | VIRTIO_IOMMU_FAULT_F_ADDRESS);
    assert_int_equal(le64toh(f.address), 0x50004);
    /* R50 */
    assert_int_equal(le32toh(f.endpoint), EP1);
    viommu_free(v);
}

static void test_unknown_endpoint_reports_nothing_R50(void **state)
{
    struct viommu *v = mapped(NULL);
    struct viommu_translation t = {.size = sizeof(t)};
    struct virtio_iommu_fault f;

    assert_int_equal(viommu_translate(v, 999, 0x10000, VIOMMU_ACCESS_READ, &t),
                     -ENOENT);
    assert_int_equal(pop_fault(v, &f), -EAGAIN);
    viommu_free(v);
}

static void test_removed_endpoint_leaves_no_report_R50(void **state)
{
    struct viommu *v = mapped(NULL);
    struct viommu_translation t = {.size = sizeof(t)};
    struct virtio_iommu_fault f;

    assert_int_equal(viommu_translate(v, EP2, 0x1000, VIOMMU_ACCESS_READ, &t),
                     -EFAULT);
    assert_int_equal(viommu_translate(v, EP1, 0x90000, VIOMMU_ACCESS_READ, &t),
                     -EFAULT);
    assert_int_equal(viommu_translate(v, EP2, 0x2000, VIOMMU_ACCESS_READ, &t),
                     -EFAULT);
    assert_int_equal(viommu_endpoint_remove(v, EP2), 0);
    /* Only the report of the endpoint that still exists is delivered. */
    assert_int_equal(pop_fault(v, &f), 0);
    assert_int_equal(le32toh(f.endpoint), EP1);
    assert_int_equal(pop_fault(v, &f), -EAGAIN);
    viommu_free(v);
}

static void test_report_never_split_R52(void **state)
{
    struct viommu *v = mapped(NULL);
    struct viommu_translation t = {.size = sizeof(t)};
    uint8_t a[12], b[12], whole[24];
    struct iovec small = {a, 20};
    struct iovec two[2] = {{a, 12}, {b, 12}};
    struct iovec one = {whole, sizeof(whole)};
    uint32_t used = 99;

    assert_int_equal(viommu_translate(v, EP1, 0x90000, VIOMMU_ACCESS_READ, &t),
                     -EFAULT);
    small.iov_len = 12;
    assert_int_equal(viommu_event_pop(v, &small, 1, &used), -EMSGSIZE);
    assert_int_equal(used, 0);
    struct viommu_stats st = {.size = sizeof(st)};
    assert_int_equal(viommu_get_stats(v, &st), 0);
    assert_int_equal(st.pending_faults, 1); /* kept for the next buffer */
    /* One buffer made of two descriptors holds the report whole. */
    assert_int_equal(viommu_event_pop(v, two, 2, &used), 0);
    assert_int_equal(used, 24);
    memcpy(whole, a, 12);
    memcpy(whole + 12, b, 12);
    struct virtio_iommu_fault f;
    memcpy(&f, whole, sizeof(f));
    assert_int_equal(le64toh(f.address), 0x90000);
    assert_int_equal(viommu_event_pop(v, &one, 1, &used), -EAGAIN);
    viommu_free(v);
}

static void two_faults(struct viommu_config *c)
{
    c->max_pending_faults = 2;
}

static void test_fault_queue_bounded(void **state)
{
    struct viommu *v = mapped(two_faults);
    struct viommu_translation t = {.size = sizeof(t)};
    struct virtio_iommu_fault f;
    struct viommu_stats st = {.size = sizeof(st)};

    for (uint64_t i = 0; i < 5; i++) {
        assert_int_equal(
            viommu_translate(v, EP1, 0x90000 + i * G, VIOMMU_ACCESS_READ, &t),
            -EFAULT);
    }
    assert_int_equal(viommu_get_stats(v, &st), 0);
    assert_int_equal(st.pending_faults, 2);
    assert_int_equal(st.dropped_faults, 3);
    /* The oldest reports are kept, in order. */
    assert_int_equal(pop_fault(v, &f), 0);
    assert_int_equal(le64toh(f.address), 0x90000);
    assert_int_equal(pop_fault(v, &f), 0);
    assert_int_equal(le64toh(f.address), 0x91000);
    assert_int_equal(pop_fault(v, &f), -EAGAIN);
    /* A device reset drops pending reports. */
    assert_int_equal(viommu_translate(v, EP1, 0x90000, VIOMMU_ACCESS_READ, &t),
                     -EFAULT);
    assert_int_equal(viommu_reset(v, VIOMMU_RESET_DEVICE), 0);
    assert_int_equal(pop_fault(v, &f), -EAGAIN);
    viommu_free(v);
}

static void test_domain_fault_when_unattached_R11(void **state)
{
    struct viommu *v = mapped(NULL);
    struct viommu_translation t = {.size = sizeof(t)};
    struct virtio_iommu_fault f;

    assert_int_equal(viommu_translate(v, EP2, 0x10000, VIOMMU_ACCESS_READ, &t),
                     -EFAULT);
    assert_int_equal(pop_fault(v, &f), 0);
    assert_int_equal(f.reason, VIRTIO_IOMMU_FAULT_R_DOMAIN);
    assert_int_equal(le32toh(f.endpoint), EP2);
    viommu_free(v);
}

static void test_bypass_domain_is_identity(void **state)
{
    struct viommu *v = new_device(NULL);
    struct viommu_translation t = {.size = sizeof(t)};

    assert_int_equal(
        vdrv_attach(VDRV_LOCAL(v), 3, EP2, VIRTIO_IOMMU_ATTACH_F_BYPASS),
        VIRTIO_IOMMU_S_OK);
    assert_int_equal(
        viommu_translate(v, EP2, 0x123456789, VIOMMU_ACCESS_WRITE, &t), 0);
    assert_int_equal(t.gpa, 0x123456789);
    assert_int_equal(t.iova_last, UINT64_MAX);
    assert_true(t.flags & VIOMMU_XLATE_BYPASS);
    /* Below the MSI window, identity stops where the window starts. */
    assert_int_equal(viommu_translate(v, EP2, 0x1000, VIOMMU_ACCESS_READ, &t),
                     0);
    assert_int_equal(t.iova_last, VIOMMU_MSI_X86_START - 1);
    viommu_free(v);
}

static void test_translate_api_misuse(void **state)
{
    struct viommu *v = mapped(NULL);
    struct viommu_translation t = {.size = sizeof(t)};
    uint32_t used;

    assert_int_equal(viommu_translate(v, EP1, 0, 0, &t), -EINVAL);
    assert_int_equal(viommu_translate(v, EP1, 0, 4, &t), -EINVAL);
    assert_int_equal(viommu_translate(v, EP1, 0, VIOMMU_ACCESS_READ, NULL),
                     -EINVAL);
    assert_int_equal(viommu_event_pop(v, NULL, 1, &used), -EINVAL);
    viommu_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_translate_hits),
        cmocka_unit_test(test_permissions_R29),
        cmocka_unit_test(test_fault_format_R48_R49_R50_R51),
        cmocka_unit_test(test_unknown_endpoint_reports_nothing_R50),
        cmocka_unit_test(test_removed_endpoint_leaves_no_report_R50),
        cmocka_unit_test(test_report_never_split_R52),
        cmocka_unit_test(test_fault_queue_bounded),
        cmocka_unit_test(test_domain_fault_when_unattached_R11),
        cmocka_unit_test(test_bypass_domain_is_identity),
        cmocka_unit_test(test_translate_api_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
