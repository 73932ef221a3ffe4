/* SPDX-License-Identifier: BSD-3-Clause */
#include "fakesys.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A broken expectation of the kit ends the test program. */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: fakesys: %s failed (%s)\n", __FILE__,      \
                    __LINE__, #cond, strerror(errno));                         \
            abort();                                                           \
        }                                                                      \
    } while (0)

#define DEFAULT_MSIX 3 /* a VF's table size before any count is set */
#define VF_GROUP_BASE 100

enum { K_PROBE, K_UNBIND, K_NUMVFS, K_MSIX, K_PLAIN, K_SETTLE };

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

/* ROOT/sys/ + the formatted rest, in a rotating static buffer. */
static const char *sys_path(struct fakesys *f, const char *fmt, ...)
{
    static __thread char bufs[8][512];
    static __thread unsigned next;
    char *buf = bufs[next++ % 8];
    va_list ap;

    int n = snprintf(buf, 512, "%s/", f->sys);
    va_start(ap, fmt);
    vsnprintf(buf + n, 512 - (size_t)n, fmt, ap);
    va_end(ap);
    return buf;
}

static void put_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    CHECK(fd >= 0);
    CHECK(write(fd, data, len) == (ssize_t)len);
    CHECK(close(fd) == 0);
}

static void put_text(const char *path, const char *text)
{
    put_file(path, text, strlen(text));
}

/* A file's text without its trailing newline ("" if it cannot be read). */
static const char *get_text(const char *path)
{
    static __thread char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

    if (fd >= 0) {
        close(fd);
    }
    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

static void link_to(const char *target, const char *path)
{
    CHECK(symlink(target, path) == 0);
}

static int rm_one(const char *path, const struct stat *st, int type,
                  struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void rm_tree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- faults ---- */

static void set_immutable(const char *path, bool on)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int flags;

    if (fd < 0) {
        return;
    }
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
        flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
        /* Root writes past permissions, not past immutability. */
        CHECK(ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0 || !on || geteuid() != 0);
    }
    close(fd);
}

/* Under f->lock. */
static void lock_file(struct fakesys *f, const char *path)
{
    CHECK(chmod(path, 0444) == 0);
    if (geteuid() == 0) {
        set_immutable(path, true);
    }
    CHECK(f->nr_locked < FS_MAX_LOCKED);
    snprintf(f->locked[f->nr_locked++], sizeof(f->locked[0]), "%s", path);
}

/* ---- the kernel's model ---- */

static void watch(struct fakesys *f, const char *path, int kind, int dev)
{
    int wd = inotify_add_watch(f->inotify, path, IN_CLOSE_WRITE);

    CHECK(wd >= 0);
    for (unsigned i = 0; i < f->nr_watches; i++) {
        if (f->w[i].wd == wd) {
            f->w[i].kind = kind;
            f->w[i].dev = dev;
            return;
        }
    }
    CHECK(f->nr_watches < FS_MAX_WATCHES);
    f->w[f->nr_watches] = (struct fs_watch){.wd = wd, .kind = kind, .dev = dev};
    snprintf(f->w[f->nr_watches].path, sizeof(f->w[0].path), "%s", path);
    f->nr_watches++;
}

