/* SPDX-License-Identifier: BSD-3-Clause */
#include "sysfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "viommuctl.h"

void dev_path(const struct tool *t, char *buf, size_t len, const char *bdf,
              const char *attr)
{
    snprintf(buf, len, "%s/bus/pci/devices/%s%s%s", t->sysfs, bdf,
             attr != NULL ? "/" : "", attr != NULL ? attr : "");
}

bool dev_exists(const struct tool *t, const char *bdf)
{
    char path[TOOL_PATH_MAX];

    dev_path(t, path, sizeof(path), bdf, NULL);
    return access(path, F_OK) == 0;
}

bool dev_has(const struct tool *t, const char *bdf, const char *attr)
{
    char path[TOOL_PATH_MAX];

    dev_path(t, path, sizeof(path), bdf, attr);
    return access(path, F_OK) == 0;
}

bool driver_loaded(const struct tool *t, const char *driver)
{
    char path[TOOL_PATH_MAX];

    snprintf(path, sizeof(path), "%s/bus/pci/drivers/%s", t->sysfs, driver);
    return access(path, F_OK) == 0;
}

/* Up to len bytes of a file; the count, or -errno. */
/* An attribute file: a regular file, as sysfs has them. Anything else (a
 * FIFO, a device) where an attribute should be is refused with -EINVAL
 * before it could block the tool. */
static int open_attr(const char *path, int flags)
{
    struct stat st;
    int fd = open(path, flags | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0) {
        return -errno;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    return fd;
}

static ssize_t read_file(const char *path, void *buf, size_t len)
{
    int fd = open_attr(path, O_RDONLY);

    if (fd < 0) {
        return fd;
    }
    ssize_t n = read(fd, buf, len);
    int err = errno;
    close(fd);
    return n < 0 ? -err : n;
}

int attr_read(struct tool *t, const char *path, char *buf, size_t len)
{
    ssize_t n = read_file(path, buf, len - 1);

    if (n < 0) {
        return set_why(t, (int)n, "cannot read %s: %s", path,
                       strerror((int)-n));
    }
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\n') {
        buf[n - 1] = '\0';
    }
    return 0;
}

int attr_write(struct tool *t, const char *path, const char *value)
{
    char text[128];
    int len = snprintf(text, sizeof(text), "%s\n", value);
    int fd = open_attr(path, O_WRONLY | O_TRUNC);
    int err = 0;

    if (fd < 0) {
        err = fd;
    } else {
        ssize_t n = write(fd, text, (size_t)len);
        err = n == len ? 0 : n < 0 ? -errno : -EIO;
        if (close(fd) != 0 && err == 0) {
            err = -errno;
        }
    }
    if (err != 0) {
        return set_why(t, err, "writing \"%s\" to %s: %s", value, path,
                       strerror(-err));
    }
    return 0;
}

int dev_read(struct tool *t, const char *bdf, const char *attr, char *buf,
             size_t len)
{
    char path[TOOL_PATH_MAX];

    dev_path(t, path, sizeof(path), bdf, attr);
    return attr_read(t, path, buf, len);
}

int dev_read_uint(struct tool *t, const char *bdf, const char *attr,
                  uint64_t *out)
{
    char text[64];
    int err = dev_read(t, bdf, attr, text, sizeof(text));

    if (err == 0 && !parse_number(text, UINT64_MAX, out)) {
        char path[TOOL_PATH_MAX];
        dev_path(t, path, sizeof(path), bdf, attr);
        return set_why(t, -EINVAL, "%s holds \"%s\", not a number", path, text);
    }
    return err;
}

int dev_write(struct tool *t, const char *bdf, const char *attr,
              const char *value)
{
    char path[TOOL_PATH_MAX];

    dev_path(t, path, sizeof(path), bdf, attr);
    return attr_write(t, path, value);
}

/* The last component of where symbolic link `path` points; false when it
 * is no link. */
static bool link_name(const char *path, char *name, size_t len)
{
    char target[TOOL_PATH_MAX];
    ssize_t n = readlink(path, target, sizeof(target) - 1);

    if (n < 0) {
        return false;
    }
    target[n] = '\0';
    const char *slash = strrchr(target, '/');
    snprintf(name, len, "%s", slash != NULL ? slash + 1 : target);
    return true;
}

void dev_driver(const struct tool *t, const char *bdf, char *name, size_t len)
{
    char path[TOOL_PATH_MAX];

    dev_path(t, path, sizeof(path), bdf, "driver");
    if (!link_name(path, name, len)) {
        name[0] = '\0';
    }
}

