/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Runs inside a QEMU guest (tests/vm/run.py) and plays a VMM: libviommu
 * with a real host backend (VFIO type1 or iommufd), a guest driver sending
 * the request bytes, and QEMU's `edu` as the assigned device, whose DMA
 * engine it programs through BAR0. Every check is a byte pattern of its own
 * that the device's DMA reached, or did not reach, in "guest RAM" (a
 * buffer of this process that the backend knows as two RAM regions).
 *
 *   vm-host type1|iommufd
 *
 * Prints TAP. Expects the edu devices bound to vfio-pci (the guest's init
 * does it), one alone in its group and two sharing one behind a
 * pcie-pci-bridge, and an igb PF for the SR-IOV test.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/vfio.h>
#include <linux/virtio_iommu.h>

#include <viommu/vfio.h>
#include <viommu/viommu.h>

#include "driver.h"
#include "guest.h"
#include "tap.h"

#define PAGE 4096ull
#define RW (VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE)
/* Guest RAM: two regions of 8 MiB, at 0 and at 4 GiB. */
#define RAM_SIZE (8ull << 20)
#define RAM_HIGH 0x100000000ull
/* Every domain the edu uses holds LOADER -> LOADER_GPA: the page through
 * which the test fills the device's buffer and reads it back. */
#define LOADER 0x10000000ull
#define LOADER_GPA 0x200000ull
/* The loader's IOVA in the current domain: LOADER, or LOADER_GPA where the
 * edu's domain maps guest RAM 1:1. */
static uint64_t loader = LOADER;
#define EDU_BUF 0x40000ull /* the device's side of a transfer */

static enum viommu_vfio_backend backend;

static void log_sink(void *opaque, enum viommu_log_level level,
                     enum viommu_log_source source, const char *msg)
{
    printf("# libviommu: %s\n", msg);
}

/* --- guest RAM ------------------------------------------------------- */

static uint8_t *ram;     /* both regions, low then high */
static uint8_t *shadow;  /* what guest RAM must hold */

static uint8_t *gpa_ptr(uint64_t gpa)
{
    return gpa >= RAM_HIGH ? ram + RAM_SIZE + (gpa - RAM_HIGH) : ram + gpa;
}

static void pattern(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(seed * 151 + i * 7 + (i >> 8) + 1);
    }
}

static bool is_pattern(const uint8_t *p, size_t len, unsigned seed)
{
    uint8_t want[PAGE];

    pattern(want, len, seed);
    return memcmp(p, want, len) == 0;
}

/* The test writes guest RAM through here, so the shadow follows. */
static void ram_fill(uint64_t gpa, size_t len, unsigned seed)
{
    pattern(gpa_ptr(gpa), len, seed);
    memcpy(shadow + (gpa_ptr(gpa) - ram), gpa_ptr(gpa), len);
}

/* Guest RAM holds exactly the shadow: no DMA reached anything else. */
static bool ram_as_expected(const char *after)
{
    for (size_t i = 0; i < 2 * RAM_SIZE; i++) {
        if (ram[i] != shadow[i]) {
            uint64_t gpa = i < RAM_SIZE ? i : RAM_HIGH + (i - RAM_SIZE);
            tap_fail("after %s guest RAM differs at gpa %#" PRIx64, after, gpa);
            return false;
        }
    }
    return true;
}

/* --- the VMM: device, driver, backend ----------------------------------- */

static struct viommu *v;
static struct viommu_vfio *host;
#define DRV VDRV_LOCAL(v)

/* Two endpoints the VMM emulates (no host context): they keep a domain
 * alive and populated while the edu is elsewhere, as another device of the
 * guest would. */
#define EMU1 0xff00u
#define EMU2 0xff01u

static void device_new(void)
{
    struct viommu_config cfg = {.size = sizeof(cfg),
                                .log = log_sink,
                                .max_log_level = VIOMMU_LOG_WARN};

    v = viommu_new(&cfg);
    if (v == NULL || vdrv_set_features(DRV, vdrv_features(DRV)) != 0) {
        printf("Bail out! no device\n");
        exit(1);
    }
    for (uint32_t id = EMU1; id <= EMU2; id++) {
        struct viommu_endpoint_config ep = {.size = sizeof(ep), .id = id};
        if (viommu_endpoint_add(v, &ep) != 0) {
            printf("Bail out! no emulated endpoint\n");
            exit(1);
        }
    }
}

static uint8_t attach(uint32_t domain, uint32_t ep)
{
    return vdrv_attach(DRV, domain, ep, 0);
}