static int find(struct fakesys *f, const char *bdf)
{
    for (unsigned i = 0; i < f->nr; i++) {
        if (!f->d[i].gone && strcmp(f->d[i].bdf, bdf) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static const char *dev_dir(struct fakesys *f, int i)
{
    return sys_path(f, "devices/pci0000:00/%s", f->d[i].bdf);
}

static bool loaded(struct fakesys *f, const char *driver)
{
    struct stat st;

    return stat(sys_path(f, "bus/pci/drivers/%s", driver), &st) == 0;
}

static const char *driver_of(struct fakesys *f, int i)
{
    static __thread char name[64];
    char target[512];
    ssize_t n =
        readlink(sys_path(f, "devices/pci0000:00/%s/driver", f->d[i].bdf),
                 target, sizeof(target) - 1);

    if (n < 0) {
        return "";
    }
    target[n] = '\0';
    snprintf(name, sizeof(name), "%s", strrchr(target, '/') + 1);
    return name;
}

static bool in_group(struct fakesys *f, int i)
{
    struct stat st;

    return lstat(sys_path(f, "devices/pci0000:00/%s/iommu_group", f->d[i].bdf),
                 &st) == 0;
}

static void make_group(struct fakesys *f, int64_t g)
{
    const char *dir = sys_path(f, "kernel/iommu_groups/%" PRId64, g);
    struct stat st;

    if (stat(dir, &st) == 0) {
        return;
    }
    CHECK(mkdir(dir, 0755) == 0);
    CHECK(mkdir(sys_path(f, "kernel/iommu_groups/%" PRId64 "/devices", g),
                0755) == 0);
    put_text(sys_path(f, "kernel/iommu_groups/%" PRId64 "/type", g), "DMA\n");
    put_text(sys_path(f, "kernel/iommu_groups/%" PRId64 "/reserved_regions", g),
             "0x00000000fee00000 0x00000000feefffff msi\n");
}

static void join_group(struct fakesys *f, int i)
{
    char target[128];
    int64_t g = f->d[i].group;

    make_group(f, g);
    snprintf(target, sizeof(target), "../../../kernel/iommu_groups/%" PRId64,
             g);
    link_to(target,
            sys_path(f, "devices/pci0000:00/%s/iommu_group", f->d[i].bdf));
    snprintf(target, sizeof(target), "../../../../devices/pci0000:00/%s",
             f->d[i].bdf);
    link_to(target, sys_path(f, "kernel/iommu_groups/%" PRId64 "/devices/%s", g,
                             f->d[i].bdf));
}

static const char *vfio_file(struct fakesys *f, int64_t g)
{
    static char path[160];

    snprintf(path, sizeof(path), "%s/vfio/%" PRId64, f->dev, g);
    return path;
}

static void bind(struct fakesys *f, int i, const char *driver)
{
    char target[128];

    if ((f->d[i].flags & FS_GROUP_ON_BIND) && f->d[i].group >= 0 &&
        !in_group(f, i)) {
        join_group(f, i);
    }
    if (strcmp(driver, "vfio-pci") == 0) {
        if (!in_group(f, i) && !(f->d[i].flags & FS_VFIO_NO_GROUP)) {
            return; /* vfio-pci's probe fails without an IOMMU group */
        }
        if (in_group(f, i)) {
            put_text(vfio_file(f, f->d[i].group), "");
        }
    }
    snprintf(target, sizeof(target), "../../../bus/pci/drivers/%s", driver);
    link_to(target, sys_path(f, "devices/pci0000:00/%s/driver", f->d[i].bdf));
    snprintf(target, sizeof(target), "../../../../devices/pci0000:00/%s",
             f->d[i].bdf);
    link_to(target, sys_path(f, "bus/pci/drivers/%s/%s", driver, f->d[i].bdf));
}

static void unbind(struct fakesys *f, int i)
{
    char driver[64];

    snprintf(driver, sizeof(driver), "%s", driver_of(f, i));
    if (driver[0] == '\0') {
        return;
    }
    unlink(sys_path(f, "devices/pci0000:00/%s/driver", f->d[i].bdf));
    unlink(sys_path(f, "bus/pci/drivers/%s/%s", driver, f->d[i].bdf));
    if (strcmp(driver, "vfio-pci") != 0 || !in_group(f, i)) {
        return;
    }
    /* The group's file goes with its last device on vfio-pci. */
    for (unsigned k = 0; k < f->nr; k++) {
        if (!f->d[k].gone && f->d[k].group == f->d[i].group &&
            in_group(f, (int)k) &&
            strcmp(driver_of(f, (int)k), "vfio-pci") == 0) {
            return;
        }
    }
    unlink(vfio_file(f, f->d[i].group));
}

static void put_config(struct fakesys *f, int i, unsigned msix)
{
    uint8_t cfg[256] = {0x86, 0x80, 0xc9, 0x10};

    cfg[6] = 0x10; /* capability list */
    cfg[0x34] = 0x40;
    cfg[0x40] = 0x11; /* MSI-X */
    cfg[0x42] = (uint8_t)(msix - 1);
    cfg[0x43] = (uint8_t)((msix - 1) >> 8);
    /* Replaced whole: a reader never sees it half-written. */
    const char *path = sys_path(f, "devices/pci0000:00/%s/config", f->d[i].bdf);
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    put_file(tmp, cfg, sizeof(cfg));
    CHECK(rename(tmp, path) == 0);
}

static int add(struct fakesys *f, const char *bdf, uint32_t class,
               const char *native, int64_t group, unsigned flags, int pf)
{
    char target[128], text[32];

    CHECK(f->nr < FS_MAX_DEVICES);
    int i = (int)f->nr++;
    f->d[i] = (struct fs_device){.group = group, .flags = flags, .pf = pf};
    snprintf(f->d[i].bdf, sizeof(f->d[i].bdf), "%s", bdf);
    snprintf(f->d[i].native, sizeof(f->d[i].native), "%s", native);
    CHECK(mkdir(dev_dir(f, i), 0755) == 0);
    snprintf(target, sizeof(target), "../../../devices/pci0000:00/%s", bdf);
    link_to(target, sys_path(f, "bus/pci/devices/%s", bdf));
    snprintf(text, sizeof(text), "0x%06x\n", class);
    put_text(sys_path(f, "devices/pci0000:00/%s/class", bdf), text);
    put_text(sys_path(f, "devices/pci0000:00/%s/vendor", bdf), "0x8086\n");
    put_text(sys_path(f, "devices/pci0000:00/%s/driver_override", bdf),
             "(null)\n");
    put_config(f, i, DEFAULT_MSIX);
    if (group >= 0 && !(flags & FS_GROUP_ON_BIND)) {
        join_group(f, i);
    }
    if (native[0] != '\0' && loaded(f, native)) {
        bind(f, i, native);
    }
    return i;
}

static unsigned parse_uint(const char *text)
{
    return (unsigned)strtoul(text, NULL, 0);
}

static void create_vfs(struct fakesys *f, int pf, unsigned n)
{
    unsigned bus, dev, fn, seg;
    const char *dir = dev_dir(f, pf);
    char pf_dir[512];

    snprintf(pf_dir, sizeof(pf_dir), "%s", dir);
    CHECK(sscanf(f->d[pf].bdf, "%x:%x:%x.%x", &seg, &bus, &dev, &fn) == 4);
    bool probe = parse_uint(get_text(sys_path(
                     f, "devices/pci0000:00/%s/sriov_drivers_autoprobe",
                     f->d[pf].bdf))) != 0 ||
                 (f->d[pf].flags & FS_VF_AUTOPROBE);
    for (unsigned k = 0; k < n; k++) {
        unsigned rid = (bus << 8 | dev << 3 | fn) + 0x80 + 2 * k;
        char bdf[16], target[64], link[600];
        snprintf(bdf, sizeof(bdf), "%04x:%02x:%02x.%x", seg & 0xffff,
                 (rid >> 8) & 0xff, (rid >> 3) & 0x1f, rid & 7);
        int vf = add(f, bdf, 0x020000, "", VF_GROUP_BASE + f->nr,
                     FS_GROUP_ON_BIND, pf);
        snprintf(target, sizeof(target), "../%s", f->d[pf].bdf);
        link_to(target, sys_path(f, "devices/pci0000:00/%s/physfn", bdf));
        snprintf(target, sizeof(target), "../%s", bdf);
        snprintf(link, sizeof(link), "%s/virtfn%u", pf_dir, k);
        link_to(target, link);
        if (!(f->d[pf].flags & FS_VF_NO_MSIX_FILE)) {
            const char *msix =
                sys_path(f, "devices/pci0000:00/%s/sriov_vf_msix_count", bdf);
            put_text(msix, "");
            watch(f, msix, K_MSIX, vf);
            if (f->d[pf].flags & FS_VF_MSIX_READONLY) {
                lock_file(f, msix);
            }
        }
        if (probe && loaded(f, f->d[pf].vf_driver)) {
            bind(f, vf, f->d[pf].vf_driver);
        }
    }
    f->d[pf].nr_vfs = n;
}

static void remove_vfs(struct fakesys *f, int pf)
{
    for (unsigned i = 0; i < f->nr; i++) {
        if (f->d[i].gone || f->d[i].pf != pf) {
            continue;
        }
        unbind(f, (int)i);
        if (in_group(f, (int)i)) {
            rm_tree(sys_path(f, "kernel/iommu_groups/%" PRId64, f->d[i].group));
        }
        unlink(sys_path(f, "bus/pci/devices/%s", f->d[i].bdf));
        rm_tree(dev_dir(f, (int)i));
        f->d[i].gone = true;
    }
    for (unsigned k = 0; k < f->d[pf].nr_vfs; k++) {
        unlink(sys_path(f, "devices/pci0000:00/%s/virtfn%u", f->d[pf].bdf, k));
    }
    f->d[pf].nr_vfs = 0;
}

/* drivers_probe: driver_override first; a VF only with its PF's autoprobe
 * on, or an override; else the device's own driver. */
static void probe(struct fakesys *f, const char *bdf)
{
    int i = find(f, bdf);
    char target[64];

    if (i < 0 || driver_of(f, i)[0] != '\0') {
        return;
    }
    snprintf(
        target, sizeof(target), "%s",
        get_text(sys_path(f, "devices/pci0000:00/%s/driver_override", bdf)));
    if (strcmp(target, "(null)") == 0 || target[0] == '\0') {
        int pf = f->d[i].pf;
        if (pf < 0) {
            snprintf(target, sizeof(target), "%s", f->d[i].native);
        } else if (parse_uint(get_text(sys_path(
                       f, "devices/pci0000:00/%s/sriov_drivers_autoprobe",
                       f->d[pf].bdf))) != 0) {
            snprintf(target, sizeof(target), "%s", f->d[pf].vf_driver);
        } else {
            return;
        }
    }
    if (target[0] != '\0' && loaded(f, target)) {
        bind(f, i, target);
    }
}

static void react(struct fakesys *f, struct fs_watch *w)
{
    const char *text = get_text(w->path);
    int i;

    if (w->lock_after_write) {
        w->lock_after_write = false;
        lock_file(f, w->path);
    }
    switch (w->kind) {
    case K_PROBE:
        probe(f, text);
        break;
    case K_UNBIND:
        i = find(f, text);
        /* Only from the driver whose unbind file it is. */
        if (i >= 0 && !(f->d[i].flags & FS_UNBIND_STUCK) &&
            driver_of(f, i)[0] != '\0' &&
            strcmp(w->path, sys_path(f, "bus/pci/drivers/%s/unbind",
                                     driver_of(f, i))) == 0) {
            unbind(f, i);
        }
        break;
    case K_NUMVFS:
        if (f->d[w->dev].flags & FS_SRIOV_BROKEN) {
            /* Said once: this write is an event too. */
            if (parse_uint(text) != 0) {
                put_text(w->path, "0\n");
            }
        } else if (parse_uint(text) == 0) {
            remove_vfs(f, w->dev);
        } else if (f->d[w->dev].nr_vfs == 0) {
            create_vfs(f, w->dev, parse_uint(text));
        }
        break;
    case K_MSIX:
        i = w->dev;
        if (!f->d[i].gone && driver_of(f, i)[0] == '\0' &&
            !(f->d[f->d[i].pf].flags & FS_VF_MSIX_IGNORED)) {
            unsigned n = parse_uint(text);
            put_config(f, i, n == 0 ? DEFAULT_MSIX : n);
        }
        break;
    }
    f->settled += w->kind == K_SETTLE;
}

static void *kernel(void *opaque)
{
    struct fakesys *f = opaque;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));

    for (;;) {
        struct pollfd pfd[2] = {{f->inotify, POLLIN, 0},
                                {f->stop_fd, POLLIN, 0}};
        if (poll(pfd, 2, -1) < 0 || pfd[1].revents) {
            return NULL;
        }
        ssize_t n = read(f->inotify, buf, sizeof(buf));
        for (char *p = buf; n > 0 && p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            pthread_mutex_lock(&f->lock);
            for (unsigned k = 0; k < f->nr_watches; k++) {
                if (f->w[k].wd == ev->wd && (ev->mask & IN_CLOSE_WRITE)) {
                    react(f, &f->w[k]);
                }
            }
            pthread_mutex_unlock(&f->lock);
            p += sizeof(*ev) + ev->len;
        }
    }
}

/* ---- the tree ---- */

void fs_init(struct fakesys *f)
{
    static const char *const dirs[] = {
        "",
        "/sys",
        "/sys/bus",
        "/sys/bus/pci",
        "/sys/bus/pci/devices",
        "/sys/bus/pci/drivers",
        "/sys/devices",
        "/sys/devices/pci0000:00",
        "/sys/kernel",
        "/sys/kernel/iommu_groups",
        "/dev",
        "/dev/vfio",
    };
    const char *tmp = getenv("TMPDIR");

    memset(f, 0, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "%s/viommuctl-XXXXXX",
             tmp != NULL && strlen(tmp) < 40 ? tmp : "/tmp");
    CHECK(mkdtemp(f->root) != NULL);
    for (size_t i = 1; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s%s", f->root, dirs[i]);
        CHECK(mkdir(path, 0755) == 0);
    }
    snprintf(f->sys, sizeof(f->sys), "%s/sys", f->root);
    snprintf(f->dev, sizeof(f->dev), "%s/dev", f->root);
    snprintf(f->state, sizeof(f->state), "%s/state.json", f->root);
    CHECK(pthread_mutex_init(&f->lock, NULL) == 0);
    f->inotify = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    f->stop_fd = eventfd(0, EFD_CLOEXEC);
    CHECK(f->inotify >= 0 && f->stop_fd >= 0);
    const char *probe_file = sys_path(f, "bus/pci/drivers_probe");
    put_text(probe_file, "");
    watch(f, probe_file, K_PROBE, -1);
    const char *settle = sys_path(f, "settle");
    put_text(settle, "");
    watch(f, settle, K_SETTLE, -1);
    CHECK(pthread_create(&f->kernel, NULL, kernel, f) == 0);
}

void fs_fini(struct fakesys *f)
{
    uint64_t one = 1;

    CHECK(write(f->stop_fd, &one, sizeof(one)) == sizeof(one));
    pthread_join(f->kernel, NULL);
    close(f->inotify);
    close(f->stop_fd);
    for (unsigned i = 0; i < f->nr_locked; i++) {
        set_immutable(f->locked[i], false);
    }
    rm_tree(f->root);
    pthread_mutex_destroy(&f->lock);
}

void fs_load(struct fakesys *f, const char *driver)
{
    pthread_mutex_lock(&f->lock);
    CHECK(mkdir(sys_path(f, "bus/pci/drivers/%s", driver), 0755) == 0);
    put_text(sys_path(f, "bus/pci/drivers/%s/bind", driver), "");
    const char *path = sys_path(f, "bus/pci/drivers/%s/unbind", driver);
    put_text(path, "");
    watch(f, path, K_UNBIND, -1);
    pthread_mutex_unlock(&f->lock);
}

void fs_unload(struct fakesys *f, const char *driver)
{
    pthread_mutex_lock(&f->lock);
    for (unsigned i = 0; i < f->nr; i++) {
        if (!f->d[i].gone && strcmp(driver_of(f, (int)i), driver) == 0) {
            unbind(f, (int)i);
        }
    }
    rm_tree(sys_path(f, "bus/pci/drivers/%s", driver));
    pthread_mutex_unlock(&f->lock);
}

int fs_add(struct fakesys *f, const char *bdf, uint32_t class,
           const char *native, int64_t group, unsigned flags)
{
    pthread_mutex_lock(&f->lock);
    int i = add(f, bdf, class, native, group, flags, -1);
    pthread_mutex_unlock(&f->lock);
    return i;
}

void fs_add_platform(struct fakesys *f, const char *name, int64_t group)
{
    char target[128];
    const char *dir = sys_path(f, "devices/platform");

    pthread_mutex_lock(&f->lock);
    mkdir(dir, 0755);
    CHECK(mkdir(sys_path(f, "devices/platform/%s", name), 0755) == 0);
    link_to("../../../bus/platform/drivers/fake",
            sys_path(f, "devices/platform/%s/driver", name));
    make_group(f, group);
    snprintf(target, sizeof(target), "../../../../devices/platform/%s", name);
    link_to(target, sys_path(f, "kernel/iommu_groups/%" PRId64 "/devices/%s",
                             group, name));
    pthread_mutex_unlock(&f->lock);
}

void fs_sriov(struct fakesys *f, int i, unsigned total_vfs,
              const char *vf_driver, int total_msix)
{
    char text[32];

    pthread_mutex_lock(&f->lock);
    snprintf(f->d[i].vf_driver, sizeof(f->d[i].vf_driver), "%s", vf_driver);
    snprintf(text, sizeof(text), "%u\n", total_vfs);
    put_text(sys_path(f, "devices/pci0000:00/%s/sriov_totalvfs", f->d[i].bdf),
             text);
    put_text(sys_path(f, "devices/pci0000:00/%s/sriov_drivers_autoprobe",
                      f->d[i].bdf),
             "1\n");
    if (total_msix >= 0) {
        snprintf(text, sizeof(text), "%d\n", total_msix);
        put_text(sys_path(f, "devices/pci0000:00/%s/sriov_vf_total_msix",
                          f->d[i].bdf),
                 text);
    }
    const char *numvfs =
        sys_path(f, "devices/pci0000:00/%s/sriov_numvfs", f->d[i].bdf);
    put_text(numvfs, "0\n");
    watch(f, numvfs, K_NUMVFS, i);
    pthread_mutex_unlock(&f->lock);
}

void fs_regions(struct fakesys *f, int64_t group, const char *text)
{
    pthread_mutex_lock(&f->lock);
    make_group(f, group);
    put_text(
        sys_path(f, "kernel/iommu_groups/%" PRId64 "/reserved_regions", group),
        text);
    pthread_mutex_unlock(&f->lock);
}

const char *fs_driver(struct fakesys *f, const char *bdf)
{
    pthread_mutex_lock(&f->lock);
    int i = find(f, bdf);
    const char *name = i >= 0 ? driver_of(f, i) : "";
    pthread_mutex_unlock(&f->lock);
    return name;
}

const char *fs_attr(struct fakesys *f, const char *bdf, const char *attr)
{
    return get_text(sys_path(f, "bus/pci/devices/%s/%s", bdf, attr));
}

int64_t fs_group(struct fakesys *f, const char *bdf)
{
    char target[256];
    ssize_t n = readlink(sys_path(f, "bus/pci/devices/%s/iommu_group", bdf),
                         target, sizeof(target) - 1);

    if (n < 0) {
        return -1;
    }
    target[n] = '\0';
    return strtoll(strrchr(target, '/') + 1, NULL, 10);
}

unsigned fs_msix(struct fakesys *f, const char *bdf)
{
    uint8_t cfg[256];
    int fd = open(sys_path(f, "bus/pci/devices/%s/config", bdf),
                  O_RDONLY | O_CLOEXEC);

    CHECK(fd >= 0 && read(fd, cfg, sizeof(cfg)) == sizeof(cfg));
    close(fd);
    return ((cfg[0x42] | cfg[0x43] << 8) & 0x7ff) + 1u;
}

bool fs_exists(struct fakesys *f, const char *path_in_root)
{
    char path[512];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", f->root, path_in_root);
    return lstat(path, &st) == 0;
}

void fs_settle(struct fakesys *f)
{
    pthread_mutex_lock(&f->lock);
    unsigned before = f->settled;
    pthread_mutex_unlock(&f->lock);
    /* Events come in order: once this one is seen, so is every write
     * made before it. */
    put_text(sys_path(f, "settle"), "");
    for (int tries = 0; tries < 500; tries++) {
        pthread_mutex_lock(&f->lock);
        bool done = f->settled > before;
        pthread_mutex_unlock(&f->lock);
        if (done) {
            return;
        }
        sleep_ms(2);
    }
    CHECK(!"the kernel thread settles");
}

void fs_readonly(struct fakesys *f, const char *path)
{
    pthread_mutex_lock(&f->lock);
    lock_file(f, sys_path(f, "%s", path));
    pthread_mutex_unlock(&f->lock);
}

void fs_readonly_after_write(struct fakesys *f, const char *path)
{
    const char *full = sys_path(f, "%s", path);

    pthread_mutex_lock(&f->lock);
    /* A file the kernel watches already keeps its reaction. */
    unsigned k = 0;
    while (k < f->nr_watches && strcmp(f->w[k].path, full) != 0) {
        k++;
    }
    if (k == f->nr_watches) {
        watch(f, full, K_PLAIN, -1);
    }
    f->w[k].lock_after_write = true;
    pthread_mutex_unlock(&f->lock);
}

void fs_write(struct fakesys *f, const char *path, const char *text)
{
    pthread_mutex_lock(&f->lock);
    put_text(sys_path(f, "%s", path), text);
    pthread_mutex_unlock(&f->lock);
}

pid_t fs_hold(struct fakesys *f, int64_t group, int ms)
{
    char path[160];
    int ready[2];
    char c;

    snprintf(path, sizeof(path), "%s/vfio/%" PRId64, f->dev, group);
    CHECK(pipe(ready) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        prctl(PR_SET_NAME, "fake-vmm");
        int fd = open(path, O_RDONLY);
        if (fd < 0 || write(ready[1], "x", 1) != 1) {
            _exit(1);
        }
        sleep_ms(ms);
        _exit(0);
    }
    close(ready[1]);
    CHECK(read(ready[0], &c, 1) == 1);
    close(ready[0]);
    return pid;
}

void fs_release_holder(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}