int dev_override(struct tool *t, const char *bdf, char *name, size_t len)
{
    int err = dev_read(t, bdf, "driver_override", name, len);

    if (err == 0 && strcmp(name, "(null)") == 0) {
        name[0] = '\0';
    }
    return err;
}

int64_t dev_group(const struct tool *t, const char *bdf)
{
    char path[TOOL_PATH_MAX], name[32];
    uint64_t g;

    dev_path(t, path, sizeof(path), bdf, "iommu_group");
    if (!link_name(path, name, sizeof(name)) ||
        !parse_number(name, INT32_MAX, &g)) {
        return -1;
    }
    return (int64_t)g;
}

bool dev_is_bridge(struct tool *t, const char *bdf)
{
    char text[32];
    uint64_t class;

    return dev_read(t, bdf, "class", text, sizeof(text)) == 0 &&
           parse_number(text, UINT32_MAX, &class) && class >> 16 == 0x06;
}

bool member_viable(struct tool *t, const char *name)
{
    char driver[DRIVER_NAME_MAX];

    if (!dev_exists(t, name)) {
        return false; /* not PCI: its driver is not ours to judge */
    }
    dev_driver(t, name, driver, sizeof(driver));
    return driver[0] == '\0' || strcmp(driver, "vfio-pci") == 0 ||
           strcmp(driver, "pci-stub") == 0 || dev_is_bridge(t, name);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct member *)a)->name,
                  ((const struct member *)b)->name);
}

int group_members(struct tool *t, int64_t g, struct member **out, size_t *n)
{
    char path[TOOL_PATH_MAX];
    struct member *m = NULL;
    size_t cap = 0;
    struct dirent *d;

    *n = 0;
    snprintf(path, sizeof(path), "%s/kernel/iommu_groups/%" PRId64 "/devices",
             t->sysfs, g);
    DIR *dir = opendir(path);
    if (dir == NULL) {
        return set_why(t, -errno, "cannot list %s: %s", path, strerror(errno));
    }
    while ((d = readdir(dir)) != NULL) {
        if (d->d_name[0] == '.') {
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            struct member *grown = realloc(m, cap * sizeof(*m));
            if (grown == NULL) {
                free(m);
                closedir(dir);
                return set_why(t, -ENOMEM, "out of memory");
            }
            m = grown;
        }
        if (strlen(d->d_name) >= sizeof(m[*n].name)) {
            continue; /* no device name is that long */
        }
        strcpy(m[*n].name, d->d_name);
        (*n)++;
    }
    closedir(dir);
    if (*n > 0) {
        qsort(m, *n, sizeof(*m), by_name);
    }
    *out = m;
    return 0;
}

int group_regions(struct tool *t, int64_t g, struct region *r, unsigned *nr)
{
    char path[TOOL_PATH_MAX], text[8192];

    *nr = 0;
    snprintf(path, sizeof(path),
             "%s/kernel/iommu_groups/%" PRId64 "/reserved_regions", t->sysfs,
             g);
    int err = attr_read(t, path, text, sizeof(text));
    for (char *line = text; err == 0 && *line != '\0';) {
        char *nl = strchr(line, '\n');
        struct region reg;
        if (nl != NULL) {
            *nl = '\0';
        }
        if (sscanf(line, "%" SCNx64 " %" SCNx64 " %23s", &reg.start, &reg.end,
                   reg.type) != 3 ||
            reg.end < reg.start) {
            return set_why(t, -EINVAL, "%s: cannot parse \"%s\"", path, line);
        }
        /* VFIO maps through these (a USB controller's RMRR, say). */
        if (strcmp(reg.type, "direct-relaxable") != 0) {
            if (*nr == MAX_REGIONS) {
                return set_why(t, -E2BIG,
                               "%s lists more than %d reserved regions, the "
                               "most the daemon takes",
                               path, MAX_REGIONS);
            }
            r[(*nr)++] = reg;
        }
        line = nl != NULL ? nl + 1 : line + strlen(line);
    }
    return err;
}

/* The files whose holders matter (the group's, each device's), by their
 * canonical paths: what /proc/PID/fd/N links to. */
struct target {
    char path[TOOL_PATH_MAX];
};

static void add_target(struct target *tg, unsigned *n, unsigned max,
                       const char *path)
{
    char real[PATH_MAX];

    if (*n < max && realpath(path, real) != NULL &&
        strlen(real) < sizeof(tg[*n].path)) {
        strcpy(tg[*n].path, real);
        (*n)++;
    }
}