static uint8_t map(uint32_t domain, uint64_t iova, uint64_t len, uint64_t gpa)
{
    return vdrv_map(DRV, domain, iova, iova + len - 1, gpa, RW);
}

static uint8_t unmap(uint32_t domain, uint64_t iova, uint64_t len)
{
    return vdrv_unmap(DRV, domain, iova, iova + len - 1);
}

static struct viommu_stats stats(void)
{
    struct viommu_stats st = {.size = sizeof(st)};

    if (viommu_get_stats(v, &st) != 0) {
        tap_fail("viommu_get_stats");
    }
    return st;
}

static void expect_status(uint8_t got, uint8_t want, const char *what)
{
    if (got != want) {
        tap_fail("%s: status %s, expected %s", what, vdrv_status_name(got),
             vdrv_status_name(want));
    }
}

/* --- edu ---------------------------------------------------------------- */

struct edu {
    char bdf[16];
    uint32_t ep;
    struct viommu_vfio_device *dev;
    volatile uint64_t *bar;
    size_t bar_size;
};

static int edu_open(struct edu *e)
{
    struct viommu_endpoint_config ep = {.size = sizeof(ep)};
    int err = viommu_vfio_open(host, e->bdf, e->ep, &e->dev);

    if (err != 0) {
        tap_fail("viommu_vfio_open(%s): %s", e->bdf, strerror(-err));
        return err;
    }
    err = viommu_vfio_endpoint(e->dev, &ep);
    if (err == 0) {
        err = viommu_endpoint_add(v, &ep);
    }
    if (err != 0) {
        tap_fail("endpoint %#x: %s", e->ep, strerror(-err));
        return err;
    }
    int fd = viommu_vfio_device_fd(e->dev);
    struct vfio_region_info bar = {.argsz = sizeof(bar),
                                   .index = VFIO_PCI_BAR0_REGION_INDEX};
    struct vfio_region_info cfg = {.argsz = sizeof(cfg),
                                   .index = VFIO_PCI_CONFIG_REGION_INDEX};
    if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &bar) != 0 ||
        ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &cfg) != 0) {
        tap_fail("%s: region info: %s", e->bdf, strerror(errno));
        return -errno;
    }
    void *p = mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                   (off_t)bar.offset);
    if (p == MAP_FAILED) {
        tap_fail("%s: mmap BAR0: %s", e->bdf, strerror(errno));
        return -errno;
    }
    e->bar = p;
    e->bar_size = bar.size;
    /* Bus mastering on, or the device's DMA goes nowhere at all. */
    uint16_t cmd;
    if (pread(fd, &cmd, 2, (off_t)cfg.offset + 4) != 2) {
        return -EIO;
    }
    cmd |= 1u << 2;
    return pwrite(fd, &cmd, 2, (off_t)cfg.offset + 4) == 2 ? 0 : -EIO;
}

static void edu_close(struct edu *e)
{
    if (e->bar != NULL) {
        munmap((void *)e->bar, e->bar_size);
        e->bar = NULL;
    }
    int err = viommu_vfio_close(e->dev);
    if (err != 0) {
        tap_fail("viommu_vfio_close(%s): %s", e->bdf, strerror(-err));
    }
    e->dev = NULL;
}

/* One transfer of a page: to_ram, the device's buffer to IOVA `iova`;
 * else from IOVA `iova` into the buffer. */
static bool edu_dma(struct edu *e, uint64_t iova, bool to_ram)
{
    e->bar[0x80 / 8] = to_ram ? EDU_BUF : iova;
    e->bar[0x88 / 8] = to_ram ? iova : EDU_BUF;
    e->bar[0x90 / 8] = PAGE;
    e->bar[0x98 / 8] = 1 | (to_ram ? 2 : 0);
    for (int i = 0; i < 5000; i++) {
        if ((e->bar[0x98 / 8] & 1) == 0) {
            return true;
        }
        usleep(1000);
    }
    tap_fail("%s: DMA never completed", e->bdf);
    return false;
}

/* The device's buffer gets pattern `seed`, through the loader page. */
static bool edu_load(struct edu *e, unsigned seed)
{
    ram_fill(LOADER_GPA, PAGE, seed);
    return edu_dma(e, loader, false);
}

/* Whether the device's buffer holds pattern `seed`, read back through the
 * loader page. */
static bool edu_holds(struct edu *e, unsigned seed)
{
    ram_fill(LOADER_GPA, PAGE, 0xee);
    if (!edu_dma(e, loader, true)) {
        return false;
    }
    memcpy(shadow + LOADER_GPA, gpa_ptr(LOADER_GPA), PAGE);
    return is_pattern(gpa_ptr(LOADER_GPA), PAGE, seed);
}

