/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The host backends' cost, in a QEMU guest with real VFIO (run it with
 * tests/vm/run.py type1|iommufd build/bench/bench-host): the guest's MAP
 * and UNMAP requests through libviommu and its backend, beside the same
 * host calls made raw (VFIO_IOMMU_MAP_DMA / IOMMU_IOAS_MAP on a container
 * or IOAS this program sets up by hand for the same edu device), and the
 * replay of a domain holding 10^4 mappings when the device joins it,
 * beside the 10^4 raw calls it would take without coalescing. Rounds
 * alternate raw and library; each figure is the median of its rounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>
#include <linux/virtio_iommu.h>

#include <viommu/vfio.h>
#include <viommu/viommu.h>

#include "bench.h"
#include "driver.h"
#include "guest.h"

#define PAGE 4096ull
#define RAM_SIZE (64ull << 20)
#define PAIRS 2000
#define REPLAY 10000
#define ROUNDS 5
#define IOVA_BASE 0x100000000ull
#define EMU 0xff00u

static const char *backend;
static char bdf[16];
static uint8_t *ram;

static void die(const char *what, int err)
{
    printf("bench-host: %s: %s\n", what, strerror(err < 0 ? -err : err));
    exit(1);
}

/* --- raw: a container or an IOAS set up by hand ------------------------ */

struct raw {
    int group, container;     /* type1 */
    int iommufd, dev, ioas;   /* iommufd */
};

static void raw_open(struct raw *r)
{
    char path[128];

    if (strcmp(backend, "type1") == 0) {
        snprintf(path, sizeof(path), "/dev/vfio/%u", group_of(bdf));
        r->group = open(path, O_RDWR);
        r->container = open("/dev/vfio/vfio", O_RDWR);
        if (r->group < 0 || r->container < 0 ||
            ioctl(r->group, VFIO_GROUP_SET_CONTAINER, &r->container) != 0 ||
            ioctl(r->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) != 0) {
            die("raw type1 container", errno);
        }
        return;
    }
    int n = vfio_cdev_of(bdf, path, sizeof(path));
    if (n != 0) {
        die("no VFIO cdev", n);
    }
    r->iommufd = open("/dev/iommu", O_RDWR);
    r->dev = open(path, O_RDWR);
    struct vfio_device_bind_iommufd bind = {.argsz = sizeof(bind),
                                            .iommufd = r->iommufd};
    struct iommu_ioas_alloc alloc = {.size = sizeof(alloc)};
    if (r->iommufd < 0 || r->dev < 0 ||
        ioctl(r->dev, VFIO_DEVICE_BIND_IOMMUFD, &bind) != 0 ||
        ioctl(r->iommufd, IOMMU_IOAS_ALLOC, &alloc) != 0) {
        die("raw iommufd", errno);
    }
    r->ioas = (int)alloc.out_ioas_id;
    struct vfio_device_attach_iommufd_pt at = {.argsz = sizeof(at),
                                               .pt_id = alloc.out_ioas_id};
    if (ioctl(r->dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) != 0) {
        die("raw attach", errno);
    }
}

static void raw_close(struct raw *r)
{
    if (strcmp(backend, "type1") == 0) {
        close(r->container);
        close(r->group);
    } else {
        close(r->dev);
        close(r->iommufd);
    }
}

static void raw_map(struct raw *r, uint64_t iova, uint64_t gpa)
{
    int err;

    if (strcmp(backend, "type1") == 0) {
        struct vfio_iommu_type1_dma_map m = {
            .argsz = sizeof(m),
            .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
            .vaddr = (uintptr_t)ram + gpa, .iova = iova, .size = PAGE};
        err = ioctl(r->container, VFIO_IOMMU_MAP_DMA, &m);
    } else {
        struct iommu_ioas_map m = {
            .size = sizeof(m),
            .flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
                     IOMMU_IOAS_MAP_WRITEABLE,
            .ioas_id = (uint32_t)r->ioas, .user_va = (uintptr_t)ram + gpa,
            .length = PAGE, .iova = iova};
        err = ioctl(r->iommufd, IOMMU_IOAS_MAP, &m);
    }
    if (err != 0) {
        die("raw map", errno);
    }
}

