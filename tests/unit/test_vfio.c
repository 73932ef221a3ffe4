/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/host (vfio.c, ram.c) without a kernel: the RAM layout, guest-physical
 * to host addresses piece by piece over a recording table, and what
 * viommu_vfio_open() refuses before it touches sysfs. The kernel side is
 * the vm suite's (tests/vm).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "host/ram.h"

#define MIB (1ull << 20)
#define HIGH 0x100000000ull

/* A host table that records its calls and can fail the k-th map. */
struct call {
    uint64_t iova, hva, length, last;
    bool map;
};

struct rec {
    struct call call[16];
    int n;
    int fail_map_at; /* 1-based; 0: never */
};

static int rec_map(void *table, uint64_t iova, uint64_t hva, uint64_t length,
                   uint32_t flags)
{
    struct rec *r = table;
    int maps = 0;

    for (int i = 0; i < r->n; i++) {
        maps += r->call[i].map;
    }
    if (maps + 1 == r->fail_map_at) {
        return -ENOMEM;
    }
    r->call[r->n++] = (struct call){iova, hva, length, 0, true};
    return 0;
}

static int rec_unmap(void *table, uint64_t iova, uint64_t last)
{
    struct rec *r = table;

    r->call[r->n++] = (struct call){iova, 0, 0, last, false};
    return 0;
}

static const struct table_ops rec_ops = {rec_map, rec_unmap};

/* 8 MiB at 0 (host 0x7f0000000000) and 8 MiB at 4 GiB (host
 * 0x7f1000000000). */
static struct viommu_vfio *two_regions(void)
{
    struct viommu_vfio *h;
    struct viommu_vfio_config cfg = {.size = sizeof(cfg),
                                     .backend = VIOMMU_VFIO_TYPE1};
    struct viommu_ram_region ram[2] = {
        {.size = sizeof(ram[0]), .gpa = HIGH, .length = 8 * MIB,
         .hva = 0x7f1000000000},
        {.size = sizeof(ram[0]), .gpa = 0, .length = 8 * MIB,
         .hva = 0x7f0000000000},
    };

    assert_int_equal(viommu_vfio_new(&cfg, &h), 0);
    assert_int_equal(viommu_vfio_set_ram(h, ram, 2), 0); /* any order */
    return h;
}

static void test_ram_layout_refusals(void **state)
{
    struct viommu_vfio *h = two_regions();
    struct viommu_ram_region r[2] = {
        {.size = sizeof(r[0]), .gpa = 0, .length = 8 * MIB, .hva = 1 << 20},
        {.size = sizeof(r[0]), .gpa = 4 * MIB, .length = 8 * MIB,
         .hva = 1 << 30},
    };

    (void)state;
    assert_int_equal(viommu_vfio_set_ram(h, r, 2), -EINVAL); /* overlap */
    r[1].gpa = 8 * MIB;
    assert_int_equal(viommu_vfio_set_ram(h, r, 2), 0); /* adjacent */
    r[1].gpa = 8 * MIB + 1;
    assert_int_equal(viommu_vfio_set_ram(h, r, 2), -EINVAL); /* unaligned */
    r[1].gpa = 16 * MIB;
    r[1].length = 0;
    assert_int_equal(viommu_vfio_set_ram(h, r, 2), -EINVAL); /* empty */
    r[1].gpa = UINT64_MAX - 4095;
    r[1].length = 8192;
    assert_int_equal(viommu_vfio_set_ram(h, r, 2), -EINVAL); /* wraps */
    r[1] = r[0];
    r[1].gpa = 16 * MIB;
    r[1].reserved = 1;
    assert_int_equal(viommu_vfio_set_ram(h, r, 2), -EINVAL);
    r[1].reserved = 0;
    r[1].size = 8;
    assert_int_equal(viommu_vfio_set_ram(h, r, 2), -EINVAL); /* sizes */
    assert_int_equal(viommu_vfio_set_ram(h, r, VIOMMU_VFIO_MAX_RAM + 1),
                     -EINVAL);
    assert_int_equal(viommu_vfio_set_ram(h, NULL, 1), -EINVAL);
    assert_int_equal(viommu_vfio_set_ram(h, NULL, 0), 0); /* no RAM */
    assert_int_equal(viommu_vfio_free(h), 0);
}

/* Linux's identity domain: MAPs of the whole input range around the MSI
 * window, far wider than RAM. Each RAM part is one host call at its IOVA
 * and host address; the part without RAM maps nothing. */