/* Through IOVA `iova` (mapped to `gpa`) the device reads and writes
 * exactly that page: patterns seed and seed + 1. */
static bool reaches(struct edu *e, uint64_t iova, uint64_t gpa, unsigned seed)
{
    char what[64];

    snprintf(what, sizeof(what), "DMA through %#" PRIx64, iova);
    ram_fill(gpa, PAGE, seed);
    if (!edu_dma(e, iova, false) || !edu_holds(e, seed)) {
        tap_fail("%s: the device did not read the mapped page", what);
        return false;
    }
    if (!edu_load(e, seed + 1)) {
        return false;
    }
    ram_fill(gpa, PAGE, 0);
    pattern(shadow + (gpa_ptr(gpa) - ram), PAGE, seed + 1);
    return edu_dma(e, iova, true) && ram_as_expected(what);
}

/* Through IOVA `iova` the device reaches nothing: a write changes no byte
 * of guest RAM and a read does not get the bytes at `gpa`. The buffer is
 * read back later, with check_no_read(), once a loader is mapped again. */
static bool writes_nothing(struct edu *e, uint64_t iova, uint64_t gpa,
                           unsigned seed, bool loaded)
{
    char what[64];

    snprintf(what, sizeof(what), "a write to unmapped %#" PRIx64, iova);
    if (loaded && !edu_load(e, seed)) {
        return false;
    }
    ram_fill(gpa, PAGE, seed + 1); /* what a read must not get */
    return edu_dma(e, iova, true) && ram_as_expected(what) &&
           edu_dma(e, iova, false);
}

static bool check_no_read(struct edu *e, unsigned seed)
{
    if (edu_holds(e, seed + 1)) {
        tap_fail("the device read the bytes behind an unmapped IOVA");
        return false;
    }
    return true;
}

/* --- tests --------------------------------------------------------------- */

static struct edu alone = {.ep = 0};
static struct edu pair[2];

static void test_map_reaches_exactly(void)
{
    expect_status(attach(1, EMU1), VIRTIO_IOMMU_S_OK, "attach");
    expect_status(attach(1, alone.ep), VIRTIO_IOMMU_S_OK, "attach");
    expect_status(map(1, LOADER, PAGE, LOADER_GPA), VIRTIO_IOMMU_S_OK, "map");
    expect_status(map(1, 0x20000000, 2 * PAGE, 0x300000), VIRTIO_IOMMU_S_OK,
                  "map");
    /* In the high RAM region: another host address range. */
    expect_status(map(1, 0x30000000, PAGE, RAM_HIGH + 0x10000),
                  VIRTIO_IOMMU_S_OK, "map");
    if (tap_why[0] == '\0') {
        (void)(reaches(&alone, 0x20000000, 0x300000, 10) &&
            reaches(&alone, 0x20001000, 0x301000, 12) &&
            reaches(&alone, 0x30000000, RAM_HIGH + 0x10000, 14));
    }
    tap_report("MAP: the device reads and writes exactly the mapped pages");
}

static void test_unmap_reaches_nothing(void)
{
    expect_status(unmap(1, 0x20000000, 2 * PAGE), VIRTIO_IOMMU_S_OK, "unmap");
    if (tap_why[0] == '\0' && writes_nothing(&alone, 0x20000000, 0x300000, 20,
                                         true)) {
        check_no_read(&alone, 20);
    }
    tap_report("UNMAP: the device reaches nothing through the IOVA");
}

static void test_detach_reaches_nothing(void)
{
    expect_status(map(1, 0x20000000, PAGE, 0x300000), VIRTIO_IOMMU_S_OK,
                  "map");
    if (tap_why[0] == '\0') {
        reaches(&alone, 0x20000000, 0x300000, 30);
        edu_load(&alone, 32);
    }
    expect_status(vdrv_detach(DRV, 1, alone.ep), VIRTIO_IOMMU_S_OK, "detach");
    if (tap_why[0] == '\0') {
        (void)(writes_nothing(&alone, 0x20000000, 0x300000, 32, false) &&
            writes_nothing(&alone, LOADER, LOADER_GPA, 32, false));
    }
    expect_status(attach(1, alone.ep), VIRTIO_IOMMU_S_OK, "attach again");
    if (tap_why[0] == '\0') {
        (void)(check_no_read(&alone, 32) &&
               reaches(&alone, 0x20000000, 0x300000, 34));
    }
    tap_report("DETACH: the device reaches nothing; ATTACH brings it all back");
}

