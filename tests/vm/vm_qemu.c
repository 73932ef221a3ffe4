/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Runs inside a guest whose virtio-iommu is a real QEMU 10.2's
 * `vhost-user-test-device-pci` served by viommu-vhost-user on the host
 * (tests/vm/run.py qemu, qemu-vfio-user), and uses it as a VMM in the guest
 * would: VFIO type1 on QEMU's `edu`, which the guest's init bound to vfio-pci.
 *
 *   vm-qemu qemu check RESERVED-START RESERVED-END
 *       TAP: the guest's Linux driver probed the daemon, PROBE's reserved
 *       regions reached the group and VFIO's IOVA ranges, and what the
 *       guest maps and unmaps through VFIO is what the daemon holds. For
 *       that it asks the host (a line "@@query"), which answers on the
 *       console with the daemon's domains and mappings ("@@domain ID
 *       ENDPOINT...", "@@map ID IOVA LAST GPA", "@@end").
 *   vm-qemu qemu bench PAIRS
 *       PAIRS VFIO map+unmap pairs of 4 KiB, back to back, between the
 *       lines "@@bench-start" and "@@bench-end US-PER-PAIR".
 *   vm-qemu qemu dma
 *       TAP: the edu (or the project's model of it) is a vfio-user device
 *       served by the daemon, whose DMA goes through the daemon's IOMMU
 *       with this guest's mappings: it reaches exactly the buffer VFIO
 *       mapped, and nothing once it is unmapped. Then the host unplugs it
 *       (a line "@@unplug ID" asks; "@@unplugged" or "@@unplug-failed
 *       WHY" answers) and it is gone from the guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "guest.h"
#include "tap.h"

#define PAGE 4096ull
#define EDU_VENDOR 0x1234
#define EDU_DEVICE 0x11e8
#define MSI_START 0xfee00000ull
#define MSI_END 0xfeefffffull

struct buffer {
    uint64_t iova, size;
    uint8_t *va;
    bool mapped;
};

/* The buffers the check maps, at IOVAs of its choosing. */
static struct buffer buffers[] = {
    {.iova = 0x100000, .size = PAGE},
    {.iova = 0x400000, .size = 16 * PAGE},
    {.iova = 0x40000000, .size = 2 << 20},
};
#define NR_BUFFERS (sizeof(buffers) / sizeof(buffers[0]))

static int container = -1, group_fd = -1;
static char edu[16];
static unsigned group = ~0u;
static uint32_t endpoint;

/* The guest-physical address of the page at va (pinned by VFIO), or 0. */
static uint64_t gpa_of(const void *va)
{
    static int pagemap = -1;
    uint64_t entry;

    if (pagemap < 0) {
        pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    }
    off_t off = (off_t)((uintptr_t)va / PAGE * sizeof(entry));
    if (pread(pagemap, &entry, sizeof(entry), off) != sizeof(entry) ||
        !(entry & (1ull << 63))) {
        return 0;
    }
    return (entry & ((1ull << 55) - 1)) * PAGE;
}

static int vfio_map(uint64_t iova, void *va, uint64_t size)
{
    struct vfio_iommu_type1_dma_map map = {
        .argsz = sizeof(map),
        .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
        .vaddr = (uintptr_t)va,
        .iova = iova,
        .size = size,
    };
    return ioctl(container, VFIO_IOMMU_MAP_DMA, &map) == 0 ? 0 : -errno;
}

static int vfio_unmap(uint64_t iova, uint64_t size)
{
    struct vfio_iommu_type1_dma_unmap unmap = {
        .argsz = sizeof(unmap), .iova = iova, .size = size};
    return ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap) == 0 ? 0 : -errno;
}

/* The edu in a VFIO type1 container of its own: 0 or -errno. */
static int open_container(void)
{
    char path[64];
    struct vfio_group_status status = {.argsz = sizeof(status)};

    snprintf(path, sizeof(path), "/dev/vfio/%u", group);
    group_fd = open(path, O_RDWR | O_CLOEXEC);
    container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
    if (group_fd < 0 || container < 0 ||
        ioctl(group_fd, VFIO_GROUP_GET_STATUS, &status) != 0) {
        return -errno;
    }
    if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE) ||
        ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1) {
        return -EBUSY;
    }
    if (ioctl(group_fd, VFIO_GROUP_SET_CONTAINER, &container) != 0 ||
        ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) != 0) {
        return -errno;
    }
    return 0;
}

