/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/hostsys against a fake sysfs tree in a temporary directory, laid out
 * as Linux lays it out (devices reached through symbolic links, a group's
 * devices and a device's driver and group as links too): PCI addresses,
 * a device's group and driver, a group's members, the one viability rule,
 * and the one reserved_regions parser, every type kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hostsys/pci.h"
#include "hostsys/sysfs.h"

#define DEV "0000:00:03.0"   /* group 3, vfio-pci */
#define PEER "0000:00:03.1"  /* group 3, e1000e */
#define PORT "0000:00:01.0"  /* group 3, pcieport */
#define LONE "0000:00:04.0"  /* no driver, no group */
#define PLAT "80860000.uart" /* group 3, a platform device */

static char root[64];

static void put(const char *rel, const char *text)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void dir(const char *fmt, ...)
{
    char rel[256], path[PATH_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(rel, sizeof(rel), fmt, ap);
    va_end(ap);
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    assert_int_equal(mkdir(path, 0755), 0);
}

/* ROOT/link -> ROOT/target, an absolute link as a test may make it. */
static void link_to(const char *link, const char *target)
{
    char from[PATH_MAX], to[PATH_MAX];

    snprintf(from, sizeof(from), "%s/%s", root, link);
    snprintf(to, sizeof(to), "%s/%s", root, target);
    assert_int_equal(symlink(to, from), 0);
}

/* A device at ROOT/devices/NAME, reached from its bus (PCI: bus_dir) and
 * from its group's devices. */
static void device(const char *name, const char *bus_dir, int group,
                   const char *driver)
{
    char rel[256], target[256];

    dir("devices/%s", name);
    snprintf(target, sizeof(target), "devices/%s", name);
    if (bus_dir != NULL) {
        snprintf(rel, sizeof(rel), "%s/%s", bus_dir, name);
        link_to(rel, target);
    }
    if (group >= 0) {
        snprintf(rel, sizeof(rel), "devices/%s/iommu_group", name);
        snprintf(target, sizeof(target), "kernel/iommu_groups/%d", group);
        link_to(rel, target);
        snprintf(rel, sizeof(rel), "kernel/iommu_groups/%d/devices/%s", group,
                 name);
        snprintf(target, sizeof(target), "devices/%s", name);
        link_to(rel, target);
    }
    if (driver != NULL) {
        snprintf(rel, sizeof(rel), "devices/%s/driver", name);
        snprintf(target, sizeof(target), "bus/pci/drivers/%s", driver);
        link_to(rel, target);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/hostsys.XXXXXX");
    assert_non_null(mkdtemp(root));
    dir("bus");
    dir("bus/pci");
    dir("bus/pci/devices");
    dir("bus/pci/drivers");
    dir("bus/platform");
    dir("bus/platform/devices");
    dir("devices");
    dir("kernel");
    dir("kernel/iommu_groups");
    dir("kernel/iommu_groups/3");
    dir("kernel/iommu_groups/3/devices");
    device(DEV, "bus/pci/devices", 3, "vfio-pci");
    device(PEER, "bus/pci/devices", 3, "e1000e");
    device(PORT, "bus/pci/devices", 3, "pcieport");
    device(LONE, "bus/pci/devices", -1, NULL);
    device(PLAT, "bus/platform/devices", 3, "serial8250");
    dir("devices/%s/vfio-dev", DEV);
    dir("devices/%s/vfio-dev/vfio7", DEV);
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    return 0;
}

static void test_pci_addresses(void **state)
{
    static const struct {
        const char *in, *name;
    } good[] = {
        {"0000:01:00.0", "0000:01:00.0"}, {"01:00.0", "0000:01:00.0"},
        {"1:2:3.4", "0001:02:03.4"},      {"ffff:FF:1f.7", "ffff:ff:1f.7"},
        {"a:0.0", "0000:0a:00.0"},
    };
    static const char *const bad[] = {
        "",           "0000:-1:00.0",  "00:20.0",       "00:00.8",
        "0:0:0.0 ",   "+0:00.0",       "0000:00:00",    "10000:00:00.0",
        "../../00.0", "0000:00:00.0/", "00:1f.7x",      "0x00:00.0",
        "123:45.6",   " 00:00.0",      "0000:100:00.0", "00:00.00",
    };
    char name[HOSTSYS_PCI_NAME_LEN];
    struct hostsys_pci_addr a;
    const char *end;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_true(hostsys_pci_canonical(good[i].in, name));
        assert_string_equal(name, good[i].name);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(hostsys_pci_canonical(bad[i], name));
    }
    /* A range, as viommu-viot takes it: the parse stops at the '-'. */
    const char *range = "0000:01:00.0-01:00.7";
    assert_true(hostsys_pci_parse(range, &end, &a));
    assert_int_equal(end - range, 12);
    assert_true(hostsys_pci_parse(end + 1, &end, &a));
    assert_int_equal(*end, '\0');
    assert_int_equal(a.segment, 0);
    assert_int_equal(a.bdf, 0x0107);
    hostsys_pci_name((struct hostsys_pci_addr){0x10, 0xff0f}, name);
    assert_string_equal(name, "0010:ff:01.7");
}

static void test_device_group_and_driver(void **state)
{
    char name[32];
    uint32_t g = 0;

    (void)state;
    assert_int_equal(hostsys_device_group(root, DEV, &g), 0);
    assert_int_equal(g, 3);
    assert_int_equal(hostsys_device_group(root, LONE, &g), -ENOENT);
    assert_int_equal(hostsys_device_group(root, "0000:00:09.0", &g), -ENODEV);
    assert_int_equal(hostsys_device_driver(root, DEV, name, sizeof(name)), 0);
    assert_string_equal(name, "vfio-pci");
    assert_int_equal(hostsys_device_driver(root, LONE, name, sizeof(name)),
                     -ENOENT);
    assert_string_equal(name, "");
    /* A name that does not fit is no name. */
    assert_int_equal(hostsys_device_driver(root, DEV, name, 8), -ENAMETOOLONG);
    assert_string_equal(name, "");
    assert_int_equal(hostsys_device_vfio_cdev(root, DEV, name, sizeof(name)),
                     0);
    assert_string_equal(name, "vfio7");
    assert_int_equal(hostsys_device_vfio_cdev(root, PEER, name, sizeof(name)),
                     -ENOENT);
    /* A group link that names no number. */
    link_to("devices/" LONE "/iommu_group", "kernel/iommu_groups");
    assert_int_equal(hostsys_device_group(root, LONE, &g), -ENOENT);
}

static void test_members_sorted_of_any_bus(void **state)
{
    static const char *const want[] = {PORT, DEV, PEER, PLAT};
    struct hostsys_member *m;
    char name[32];
    size_t n;

    (void)state;
    assert_int_equal(hostsys_group_members(root, 3, &m, &n), 0);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(m[i].name, want[i]);
    }
    free(m);
    assert_int_equal(hostsys_member_driver(root, 3, PLAT, name, sizeof(name)),
                     0);
    assert_string_equal(name, "serial8250");
    assert_int_equal(hostsys_group_members(root, 4, &m, &n), -ENOENT);
    assert_null(m);
    assert_int_equal(n, 0);
}

/* A group is viable when no member's driver does DMA of its own. */
static void test_viability_rule(void **state)
{
    static const struct {
        const char *driver;
        bool viable;
    } rule[] = {
        {"", true},           {"vfio-pci", true}, {"pci-stub", true},
        {"pcieport", true},   {"e1000e", false},  {"shpchp", false},
        {"lpc_ich", false},   {"vfio", false},    {"serial8250", false},
        {"vfio-pci2", false},
    };
    const char *in_the_way[4];
    struct hostsys_member *m;
    size_t n, k = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(rule) / sizeof(rule[0]); i++) {
        assert_int_equal(hostsys_driver_viable(rule[i].driver), rule[i].viable);
    }
    /* Group 3: the NIC and the UART are in the way, the port is not. */
    assert_int_equal(hostsys_group_members(root, 3, &m, &n), 0);
    for (size_t i = 0; i < n; i++) {
        char driver[32];
        int err =
            hostsys_member_driver(root, 3, m[i].name, driver, sizeof(driver));
        assert_true(err == 0 || err == -ENOENT);
        if (!hostsys_driver_viable(driver)) {
            in_the_way[k++] = m[i].name;
        }
    }
    assert_int_equal(k, 2);
    assert_string_equal(in_the_way[0], PEER);
    assert_string_equal(in_the_way[1], PLAT);
    free(m);
}