static void test_move_reaches_new_domain_only(void)
{
    expect_status(attach(2, EMU2), VIRTIO_IOMMU_S_OK, "attach");
    expect_status(map(2, LOADER, PAGE, LOADER_GPA), VIRTIO_IOMMU_S_OK, "map");
    expect_status(map(2, 0x40000000, PAGE, 0x400000), VIRTIO_IOMMU_S_OK,
                  "map");
    expect_status(attach(2, alone.ep), VIRTIO_IOMMU_S_OK, "move");
    if (tap_why[0] == '\0' && reaches(&alone, 0x40000000, 0x400000, 40) &&
        edu_load(&alone, 42)) {
        (void)(writes_nothing(&alone, 0x20000000, 0x300000, 42, false) &&
            check_no_read(&alone, 42));
    }
    tap_report("ATTACH to another domain: the old domain's mappings are gone");
}

static void test_replay_populated_domain(void)
{
    /* Four contiguous pages (one host mapping when replayed), a lone one,
     * and the loader, all mapped before the edu joins domain 3. */
    expect_status(attach(3, EMU1), VIRTIO_IOMMU_S_OK, "attach");
    for (uint64_t i = 0; i < 4; i++) {
        expect_status(map(3, 0x50000000 + i * PAGE, PAGE, 0x500000 + i * PAGE),
                      VIRTIO_IOMMU_S_OK, "map");
    }
    expect_status(map(3, 0x58000000, PAGE, RAM_HIGH + 0x20000),
                  VIRTIO_IOMMU_S_OK, "map");
    expect_status(map(3, LOADER, PAGE, LOADER_GPA), VIRTIO_IOMMU_S_OK, "map");
    expect_status(attach(3, alone.ep), VIRTIO_IOMMU_S_OK, "attach");
    for (uint64_t i = 0; i < 4 && tap_why[0] == '\0'; i++) {
        reaches(&alone, 0x50000000 + i * PAGE, 0x500000 + i * PAGE,
                50 + 2 * (unsigned)i);
    }
    if (tap_why[0] == '\0') {
        reaches(&alone, 0x58000000, RAM_HIGH + 0x20000, 60);
    }
    /* Unmapping the second page of the run splits it on the host. */
    expect_status(unmap(3, 0x50001000, PAGE), VIRTIO_IOMMU_S_OK, "unmap");
    if (tap_why[0] == '\0' &&
        writes_nothing(&alone, 0x50001000, 0x501000, 62, true) &&
        check_no_read(&alone, 62)) {
        (void)(reaches(&alone, 0x50000000, 0x500000, 64) &&
               reaches(&alone, 0x50002000, 0x502000, 66));
    }
    tap_report("replay: ATTACH to a populated domain reaches all its mappings");
}

static void test_removal_reaches_nothing(void)
{
    if (tap_why[0] == '\0') {
        edu_load(&alone, 70);
    }
    int err = viommu_endpoint_remove(v, alone.ep);
    if (err != 0) {
        tap_fail("viommu_endpoint_remove: %s", strerror(-err));
    }
    if (tap_why[0] == '\0') {
        (void)(writes_nothing(&alone, LOADER, LOADER_GPA, 70, false) &&
            writes_nothing(&alone, 0x50000000, 0x500000, 70, false));
    }
    tap_report("endpoint removal: the device reaches nothing");
}

/* Declares the edu's endpoint again (its device stays open). */
static void redeclare(struct edu *e)
{
    struct viommu_endpoint_config ep = {.size = sizeof(ep)};
    int err = viommu_vfio_endpoint(e->dev, &ep);

    if (err == 0) {
        err = viommu_endpoint_add(v, &ep);
    }
    if (err != 0) {
        tap_fail("declaring %#x again: %s", e->ep, strerror(-err));
    }
}

static void test_reset_reaches_nothing(void)
{
    redeclare(&alone);
    expect_status(attach(4, alone.ep), VIRTIO_IOMMU_S_OK, "attach");
    expect_status(map(4, LOADER, PAGE, LOADER_GPA), VIRTIO_IOMMU_S_OK, "map");
    if (tap_why[0] == '\0') {
        (void)(check_no_read(&alone, 70) && edu_load(&alone, 72));
    }
    if (viommu_reset(v, VIOMMU_RESET_DEVICE) != 0 ||
        vdrv_set_features(DRV, vdrv_features(DRV)) != 0) {
        tap_fail("reset");
    }
    if (tap_why[0] == '\0') {
        writes_nothing(&alone, LOADER, LOADER_GPA, 72, false);
    }
    tap_report("device reset: the device reaches nothing");
}