static void close_container(void)
{
    if (group_fd >= 0) {
        close(group_fd);
    }
    if (container >= 0) {
        close(container);
    }
    group_fd = container = -1;
}

/* The container's usable IOVA ranges into r (pairs), how many, or -errno. */
static int iova_ranges(uint64_t r[][2], int max)
{
    char buf[4096];
    struct vfio_iommu_type1_info *info = (void *)buf;
    int n = 0;

    memset(buf, 0, sizeof(buf));
    info->argsz = sizeof(buf);
    if (ioctl(container, VFIO_IOMMU_GET_INFO, info) != 0) {
        return -errno;
    }
    if (!(info->flags & VFIO_IOMMU_INFO_CAPS) || info->cap_offset == 0) {
        return -ENOENT;
    }
    for (uint32_t off = info->cap_offset; off != 0 && off < sizeof(buf);) {
        struct vfio_info_cap_header *h = (void *)(buf + off);
        if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
            struct vfio_iommu_type1_info_cap_iova_range *c = (void *)h;
            for (uint32_t i = 0; i < c->nr_iovas && n < max; i++, n++) {
                r[n][0] = c->iova_ranges[i].start;
                r[n][1] = c->iova_ranges[i].end;
            }
        }
        off = h->next;
    }
    return n;
}

/* The daemon's view, as the host reads it from the control socket. */
struct daemon_map {
    uint64_t iova, last, gpa;
};
static struct daemon_map dmaps[4096];
static unsigned nr_dmaps;
static long edu_domain; /* the domain the edu is in, -1 for none */

/* Asks the host for the daemon's domains and mappings: false if the
 * answer did not come whole. */
static bool query_daemon(void)
{
    char line[256];
    bool ended = false;

    nr_dmaps = 0;
    edu_domain = -1;
    printf("@@query\n");
    fflush(stdout);
    while (!ended && fgets(line, sizeof(line), stdin) != NULL) {
        unsigned long id, ep;
        struct daemon_map m;
        int pos = 0;
        if (sscanf(line, "@@domain %lu%n", &id, &pos) == 1) {
            for (char *p = line + pos; sscanf(p, " %lu%n", &ep, &pos) == 1;
                 p += pos) {
                if (ep == endpoint) {
                    edu_domain = (long)id;
                }
            }
        } else if (sscanf(line, "@@map %lu %" SCNx64 " %" SCNx64 " %" SCNx64,
                          &id, &m.iova, &m.last, &m.gpa) == 4) {
            if ((long)id == edu_domain && nr_dmaps < 4096) {
                dmaps[nr_dmaps++] = m;
            }
        } else if (strncmp(line, "@@end", 5) == 0) {
            ended = true;
        }
    }
    return ended;
}

/* The daemon's domain of the edu holds exactly the mapped buffers' pages,
 * each to the guest-physical page VFIO pinned. */
static void check_daemon_holds_buffers(void)
{
    uint64_t expected = 0, held = 0;

    if (!query_daemon()) {
        tap_fail("the host did not answer with the daemon's state");
        return;
    }
    if (edu_domain < 0) {
        tap_fail("the daemon has the edu (endpoint 0x%x) in no domain",
                 endpoint);
        return;
    }
    for (unsigned i = 0; i < nr_dmaps; i++) {
        held += dmaps[i].last - dmaps[i].iova + 1;
    }
    for (unsigned b = 0; b < NR_BUFFERS; b++) {
        if (!buffers[b].mapped) {
            continue;
        }
        expected += buffers[b].size;
        for (uint64_t off = 0; off < buffers[b].size; off += PAGE) {
            uint64_t iova = buffers[b].iova + off, want;
            want = gpa_of(buffers[b].va + off);
            bool found = false;
            for (unsigned i = 0; i < nr_dmaps && !found; i++) {
                if (iova >= dmaps[i].iova && iova <= dmaps[i].last) {
                    found = dmaps[i].gpa + (iova - dmaps[i].iova) == want;
                    if (!found) {
                        tap_fail("IOVA 0x%" PRIx64 ": the daemon has GPA "
                                 "0x%" PRIx64 ", VFIO pinned 0x%" PRIx64,
                                 iova, dmaps[i].gpa + (iova - dmaps[i].iova),
                                 want);
                        return;
                    }
                }
            }
            if (!found) {
                tap_fail("IOVA 0x%" PRIx64 " is not mapped in the daemon",
                         iova);
                return;
            }
        }
    }
    if (held != expected) {
        tap_fail("the daemon holds 0x%" PRIx64 " bytes in the edu's domain, "
                 "the guest mapped 0x%" PRIx64,
                 held, expected);
    }
}