/* Adds a holder to list, unless that process and file are there. */
static void add_holder(struct json_object *list, long pid, const char *file)
{
    char path[64], comm[64] = "?";

    for (size_t i = 0; i < json_object_array_length(list); i++) {
        struct json_object *h = json_object_array_get_idx(list, i), *p, *f;
        json_object_object_get_ex(h, "pid", &p);
        json_object_object_get_ex(h, "file", &f);
        if (json_object_get_int64(p) == pid &&
            strcmp(json_object_get_string(f), file) == 0) {
            return;
        }
    }
    snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
    ssize_t n = read_file(path, comm, sizeof(comm) - 1);
    if (n > 0) {
        comm[n] = '\0';
        comm[strcspn(comm, "\n")] = '\0';
    }
    struct json_object *h = json_object_new_object();
    json_object_object_add(h, "pid", json_object_new_int64(pid));
    json_object_object_add(h, "comm", json_object_new_string(comm));
    json_object_object_add(h, "file", json_object_new_string(file));
    json_object_array_add(list, h);
}

struct json_object *vfio_holders(struct tool *t, int64_t g,
                                 const struct member *m, size_t n)
{
    struct json_object *list = json_object_new_array();
    struct target tg[16];
    unsigned nt = 0;
    char path[TOOL_PATH_MAX];

    if (g >= 0) {
        snprintf(path, sizeof(path), "%s/vfio/%" PRId64, t->dev, g);
        add_target(tg, &nt, 16, path);
    }
    for (size_t i = 0; i < n; i++) {
        /* The VFIO device files (iommufd's way in) of each device. */
        dev_path(t, path, sizeof(path), m[i].name, "vfio-dev");
        DIR *dir = opendir(path);
        struct dirent *d;
        while (dir != NULL && (d = readdir(dir)) != NULL) {
            if (d->d_name[0] != '.') {
                char file[TOOL_PATH_MAX];
                snprintf(file, sizeof(file), "%s/vfio/devices/%.32s", t->dev,
                         d->d_name);
                add_target(tg, &nt, 16, file);
            }
        }
        if (dir != NULL) {
            closedir(dir);
        }
    }
    DIR *proc = nt > 0 ? opendir("/proc") : NULL;
    struct dirent *p;
    while (proc != NULL && (p = readdir(proc)) != NULL) {
        char *end;
        long pid = strtol(p->d_name, &end, 10);
        if (*end != '\0' || pid <= 0) {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
        DIR *fds = opendir(path);
        struct dirent *f;
        while (fds != NULL && (f = readdir(fds)) != NULL) {
            char fd_path[64], file[TOOL_PATH_MAX];
            /* The link's text only: following it could hang on a file
             * of a dead network mount. */
            snprintf(fd_path, sizeof(fd_path), "/proc/%ld/fd/%.10s", pid,
                     f->d_name);
            ssize_t len = readlink(fd_path, file, sizeof(file) - 1);
            if (f->d_name[0] == '.' || len <= 0) {
                continue;
            }
            file[len] = '\0';
            for (unsigned i = 0; i < nt; i++) {
                if (strcmp(file, tg[i].path) == 0) {
                    add_holder(list, pid, tg[i].path);
                }
            }
        }
        if (fds != NULL) {
            closedir(fds);
        }
    }
    if (proc != NULL) {
        closedir(proc);
    }
    return list;
}

int vfio_group_claim(struct tool *t, int64_t g)
{
    char path[TOOL_PATH_MAX];

    if (g < 0) {
        return -ENOENT;
    }
    snprintf(path, sizeof(path), "%s/vfio/%" PRId64, t->dev, g);
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    return fd >= 0 ? fd : errno == EBUSY ? -EBUSY : -ENOENT;
}

void holders_text(struct json_object *list, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < json_object_array_length(list) && used < len; i++) {
        struct json_object *h = json_object_array_get_idx(list, i), *v;
        int64_t pid = 0;
        const char *comm = "?", *file = "?";
        if (json_object_object_get_ex(h, "pid", &v)) {
            pid = json_object_get_int64(v);
        }
        if (json_object_object_get_ex(h, "comm", &v)) {
            comm = json_object_get_string(v);
        }
        if (json_object_object_get_ex(h, "file", &v)) {
            file = json_object_get_string(v);
        }
        int n = snprintf(buf + used, len - used,
                         "%sprocess %" PRId64 " (%s) holds %s", i ? ", " : "",
                         pid, comm, file);
        used += n > 0 ? (size_t)n : 0;
    }
}