static void test_free_reaches_nothing(void)
{
    expect_status(attach(5, alone.ep), VIRTIO_IOMMU_S_OK, "attach");
    expect_status(map(5, LOADER, PAGE, LOADER_GPA), VIRTIO_IOMMU_S_OK, "map");
    if (tap_why[0] == '\0') {
        (void)(check_no_read(&alone, 72) && edu_load(&alone, 74));
    }
    viommu_free(v);
    if (tap_why[0] == '\0') {
        writes_nothing(&alone, LOADER, LOADER_GPA, 74, false);
    }
    device_new();
    redeclare(&alone);
    tap_report("viommu_free: the device reaches nothing");
}

/* Seed 001: PROBE, sent before the first ATTACH, reports the host's
 * geometry; a MAP outside it is refused before it reaches the host. */
static void test_geometry_before_first_attach(void)
{
    uint8_t props[512];
    struct viommu_resv_region r[16];
    bool above = false, msi = false;

    expect_status(vdrv_probe(DRV, alone.ep, props, sizeof(props)),
                  VIRTIO_IOMMU_S_OK, "probe");
    int n = vdrv_parse_resv(props, sizeof(props), r, 16);
    for (int i = 0; i < n; i++) {
        printf("# PROBE: %#" PRIx64 "-%#" PRIx64 " %s\n", r[i].start,
               r[i].end, r[i].type == VIOMMU_RESV_MSI ? "msi" : "reserved");
        above |= r[i].type == VIOMMU_RESV_RESERVED &&
                 r[i].start == 1ull << 39 && r[i].end == UINT64_MAX;
        msi |= r[i].type == VIOMMU_RESV_MSI &&
               r[i].start == VIOMMU_MSI_X86_START &&
               r[i].end == VIOMMU_MSI_X86_END;
    }
    if (!above || !msi) {
        tap_fail("PROBE lacks %s", !above ? "[2^39, 2^64-1] reserved"
                                      : "the host's MSI region");
    }
    struct viommu_stats before = stats();
    expect_status(attach(6, alone.ep), VIRTIO_IOMMU_S_OK, "attach");
    expect_status(map(6, 1ull << 39, PAGE, 0x600000), VIRTIO_IOMMU_S_RANGE,
                  "a MAP at 2^39");
    struct viommu_stats after = stats();
    if (after.mappings != before.mappings ||
        after.host_errors != before.host_errors) {
        tap_fail("the refused MAP changed the device");
    }
    expect_status(vdrv_detach(DRV, 6, alone.ep), VIRTIO_IOMMU_S_OK, "detach");
    tap_report("geometry: PROBE before ATTACH reports the host's limits");
}

static uint8_t map_status(uint32_t domain, uint64_t iova, uint64_t gpa)
{
    return map(domain, iova, PAGE, gpa);
}

/* The host refuses a MAP: NOMEM, and the device and the host unchanged:
 * what was mapped is reached, the refused IOVA is not, and once there is
 * room the same MAP succeeds. */
static void refused_then_room(uint32_t domain, uint64_t iova, uint64_t gpa,
                              unsigned seed, void (*make_room)(void))
{
    expect_status(map_status(domain, iova, gpa), VIRTIO_IOMMU_S_NOMEM,
                  "the refused map");
    struct viommu_domain_info info = {.size = sizeof(info)};
    if (viommu_domain_info(v, domain, &info) != 0) {
        tap_fail("domain %u gone", domain);
    }
    if (tap_why[0] == '\0' && writes_nothing(&alone, iova, gpa, seed, true)) {
        (void)(check_no_read(&alone, seed) &&
               reaches(&alone, LOADER + PAGE, LOADER_GPA + PAGE, seed + 2));
    }
    make_room();
    expect_status(map_status(domain, iova, gpa), VIRTIO_IOMMU_S_OK,
                  "the same map with room");
    if (tap_why[0] == '\0') {
        reaches(&alone, iova, gpa, seed + 4);
    }
}

static void unmap_one(void)
{
    expect_status(unmap(7, 0x69000000, PAGE), VIRTIO_IOMMU_S_OK, "unmap");
}