/* The group's reserved_regions file has [start, end] of this type. */
static bool group_lists(uint64_t start, uint64_t end, const char *type)
{
    char path[96], t[32];
    uint64_t s, e;
    bool found = false;

    snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%u/reserved_regions",
             group);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    while (!found &&
           fscanf(f, "%" SCNx64 " %" SCNx64 " %31s", &s, &e, t) == 3) {
        found = s == start && e == end && strcmp(t, type) == 0;
    }
    fclose(f);
    return found;
}

static int check(uint64_t resv_start, uint64_t resv_end)
{
    glob_t g;
    uint64_t r[16][2];

    printf("1..8\n");
    if (glob("/sys/bus/virtio/drivers/virtio_iommu/virtio*", 0, NULL, &g) !=
        0) {
        tap_fail("no virtio device bound to virtio_iommu");
    } else {
        globfree(&g);
    }
    tap_report("the guest's virtio-iommu driver probed the daemon");

    if (find_pci(EDU_VENDOR, EDU_DEVICE, &edu, 1) != 1) {
        tap_fail("no edu device");
    } else if ((group = group_of(edu)) == ~0u) {
        tap_fail("%s has no IOMMU group: the VIOT or the probe failed", edu);
    }
    endpoint = rid_of(edu);
    tap_report("the edu is behind the virtio-iommu (an IOMMU group)");

    if (group == ~0u) {
        tap_fail("no group");
    } else if (!group_lists(resv_start, resv_end, "reserved")) {
        tap_fail("reserved_regions lacks 0x%" PRIx64 "-0x%" PRIx64 " reserved",
                 resv_start, resv_end);
    } else if (!group_lists(MSI_START, MSI_END, "msi")) {
        tap_fail("reserved_regions lacks the MSI region");
    }
    tap_report("PROBE's reserved and MSI regions reached the IOMMU group");

    int err = group == ~0u ? -ENODEV : open_container();
    int n = err == 0 ? iova_ranges(r, 16) : err;
    if (n < 0) {
        tap_fail("VFIO type1 container: %s", strerror(-n));
    }
    if (n == 0) {
        tap_fail("no IOVA range reported");
    }
    for (int i = 0; i < n; i++) {
        if (r[i][0] <= resv_end && resv_start <= r[i][1]) {
            tap_fail("IOVA range 0x%" PRIx64 "-0x%" PRIx64
                     " covers the reserved region",
                     r[i][0], r[i][1]);
        }
    }
    tap_report("VFIO's IOVA ranges leave out the reserved region");

    for (unsigned b = 0; b < NR_BUFFERS && err == 0; b++) {
        buffers[b].va = mmap(NULL, buffers[b].size, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        err = buffers[b].va == MAP_FAILED
                  ? -errno
                  : vfio_map(buffers[b].iova, buffers[b].va, buffers[b].size);
        buffers[b].mapped = err == 0;
        if (err != 0) {
            tap_fail("MAP_DMA of 0x%" PRIx64 " bytes at 0x%" PRIx64 ": %s",
                     buffers[b].size, buffers[b].iova, strerror(-err));
        }
    }
    if (err == 0) {
        check_daemon_holds_buffers();
    }
    tap_report("MAP_DMA through the daemon: it holds exactly the pinned pages");

    if (err == 0 && vfio_map(resv_start, buffers[0].va, PAGE) == 0) {
        tap_fail("a MAP_DMA into the reserved region succeeded");
    }
    if (err == 0) {
        check_daemon_holds_buffers();
    }
    tap_report("MAP_DMA into the reserved region refused by the guest's "
               "VFIO (the region came from PROBE), the daemon unchanged");

    if (err == 0) {
        err = vfio_unmap(buffers[1].iova, buffers[1].size);
        buffers[1].mapped = err != 0;
        if (err != 0) {
            tap_fail("UNMAP_DMA: %s", strerror(-err));
        } else {
            check_daemon_holds_buffers();
        }
    }
    tap_report("UNMAP_DMA through the daemon: those pages gone, others kept");

    long in_use = edu_domain;
    close_container();
    if (!query_daemon()) {
        tap_fail("the host did not answer with the daemon's state");
    } else if (in_use >= 0 && edu_domain == in_use) {
        tap_fail("the edu is still in domain %ld after VFIO let go", in_use);
    } else if (edu_domain >= 0 && nr_dmaps > 0) {
        /* With iommu.passthrough=1 the edu goes back to an identity
         * domain: a bypass domain, which holds no mapping. */
        tap_fail("the edu's domain after VFIO holds %u mappings", nr_dmaps);
    }
    tap_report("closing the container: the edu left VFIO's domain");
    return tap_failed == 0 ? 0 : 1;
}

/* The edu's BAR0 through the VFIO device fd. */
static int edu_fd = -1;
static uint64_t bar0;

static uint64_t edu_read(uint64_t reg, size_t len)
{
    uint64_t v = 0;

    if (pread(edu_fd, &v, len, (off_t)(bar0 + reg)) != (ssize_t)len) {
        tap_fail("reading BAR0 0x%" PRIx64 ": %s", reg, strerror(errno));
    }
    return v;
}

static void edu_write(uint64_t reg, uint64_t v, size_t len)
{
    if (pwrite(edu_fd, &v, len, (off_t)(bar0 + reg)) != (ssize_t)len) {
        tap_fail("writing BAR0 0x%" PRIx64 ": %s", reg, strerror(errno));
    }
}

#define EDU_BUF 0x40000ull

/* One transfer of a page between the device's buffer and iova; waits for
 * it to end (the real edu takes 100 ms of virtual time). */
static void edu_dma(uint64_t iova, bool to_ram)
{
    edu_write(0x80, to_ram ? EDU_BUF : iova, 8);
    edu_write(0x88, to_ram ? iova : EDU_BUF, 8);
    edu_write(0x90, PAGE, 8);
    edu_write(0x98, to_ram ? 3 : 1, 8);
    for (int i = 0; i < 2000 && (edu_read(0x98, 8) & 1); i++) {
        usleep(1000);
    }
    if (edu_read(0x98, 8) & 1) {
        tap_fail("the transfer did not end");
    }
}

static bool all(const uint8_t *p, uint8_t v)
{
    for (uint64_t i = 0; i < PAGE; i++) {
        if (p[i] != v) {
            return false;
        }
    }
    return true;
}

static int dma(void)
{
    struct vfio_region_info r = {.argsz = sizeof(r), .index = 0};
    uint8_t *src, *dst;

    printf("1..5\n");
    if (find_pci(EDU_VENDOR, EDU_DEVICE, &edu, 1) != 1) {
        tap_fail("no edu device");
    } else if ((group = group_of(edu)) == ~0u) {
        tap_fail("%s has no IOMMU group: the VIOT or the probe failed", edu);
    } else if (open_container() != 0 ||
               (edu_fd = ioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, edu)) < 0 ||
               ioctl(edu_fd, VFIO_DEVICE_GET_REGION_INFO, &r) != 0) {
        tap_fail("%s through VFIO: %s", edu, strerror(errno));
    } else {
        bar0 = r.offset;
        edu_write(0x04, 0x12345678, 4);
        if ((uint32_t)edu_read(0x04, 4) != 0xedcba987) {
            tap_fail("BAR0's liveness register did not answer");
        }
    }
    tap_report("the vfio-user device answers through QEMU 10.2 and the "
               "daemon");
    if (tap_failed) {
        return 1;
    }

    src = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (src == MAP_FAILED) {
        printf("Bail out! mmap: %s\n", strerror(errno));
        return 1;
    }
    dst = src + PAGE;
    memset(src, 0xa5, PAGE);
    memset(dst, 0x11, PAGE);
    int err = vfio_map(0x200000, src, PAGE);
    if (err == 0) {
        err = vfio_map(0x300000, dst, PAGE);
    }
    if (err != 0) {
        tap_fail("MAP_DMA: %s", strerror(-err));
    } else {
        edu_dma(0x200000, false);
        edu_dma(0x300000, true);
        if (!all(dst, 0xa5)) {
            tap_fail("the device's copy did not land in the mapped page");
        }
    }
    tap_report("DMA reaches exactly the pages mapped through the daemon");

    memset(dst, 0x22, PAGE);
    memset(src, 0x5a, PAGE);
    edu_dma(0x200000, false);
    edu_dma(0x300000, true);
    if (!all(dst, 0x5a)) {
        tap_fail("a second transfer did not land");
    }
    tap_report("a second transfer lands too");

    err = vfio_unmap(0x300000, PAGE);
    memset(dst, 0x33, PAGE);
    memset(src, 0x77, PAGE);
    if (err != 0) {
        tap_fail("UNMAP_DMA: %s", strerror(-err));
    } else {
        edu_dma(0x200000, false);
        edu_dma(0x300000, true);
        if (!all(dst, 0x33)) {
            tap_fail("the device wrote a page after UNMAP_DMA");
        }
    }
    tap_report("after UNMAP_DMA the device reaches nothing there");
    close(edu_fd);
    close_container();

    char line[512] = "", path[64];
    printf("@@unplug edu\n");
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin) != NULL &&
           strncmp(line, "@@unplug", 8) != 0) {
    }
    line[strcspn(line, "\n")] = '\0';
    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", edu);
    if (strcmp(line, "@@unplugged") != 0) {
        tap_fail("%s", line + 2);
    } else if (access(path, F_OK) == 0) {
        tap_fail("%s is still in the guest", edu);
    }
    tap_report("device_del: QEMU's DEVICE_DELETED and the daemon's "
               "ENDPOINT_REMOVED came, and the device is gone");
    return tap_failed == 0 ? 0 : 1;
}

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int bench(long pairs)
{
    void *page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    char edu_s[1][16];

    if (find_pci(EDU_VENDOR, EDU_DEVICE, edu_s, 1) != 1 ||
        (group = group_of(edu_s[0])) == ~0u || open_container() != 0 ||
        page == MAP_FAILED) {
        printf("Bail out! no edu in a VFIO container\n");
        return 1;
    }
    /* A warm-up, so that the first pair's allocations are not timed. */
    if (vfio_map(0x100000, page, PAGE) != 0 || vfio_unmap(0x100000, PAGE)) {
        printf("Bail out! MAP_DMA/UNMAP_DMA: %s\n", strerror(errno));
        return 1;
    }
    printf("@@bench-start\n");
    fflush(stdout);
    double t0 = now_us();
    for (long i = 0; i < pairs; i++) {
        if (vfio_map(0x100000, page, PAGE) != 0 ||
            vfio_unmap(0x100000, PAGE) != 0) {
            printf("Bail out! pair %ld: %s\n", i, strerror(errno));
            return 1;
        }
    }
    double t1 = now_us();
    printf("@@bench-end %.2f\n", (t1 - t0) / (double)pairs);
    fflush(stdout);
    close_container();
    return 0;
}

int main(int argc, char **argv)
{
    struct termios t;

    setvbuf(stdout, NULL, _IOLBF, 0);
    /* The host's answers come on the console: not echoed back. */
    if (tcgetattr(0, &t) == 0) {
        t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        tcsetattr(0, TCSANOW, &t);
    }
    /* argv[1] is run.py's backend, "qemu". */
    if (argc == 5 && strcmp(argv[2], "check") == 0) {
        return check(strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0));
    }
    if (argc == 3 && strcmp(argv[2], "dma") == 0) {
        return dma();
    }
    if (argc == 4 && strcmp(argv[2], "bench") == 0 &&
        strtol(argv[3], NULL, 0) > 0) {
        return bench(strtol(argv[3], NULL, 0));
    }
    fprintf(stderr, "usage: vm-qemu qemu (check RESV-START RESV-END | dma | "
                    "bench PAIRS)\n");
    return 2;
}