/* Waits until the device's driver is `want` ("": none). */
static int wait_driver(struct tool *t, const char *bdf, const char *want)
{
    int64_t deadline = now_ms() + t->timeout_ms;
    char now[DRIVER_NAME_MAX];

    for (;;) {
        dev_driver(t, bdf, now, sizeof(now));
        if (strcmp(now, want) == 0) {
            return 0;
        }
        if (now_ms() >= deadline) {
            break;
        }
        sleep_ms(10);
    }
    if (want[0] == '\0') {
        return set_why(t, -ETIMEDOUT, "%s is still bound to %s", bdf, now);
    }
    return set_why(t, -ETIMEDOUT, "%s: %s did not take it (%s)", bdf, want,
                   now[0] != '\0' ? now : "it has no driver");
}

static int unbind(struct tool *t, const char *bdf, const char *driver)
{
    char path[TOOL_PATH_MAX];

    snprintf(path, sizeof(path), "%s/bus/pci/drivers/%s/unbind", t->sysfs,
             driver);
    int err = attr_write(t, path, bdf);
    return err != 0 ? err : wait_driver(t, bdf, "");
}

static int probe(struct tool *t, const char *bdf, const char *want)
{
    char path[TOOL_PATH_MAX];

    snprintf(path, sizeof(path), "%s/bus/pci/drivers_probe", t->sysfs);
    int err = attr_write(t, path, bdf);
    return err != 0 ? err : wait_driver(t, bdf, want);
}

int bind_vfio(struct tool *t, const struct entry *e)
{
    char now[DRIVER_NAME_MAX];
    int err = dev_write(t, e->bdf, "driver_override", "vfio-pci");

    dev_driver(t, e->bdf, now, sizeof(now));
    if (err == 0 && strcmp(now, "vfio-pci") == 0) {
        return 0;
    }
    if (err == 0 && now[0] != '\0') {
        err = unbind(t, e->bdf, now);
    }
    return err != 0 ? err : probe(t, e->bdf, "vfio-pci");
}

int restore_driver(struct tool *t, const struct entry *e)
{
    char now[DRIVER_NAME_MAX], override[DRIVER_NAME_MAX];
    int err = 0;

    dev_driver(t, e->bdf, now, sizeof(now));
    if (strcmp(now, e->driver) != 0 && now[0] != '\0') {
        err = unbind(t, e->bdf, now);
    }
    if (err == 0) {
        err = dev_override(t, e->bdf, override, sizeof(override));
    }
    if (err == 0 && strcmp(override, e->override) != 0) {
        err = dev_write(t, e->bdf, "driver_override", e->override);
    }
    if (err == 0 && e->driver[0] != '\0' && strcmp(now, e->driver) != 0) {
        err = probe(t, e->bdf, e->driver);
    }
    return err;
}

int vf_name(const struct tool *t, const char *pf, unsigned i,
            char bdf[PCI_NAME_LEN])
{
    char path[TOOL_PATH_MAX], attr[32];

    snprintf(attr, sizeof(attr), "virtfn%u", i);
    dev_path(t, path, sizeof(path), pf, attr);
    return link_name(path, bdf, PCI_NAME_LEN) ? 0 : -ENOENT;
}

int msix_table_size(struct tool *t, const char *bdf, unsigned *size)
{
    char path[TOOL_PATH_MAX];
    uint8_t cfg[256];

    dev_path(t, path, sizeof(path), bdf, "config");
    ssize_t n = read_file(path, cfg, sizeof(cfg));
    if (n < 0) {
        return set_why(t, (int)n, "cannot read %s: %s", path,
                       strerror((int)-n));
    }
    if (n < 64 || !(cfg[6] & 0x10)) { /* no capability list */
        return set_why(t, -ENOENT, "%s: no MSI-X capability", bdf);
    }
    /* The capability list, at most 48 hops (it could loop). */
    unsigned pos = cfg[0x34] & 0xfc;
    for (int hops = 0; hops < 48 && pos >= 0x40 && pos + 4 <= (size_t)n;
         hops++) {
        if (cfg[pos] == 0x11) { /* MSI-X: Message Control, bits 10:0 */
            *size = ((cfg[pos + 2] | cfg[pos + 3] << 8) & 0x7ff) + 1u;
            return 0;
        }
        pos = cfg[pos + 1] & 0xfc;
    }
    return set_why(t, -ENOENT, "%s: no MSI-X capability", bdf);
}