static void test_dma_entry_limit(void)
{
    const char *param = "/sys/module/vfio_iommu_type1/parameters/"
                        "dma_entry_limit";
    char old[32];

    snprintf(old, sizeof(old), "%lu", sysfs_read_ul(param));
    /* The limit is read when a container is made: the edu gets a new one.
     */
    if (viommu_endpoint_remove(v, alone.ep) != 0) {
        tap_fail("remove");
    }
    edu_close(&alone);
    int err = sysfs_write(param, "4");
    if (err == 0 && edu_open(&alone) == 0) {
        /* 4 + 8 contiguous pages, replayed as 2 host mappings: without
         * coalescing the ATTACH would need 12 of the 4 there are. */
        expect_status(attach(7, EMU1), VIRTIO_IOMMU_S_OK, "attach");
        for (uint64_t i = 0; i < 4; i++) {
            expect_status(map_status(7, LOADER + i * PAGE,
                                     LOADER_GPA + i * PAGE),
                          VIRTIO_IOMMU_S_OK, "map");
        }
        for (uint64_t i = 0; i < 8; i++) {
            expect_status(map_status(7, 0x60000000 + i * PAGE,
                                     0x600000 + i * PAGE),
                          VIRTIO_IOMMU_S_OK, "map");
        }
        expect_status(attach(7, alone.ep), VIRTIO_IOMMU_S_OK,
                      "attach (replay)");
        expect_status(map_status(7, 0x68000000, 0x680000), VIRTIO_IOMMU_S_OK,
                      "map");
        expect_status(map_status(7, 0x69000000, 0x690000), VIRTIO_IOMMU_S_OK,
                      "map");
        if (tap_why[0] == '\0') {
            reaches(&alone, 0x60007000, 0x607000, 78);
        }
        refused_then_room(7, 0x70000000, 0x700000, 80, unmap_one);
    } else if (err != 0) {
        tap_fail("%s: %s", param, strerror(-err));
    }
    sysfs_write(param, old);
    tap_report("DMA_AVAIL exhausted: NOMEM, device and container unchanged");
}

static int set_ipc_lock(bool on)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct caps[2];

    if (syscall(SYS_capget, &hdr, caps) != 0) {
        return -errno;
    }
    if (on) {
        caps[0].effective |= 1u << CAP_IPC_LOCK;
    } else {
        caps[0].effective &= ~(1u << CAP_IPC_LOCK);
    }
    return syscall(SYS_capset, &hdr, caps) == 0 ? 0 : -errno;
}

static void memlock_room(void)
{
    struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};

    if (setrlimit(RLIMIT_MEMLOCK, &unlimited) != 0 || set_ipc_lock(true)) {
        tap_fail("restoring RLIMIT_MEMLOCK: %s", strerror(errno));
    }
}

static void test_memlock_limit(void)
{
    struct rlimit none = {0, RLIM_INFINITY};

    expect_status(attach(8, alone.ep), VIRTIO_IOMMU_S_OK, "attach");
    expect_status(map_status(8, LOADER, LOADER_GPA), VIRTIO_IOMMU_S_OK, "map");
    expect_status(map_status(8, LOADER + PAGE, LOADER_GPA + PAGE),
                  VIRTIO_IOMMU_S_OK, "map");
    /* Without CAP_IPC_LOCK, pinning is accounted against the limit. */
    if (set_ipc_lock(false) != 0 || setrlimit(RLIMIT_MEMLOCK, &none) != 0) {
        tap_fail("lowering RLIMIT_MEMLOCK: %s", strerror(errno));
    }
    if (tap_why[0] == '\0') {
        refused_then_room(8, 0x78000000, 0x780000, 90, memlock_room);
    } else {
        memlock_room();
    }
    tap_report("RLIMIT_MEMLOCK exhausted: NOMEM, device and host unchanged");
}

/* Guest RAM 1:1: a bypass domain, and an identity domain built as Linux
 * builds one without the bypass feature, from MAPs of the whole input range
 * around the reserved regions, wider than RAM: its RAM parts are mapped. */
static void test_identity(void)
{
    const uint64_t hole = RAM_SIZE + 0x100000; /* between the RAM regions */

    loader = LOADER_GPA;
    expect_status(vdrv_attach(DRV, 11, alone.ep, VIRTIO_IOMMU_ATTACH_F_BYPASS),
                  VIRTIO_IOMMU_S_OK, "attach to a bypass domain");
    if (tap_why[0] == '\0') {
        (void)(reaches(&alone, 0x300000, 0x300000, 110) &&
               reaches(&alone, RAM_HIGH + 0x30000, RAM_HIGH + 0x30000, 112) &&
               edu_load(&alone, 114) &&
               edu_dma(&alone, hole, true) && ram_as_expected("a hole"));
    }
    expect_status(attach(12, alone.ep), VIRTIO_IOMMU_S_OK, "attach");
    if (tap_why[0] == '\0') {
        writes_nothing(&alone, 0x300000, 0x300000, 114, false);
    }
    expect_status(vdrv_map(DRV, 12, 0, VIOMMU_MSI_X86_START - 1, 0, RW),
                  VIRTIO_IOMMU_S_OK, "identity MAP below the MSI window");
    expect_status(vdrv_map(DRV, 12, VIOMMU_MSI_X86_END + 1, (1ull << 39) - 1,
                           VIOMMU_MSI_X86_END + 1, RW),
                  VIRTIO_IOMMU_S_OK, "identity MAP above it");
    if (tap_why[0] == '\0') {
        (void)(check_no_read(&alone, 114) &&
               reaches(&alone, 0x300000, 0x300000, 116) &&
               reaches(&alone, RAM_HIGH + 0x30000, RAM_HIGH + 0x30000, 118) &&
               edu_load(&alone, 120) &&
               edu_dma(&alone, hole, true) && ram_as_expected("a hole"));
    }
    expect_status(vdrv_detach(DRV, 12, alone.ep), VIRTIO_IOMMU_S_OK,
                  "detach");
    loader = LOADER;
    tap_report("identity: bypass and MAPs wider than RAM reach RAM 1:1");
}