static void raw_unmap(struct raw *r, uint64_t iova)
{
    int err;

    if (strcmp(backend, "type1") == 0) {
        struct vfio_iommu_type1_dma_unmap u = {
            .argsz = sizeof(u), .iova = iova, .size = PAGE};
        err = ioctl(r->container, VFIO_IOMMU_UNMAP_DMA, &u);
    } else {
        struct iommu_ioas_unmap u = {.size = sizeof(u),
                                     .ioas_id = (uint32_t)r->ioas,
                                     .iova = iova, .length = PAGE};
        err = ioctl(r->iommufd, IOMMU_IOAS_UNMAP, &u);
    }
    if (err != 0) {
        die("raw unmap", errno);
    }
}

/* --- through libviommu ------------------------------------------------- */

struct lib {
    struct viommu *v;
    struct viommu_vfio *host;
    struct viommu_vfio_device *dev;
    uint32_t ep;
};

#define DRV(l) VDRV_LOCAL((l)->v)

static void lib_open(struct lib *l)
{
    struct viommu_config cfg = {.size = sizeof(cfg)};
    struct viommu_vfio_config hc = {
        .size = sizeof(hc),
        .backend = strcmp(backend, "type1") == 0 ? VIOMMU_VFIO_TYPE1
                                                 : VIOMMU_VFIO_IOMMUFD};
    struct viommu_ram_region layout = {.size = sizeof(layout),
                                       .length = RAM_SIZE,
                                       .hva = (uintptr_t)ram};
    struct viommu_endpoint_config ep = {.size = sizeof(ep)};
    struct viommu_endpoint_config emu = {.size = sizeof(emu), .id = EMU};
    int err;

    l->ep = rid_of(bdf);
    l->v = viommu_new(&cfg);
    if (l->v == NULL ||
        vdrv_set_features(DRV(l), vdrv_features(DRV(l))) != 0) {
        die("viommu_new", ENOMEM);
    }
    if ((err = viommu_vfio_new(&hc, &l->host)) != 0 ||
        (err = viommu_vfio_set_ram(l->host, &layout, 1)) != 0 ||
        (err = viommu_vfio_open(l->host, bdf, l->ep, &l->dev)) != 0 ||
        (err = viommu_vfio_endpoint(l->dev, &ep)) != 0 ||
        (err = viommu_endpoint_add(l->v, &ep)) != 0 ||
        (err = viommu_endpoint_add(l->v, &emu)) != 0) {
        die("backend", err);
    }
}

static void lib_close(struct lib *l)
{
    viommu_free(l->v);
    if (viommu_vfio_close(l->dev) != 0 || viommu_vfio_free(l->host) != 0) {
        die("close", EBUSY);
    }
}

static void expect_ok(uint8_t status, const char *what)
{
    if (status != VIRTIO_IOMMU_S_OK) {
        printf("bench-host: %s: %s\n", what, vdrv_status_name(status));
        exit(1);
    }
}

static void lib_map(struct lib *l, uint32_t domain, uint64_t iova,
                    uint64_t gpa)
{
    expect_ok(vdrv_map(DRV(l), domain, iova, iova + PAGE - 1, gpa,
                       VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE),
              "MAP");
}

/* --- measurements ------------------------------------------------------ */

enum { MAP, UNMAP, REPLAY_SCATTERED, REPLAY_RUN, NR_FIGURES };
static double raw_s[NR_FIGURES][ROUNDS], lib_s[NR_FIGURES][ROUNDS];

/* IOVA and gpa of the i-th mapping: scattered ones leave a page between
 * each other in IOVA, so no two of them form a run. */
static uint64_t iova_of(int i, bool scattered)
{
    return IOVA_BASE + (uint64_t)i * PAGE * (scattered ? 2 : 1);
}

static uint64_t gpa_of(int i)
{
    return (uint64_t)i * PAGE;
}