static void test_map_wider_than_ram(void **state)
{
    struct viommu_vfio *h = two_regions();
    struct rec r = {0};
    const uint32_t rw = VIOMMU_XLATE_READ | VIOMMU_XLATE_WRITE;

    (void)state;
    assert_int_equal(ram_map(h, &rec_ops, &r, 0, 0xfedfffff, 0, rw), 0);
    assert_int_equal(r.n, 1);
    assert_true(r.call[0].map && r.call[0].iova == 0 &&
                r.call[0].hva == 0x7f0000000000 &&
                r.call[0].length == 8 * MIB);
    assert_int_equal(ram_map(h, &rec_ops, &r, 0xfef00000, (1ull << 39) - 1,
                             0xfef00000, rw),
                     0);
    assert_int_equal(r.n, 2);
    assert_true(r.call[1].iova == HIGH && r.call[1].hva == 0x7f1000000000 &&
                r.call[1].length == 8 * MIB);
    /* Shifted: IOVA 1 GiB -> gpa 4 MiB covers the end of the low region
     * and, 4 GiB - 4 MiB further, the start of the high one. */
    r.n = 0;
    assert_int_equal(ram_map(h, &rec_ops, &r, 1ull << 30,
                             (1ull << 30) + HIGH, 4 * MIB, rw),
                     0);
    assert_int_equal(r.n, 2);
    assert_true(r.call[0].iova == 1ull << 30 &&
                r.call[0].hva == 0x7f0000000000 + 4 * MIB &&
                r.call[0].length == 4 * MIB);
    assert_true(r.call[1].iova == (1ull << 30) + HIGH - 4 * MIB &&
                r.call[1].hva == 0x7f1000000000 &&
                r.call[1].length == 4 * MIB + 1);
    /* No RAM, no access: nothing mapped, no error. */
    r.n = 0;
    assert_int_equal(ram_map(h, &rec_ops, &r, 0, 4095, 9 * MIB, rw), 0);
    assert_int_equal(ram_map(h, &rec_ops, &r, 0, 4095, 0, 0), 0);
    assert_int_equal(r.n, 0);
    /* A guest-physical range that wraps. */
    assert_int_equal(ram_map(h, &rec_ops, &r, 0, 8191, UINT64_MAX - 4095, rw),
                     -ERANGE);
    assert_int_equal(viommu_vfio_free(h), 0);
}

/* A host refusal of the second piece takes the first out again. */
static void test_map_all_or_nothing(void **state)
{
    struct viommu_vfio *h = two_regions();
    struct rec r = {.fail_map_at = 2};

    (void)state;
    assert_int_equal(ram_map(h, &rec_ops, &r, 0, HIGH + MIB, 0,
                             VIOMMU_XLATE_READ),
                     -ENOMEM);
    assert_int_equal(r.n, 2);
    assert_true(r.call[0].map && r.call[0].iova == 0);
    assert_true(!r.call[1].map && r.call[1].iova == 0 &&
                r.call[1].last == HIGH - 1);
    assert_int_equal(viommu_vfio_free(h), 0);
}

/* Refused before any sysfs or /dev access: malformed addresses. */
static void test_open_refuses_malformed_addresses(void **state)
{
    static const char *const bad[] = {
        "",           "0000:-1:00.0", "00:20.0",      "00:00.8",
        "0:0:0.0 ",   "+0:00.0",      "0000:00:00",   "10000:00:00.0",
        "../../00.0", "0000:00:00.0/", "00:1f.7x",    "0x00:00.0",
    };
    struct viommu_vfio *h = two_regions();
    struct viommu_vfio_device *d = (void *)1;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(viommu_vfio_open(h, bad[i], 1, &d), -EINVAL);
        assert_null(d);
    }
    /* Well formed, not there. */
    assert_int_equal(viommu_vfio_open(h, "ff:1f.7", 1, &d), -ENODEV);
    assert_int_equal(viommu_vfio_open(h, NULL, 1, &d), -EINVAL);
    assert_int_equal(viommu_vfio_open(NULL, "00:00.0", 1, &d), -EINVAL);
    assert_int_equal(viommu_vfio_device_fd(NULL), -EINVAL);
    assert_int_equal(viommu_vfio_close(NULL), 0);
    assert_int_equal(viommu_vfio_free(h), 0);
    assert_int_equal(viommu_vfio_free(NULL), 0);
}

static void test_config_refusals(void **state)
{
    struct viommu_vfio *h = (void *)1;
    struct viommu_vfio_config cfg = {.size = sizeof(cfg), .backend = 3};

    (void)state;
    assert_int_equal(viommu_vfio_new(&cfg, &h), -EINVAL);
    assert_null(h);
    cfg.backend = VIOMMU_VFIO_TYPE1;
    cfg.size = 4;
    assert_int_equal(viommu_vfio_new(&cfg, &h), -EINVAL);
    assert_int_equal(viommu_vfio_new(NULL, &h), -EINVAL);
    assert_int_equal(viommu_vfio_new(&cfg, NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ram_layout_refusals),
        cmocka_unit_test(test_map_wider_than_ram),
        cmocka_unit_test(test_map_all_or_nothing),
        cmocka_unit_test(test_open_refuses_malformed_addresses),
        cmocka_unit_test(test_config_refusals),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