/* Seed 000 with real VFs: enabled and disabled through sysfs, a guest that
 * sends no DETACH, the VF's domain ID reused three times. */
static void test_sriov_domain_reuse(void)
{
    char pf[1][16], path[PATH_MAX], vf[16], target[PATH_MAX];

    if (find_pci(0x8086, 0x10c9, pf, 1) != 1) {
        tap_fail("no igb PF");
        tap_report("SR-IOV: VF domain IDs reused with nothing stale on the host");
        return;
    }
    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/", pf[0]);
    size_t dir = strlen(path);
    for (int round = 0; round < 3 && tap_why[0] == '\0'; round++) {
        struct viommu_vfio_device *d = NULL;
        struct viommu_endpoint_config ep = {.size = sizeof(ep)};
        strcpy(path + dir, "sriov_drivers_autoprobe");
        int err = sysfs_write(path, "0");
        strcpy(path + dir, "sriov_numvfs");
        if (err == 0) {
            err = sysfs_write(path, "1");
        }
        strcpy(path + dir, "virtfn0");
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        const char *base = strrchr(target, '/');
        snprintf(vf, sizeof(vf), "%.15s", base != NULL ? base + 1 : "none");
        if (err == 0) {
            err = bind_vfio(vf);
        }
        if (err == 0) {
            err = viommu_vfio_open(host, vf, rid_of(vf), &d);
        }
        if (err == 0) {
            err = viommu_vfio_endpoint(d, &ep);
        }
        if (err == 0) {
            err = viommu_endpoint_add(v, &ep);
        }
        if (err != 0) {
            tap_fail("round %d: VF %s: %s", round, vf, strerror(-err));
            break;
        }
        /* The same domain ID, the same IOVA, every round. */
        expect_status(attach(9, rid_of(vf)), VIRTIO_IOMMU_S_OK, "attach VF");
        expect_status(map(9, 0x90000000, 16 * PAGE, 0x700000),
                      VIRTIO_IOMMU_S_OK, "map in the VF's domain");
        printf("# round %d: VF %s endpoint %#x in domain 9\n", round, vf,
               rid_of(vf));
        /* The guest disables the VF and sends no DETACH; the VMM removes
         * the endpoint (seed 000's fix): nothing of it stays in the host.
         * Declared again on the same open device, the same IOVA maps again
         * in the same container. */
        err = viommu_endpoint_remove(v, rid_of(vf));
        if (err == 0) {
            err = viommu_endpoint_add(v, &ep);
        }
        expect_status(attach(9, rid_of(vf)), VIRTIO_IOMMU_S_OK,
                      "attach VF again");
        expect_status(map(9, 0x90000000, 16 * PAGE, 0x700000),
                      VIRTIO_IOMMU_S_OK, "map again in the same container");
        if (err == 0) {
            err = viommu_endpoint_remove(v, rid_of(vf));
        }
        if (err == 0) {
            err = viommu_vfio_close(d);
        }
        strcpy(path + dir, "sriov_numvfs");
        if (err == 0) {
            err = sysfs_write(path, "0");
        }
        if (err != 0) {
            tap_fail("round %d: removing VF %s: %s", round, vf, strerror(-err));
        }
    }
    tap_report("SR-IOV: VF domain IDs reused with nothing stale on the host");
}