static void raw_round(int round)
{
    struct raw r;

    raw_open(&r);
    double t0 = now();
    for (int i = 0; i < PAIRS; i++) {
        raw_map(&r, iova_of(i, true), gpa_of(i));
    }
    double t1 = now();
    for (int i = 0; i < PAIRS; i++) {
        raw_unmap(&r, iova_of(i, true));
    }
    double t2 = now();
    /* A replay without coalescing is one call per mapping. */
    for (int i = 0; i < REPLAY; i++) {
        raw_map(&r, iova_of(i, true), gpa_of(i));
    }
    double t3 = now();
    raw_s[MAP][round] = t1 - t0;
    raw_s[UNMAP][round] = t2 - t1;
    raw_s[REPLAY_SCATTERED][round] = raw_s[REPLAY_RUN][round] = t3 - t2;
    raw_close(&r);
}

/* Domain `domain` filled through the emulated endpoint, then the device
 * joins it: the time of that ATTACH. */
static double replay(struct lib *l, uint32_t from, uint32_t domain,
                     bool scattered)
{
    /* Out of its domain first, so that the ATTACH timed below only fills
     * the new one. */
    expect_ok(vdrv_detach(DRV(l), from, l->ep), "DETACH");
    expect_ok(vdrv_attach(DRV(l), domain, EMU, 0), "ATTACH");
    for (int i = 0; i < REPLAY; i++) {
        lib_map(l, domain, iova_of(i, scattered), gpa_of(i));
    }
    double t0 = now();
    expect_ok(vdrv_attach(DRV(l), domain, l->ep, 0), "ATTACH (replay)");
    return now() - t0;
}

static void lib_round(int round)
{
    struct lib l;

    lib_open(&l);
    expect_ok(vdrv_attach(DRV(&l), 1, l.ep, 0), "ATTACH");
    double t0 = now();
    for (int i = 0; i < PAIRS; i++) {
        lib_map(&l, 1, iova_of(i, true), gpa_of(i));
    }
    double t1 = now();
    for (int i = 0; i < PAIRS; i++) {
        expect_ok(vdrv_unmap(DRV(&l), 1, iova_of(i, true),
                             iova_of(i, true) + PAGE - 1),
                  "UNMAP");
    }
    double t2 = now();
    lib_s[MAP][round] = t1 - t0;
    lib_s[UNMAP][round] = t2 - t1;
    lib_s[REPLAY_SCATTERED][round] = replay(&l, 1, 2, true);
    lib_s[REPLAY_RUN][round] = replay(&l, 2, 3, false);
    lib_close(&l);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v)
{
    qsort(v, ROUNDS, sizeof(*v), cmp_double);
    return v[ROUNDS / 2];
}

int main(int argc, char **argv)
{
    char edus[3][16];

    if (argc != 2 || (strcmp(argv[1], "type1") && strcmp(argv[1], "iommufd"))) {
        fprintf(stderr, "usage: bench-host type1|iommufd\n");
        return 2;
    }
    backend = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    int n = find_pci(0x1234, 0x11e8, edus, 3);
    if (n < 1) {
        die("no edu device", ENODEV);
    }
    memcpy(bdf, edus[0], sizeof(bdf)); /* the one alone in its group */
    ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (ram == MAP_FAILED) {
        die("guest RAM", errno);
    }
    for (int round = 0; round < ROUNDS; round++) {
        raw_round(round);
        lib_round(round);
    }
    static const char *const names[NR_FIGURES] = {
        "MAP 4 KiB, per second",
        "UNMAP 4 KiB, per second",
        "replay 10^4 scattered mappings, ms",
        "replay 10^4 mappings forming one run, ms",
    };
    printf("%s backend, %s, median of %d alternating rounds\n\n", backend,
           bdf, ROUNDS);
    printf("| %-40s | %12s | %12s | %7s |\n", "", "raw ioctls",
           "libviommu", "ratio");
    printf("|%s|%s|%s|%s|\n", "------------------------------------------",
           "--------------", "--------------", "---------");
    for (int f = 0; f < NR_FIGURES; f++) {
        double raw = median(raw_s[f]), lib = median(lib_s[f]);
        bool rate = f == MAP || f == UNMAP;
        printf("| %-40s | %12.0f | %12.0f | %6.2fx |\n", names[f],
               rate ? PAIRS / raw : raw * 1e3, rate ? PAIRS / lib : lib * 1e3,
               lib / raw);
    }
    printf("\nratio: libviommu's time over the raw calls' (below 1: faster)\n");
    return 0;
}