/* Every type is kept, msi included, in the kernel's order; a type the
 * kernel may add later is kept out as a reserved one. */
static void test_reserved_types_kept(void **state)
{
    struct hostsys_resv r[8];
    size_t n;

    (void)state;
    put("kernel/iommu_groups/3/reserved_regions",
        "0x00000000000a0000 0x00000000000bffff direct-relaxable\n"
        "0x00000000c0000000 0x00000000c00fffff direct\n"
        "0x00000000fee00000 0x00000000feefffff msi\n"
        "0x000000fd00000000 0x000000ffffffffff reserved\n"
        "0x0000010000000000 0x0000010000000fff future");
    assert_int_equal(hostsys_group_reserved(root, 3, r, 8, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(r[0].type, HOSTSYS_RESV_DIRECT_RELAXABLE);
    assert_int_equal(r[1].type, HOSTSYS_RESV_DIRECT);
    assert_int_equal(r[2].type, HOSTSYS_RESV_MSI);
    assert_true(r[2].start == 0xfee00000 && r[2].end == 0xfeefffff);
    assert_int_equal(r[3].type, HOSTSYS_RESV_RESERVED);
    assert_true(r[3].end == 0xffffffffffull);
    assert_int_equal(r[4].type, HOSTSYS_RESV_RESERVED);
    /* More than the caller has room for. */
    assert_int_equal(hostsys_group_reserved(root, 3, r, 4, &n), -E2BIG);
    /* None. */
    put("kernel/iommu_groups/3/reserved_regions", "");
    assert_int_equal(hostsys_group_reserved(root, 3, r, 8, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(hostsys_group_reserved(root, 4, r, 8, &n), -ENOENT);
}

static void test_reserved_refusals(void **state)
{
    static const char *const malformed[] = {
        "garbage\n",
        "0x1000 0xfff reserved\n", /* inverted */
        "0x1000 0x1fff\n",         /* no type */
        "0x1000 0x1fff msi extra\n",
        "0x1000 0x1fff msi\n\n0x2000 0x2fff msi\n",
        "0x1000 0x1fff a-type-far-longer-than-any-kernel-type\n",
    };
    const char *file = "kernel/iommu_groups/3/reserved_regions";
    char path[PATH_MAX];
    struct hostsys_resv r[8];
    size_t n;

    (void)state;
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        put(file, malformed[i]);
        assert_int_equal(hostsys_group_reserved(root, 3, r, 8, &n), -EINVAL);
    }
    /* Larger than the kernel ever writes: refused, not cut short. */
    char *big = malloc(20000);
    assert_non_null(big);
    big[0] = '\0';
    for (int i = 0; i < 450; i++) {
        strcat(big, "0x00000000fee00000 0x00000000feefffff msi\n");
    }
    put(file, big);
    free(big);
    assert_int_equal(hostsys_group_reserved(root, 3, r, 8, &n), -EFBIG);
    /* A FIFO with no writer: refused at once rather than waited on. */
    snprintf(path, sizeof(path), "%s/%s", root, file);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(hostsys_group_reserved(root, 3, r, 8, &n), -EINVAL);
    assert_int_equal(n, 0);
    assert_int_equal(hostsys_open_attr(path, O_RDONLY), -EINVAL);
    assert_int_equal(hostsys_open_attr(path, O_WRONLY), -ENXIO); /* no reader */
    /* So is a directory. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(hostsys_group_reserved(root, 3, r, 8, &n), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pci_addresses),
        cmocka_unit_test_setup_teardown(test_device_group_and_driver, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_members_sorted_of_any_bus, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_viability_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserved_types_kept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reserved_refusals, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