/* Two devices in one group: one host context, never split. */
static void test_group_of_two(void)
{
    struct viommu_stats before = stats();

    for (int i = 0; i < 2 && tap_why[0] == '\0'; i++) {
        edu_open(&pair[i]);
    }
    struct viommu_stats after = stats();
    /* type1: a container for the group; iommufd: the handle's context,
     * already in use by the other edu. */
    uint32_t more = backend == VIOMMU_VFIO_TYPE1 ? 1 : 0;
    if (tap_why[0] == '\0' && after.host_contexts != before.host_contexts + more) {
        tap_fail("%u new host contexts for one group, expected %u",
             after.host_contexts - before.host_contexts, more);
    }
    expect_status(attach(10, pair[0].ep), VIRTIO_IOMMU_S_OK, "attach");
    expect_status(map(10, LOADER, PAGE, LOADER_GPA), VIRTIO_IOMMU_S_OK, "map");
    expect_status(map(10, 0xa0000000, PAGE, 0x680000), VIRTIO_IOMMU_S_OK,
                  "map");
    expect_status(attach(11, pair[1].ep), VIRTIO_IOMMU_S_UNSUPP,
                  "the other member to another domain");
    expect_status(attach(10, pair[1].ep), VIRTIO_IOMMU_S_OK,
                  "the other member to the same domain");
    if (tap_why[0] == '\0') {
        (void)(reaches(&pair[0], 0xa0000000, 0x680000, 100) &&
               reaches(&pair[1], 0xa0000000, 0x680000, 102));
    }
    for (int i = 0; i < 2; i++) {
        if (viommu_endpoint_remove(v, pair[i].ep) != 0) {
            tap_fail("remove");
        }
        edu_close(&pair[i]);
    }
    tap_report("a group of two devices: one host context, never split");
}

int main(int argc, char **argv)
{
    char edus[3][16];
    struct viommu_vfio_config hc = {.size = sizeof(hc), .log = log_sink};

    if (argc != 2 || (strcmp(argv[1], "type1") && strcmp(argv[1], "iommufd"))) {
        fprintf(stderr, "usage: vm-host type1|iommufd\n");
        return 2;
    }
    backend = strcmp(argv[1], "type1") == 0 ? VIOMMU_VFIO_TYPE1
                                            : VIOMMU_VFIO_IOMMUFD;
    hc.backend = backend;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("1..%d\n", backend == VIOMMU_VFIO_TYPE1 ? 14 : 13);

    ram = mmap(NULL, 2 * RAM_SIZE, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    shadow = calloc(1, 2 * RAM_SIZE);
    if (ram == MAP_FAILED || shadow == NULL) {
        printf("Bail out! no memory\n");
        return 1;
    }
    struct viommu_ram_region layout[2] = {
        {.size = sizeof(layout[0]), .gpa = 0, .length = RAM_SIZE,
         .hva = (uintptr_t)ram},
        {.size = sizeof(layout[0]), .gpa = RAM_HIGH, .length = RAM_SIZE,
         .hva = (uintptr_t)ram + RAM_SIZE},
    };
    int err = viommu_vfio_new(&hc, &host);
    if (err == 0) {
        err = viommu_vfio_set_ram(host, layout, 2);
    }
    if (err != 0) {
        printf("Bail out! backend: %s\n", strerror(-err));
        return 1;
    }

    /* The edu alone in its group, and the two sharing one. */
    int n = find_pci(0x1234, 0x11e8, edus, 3);
    int paired = 0;
    for (int i = 0; i < n; i++) {
        bool shared = false;
        for (int k = 0; k < n; k++) {
            shared |= k != i && group_of(edus[k]) == group_of(edus[i]);
        }
        struct edu *e = shared && paired < 2 ? &pair[paired++] : &alone;
        memcpy(e->bdf, edus[i], sizeof(e->bdf));
        e->ep = rid_of(edus[i]);
    }
    if (n != 3 || paired != 2) {
        printf("Bail out! expected 3 edu devices, 2 in one group; found %d\n",
               n);
        return 1;
    }
    device_new();
    if (edu_open(&alone) != 0) {
        printf("Bail out! %s\n", tap_why);
        return 1;
    }

    test_map_reaches_exactly();
    test_unmap_reaches_nothing();
    test_detach_reaches_nothing();
    test_move_reaches_new_domain_only();
    test_replay_populated_domain();
    test_removal_reaches_nothing();
    test_reset_reaches_nothing();
    test_free_reaches_nothing();
    test_geometry_before_first_attach();
    if (backend == VIOMMU_VFIO_TYPE1) {
        test_dma_entry_limit();
    }
    test_memlock_limit();
    test_identity();
    test_sriov_domain_reuse();
    test_group_of_two();

    viommu_free(v);
    edu_close(&alone);
    err = viommu_vfio_free(host);
    if (err != 0) {
        printf("# viommu_vfio_free: %s\n", strerror(-err));
        tap_failed++;
    }
    printf("# %u of %u failed\n", tap_failed, tap_run);
    return tap_failed == 0 ? 0 : 1;
}
