/* SPDX-License-Identifier: BSD-3-Clause */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sysfs.h"

/* The kernel writes reserved_regions in one page; twice that is plenty. */
#define TEXT_MAX 8192

static int path_of(char path[PATH_MAX], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int path_of(char path[PATH_MAX], const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(path, PATH_MAX, fmt, ap);
    va_end(ap);
    return n >= 0 && n < PATH_MAX ? 0 : -ENAMETOOLONG;
}

/* The last component of where symbolic link `path` points, into name:
 * -errno (and "") when it is no link or its name does not fit. */
static int link_name(const char *path, char *name, size_t len)
{
    char target[PATH_MAX];
    ssize_t n = readlink(path, target, sizeof(target) - 1);

    name[0] = '\0';
    if (n < 0) {
        return -errno;
    }
    target[n] = '\0';
    const char *slash = strrchr(target, '/');
    const char *base = slash != NULL ? slash + 1 : target;
    if (strlen(base) >= len) {
        return -ENAMETOOLONG;
    }
    strcpy(name, base);
    return 0;
}

int hostsys_device_group(const char *root, const char *dev, uint32_t *group)
{
    char path[PATH_MAX], name[32];
    int err = path_of(path, "%s/bus/pci/devices/%s", root, dev);

    if (err != 0) {
        return err;
    }
    if (access(path, F_OK) != 0) {
        return -ENODEV;
    }
    err = path_of(path, "%s/bus/pci/devices/%s/iommu_group", root, dev);
    if (err == 0) {
        err = link_name(path, name, sizeof(name));
    }
    if (err != 0) {
        return -ENOENT;
    }
    char *end;
    errno = 0;
    unsigned long long g = strtoull(name, &end, 10);
    if (name[0] < '0' || name[0] > '9' || *end != '\0' || errno != 0 ||
        g > UINT32_MAX) {
        return -ENOENT;
    }
    *group = (uint32_t)g;
    return 0;
}

static int driver_of(const char *path, char *name, size_t len)
{
    int err = link_name(path, name, len);

    return err == -ENOENT || err == -EINVAL ? -ENOENT : err;
}

int hostsys_device_driver(const char *root, const char *dev, char *name,
                          size_t len)
{
    char path[PATH_MAX];
    int err = path_of(path, "%s/bus/pci/devices/%s/driver", root, dev);

    if (err != 0) {
        name[0] = '\0';
        return err;
    }
    return driver_of(path, name, len);
}

int hostsys_member_driver(const char *root, uint32_t group, const char *member,
                          char *name, size_t len)
{
    char path[PATH_MAX];
    int err =
        path_of(path, "%s/kernel/iommu_groups/%" PRIu32 "/devices/%s/driver",
                root, group, member);

    if (err != 0) {
        name[0] = '\0';
        return err;
    }
    return driver_of(path, name, len);
}

int hostsys_device_vfio_cdev(const char *root, const char *dev, char *name,
                             size_t len)
{
    char path[PATH_MAX];
    struct dirent *e;
    int err = path_of(path, "%s/bus/pci/devices/%s/vfio-dev", root, dev);

    name[0] = '\0';
    if (err != 0) {
        return err;
    }
    DIR *dir = opendir(path);
    if (dir == NULL) {
        return -ENOENT;
    }
    err = -ENOENT;
    while ((e = readdir(dir)) != NULL) {
        if (strncmp(e->d_name, "vfio", 4) == 0) {
            err = strlen(e->d_name) < len ? 0 : -ENAMETOOLONG;
            if (err == 0) {
                strcpy(name, e->d_name);
            }
            break;
        }
    }
    closedir(dir);
    return err;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct hostsys_member *)a)->name,
                  ((const struct hostsys_member *)b)->name);
}

int hostsys_group_members(const char *root, uint32_t group,
                          struct hostsys_member **out, size_t *n)
{
    char path[PATH_MAX];
    struct hostsys_member *m = NULL;
    size_t cap = 0, count = 0;
    struct dirent *e;
    int err = path_of(path, "%s/kernel/iommu_groups/%" PRIu32 "/devices", root,
                      group);

    *out = NULL;
    *n = 0;
    if (err != 0) {
        return err;
    }
    DIR *dir = opendir(path);
    if (dir == NULL) {
        return -errno;
    }
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof(m->name)) {
            continue; /* no device name is that long */
        }
        if (count == cap) {
            cap = cap != 0 ? 2 * cap : 8;
            struct hostsys_member *grown = realloc(m, cap * sizeof(*m));
            if (grown == NULL) {
                free(m);
                closedir(dir);
                return -ENOMEM;
            }
            m = grown;
        }
        strcpy(m[count++].name, e->d_name);
    }
    closedir(dir);
    if (count > 0) {
        qsort(m, count, sizeof(*m), by_name);
    }
    *out = m;
    *n = count;
    return 0;
}

/*
 * Since Linux 5.19 a group is viable when none of its devices is bound to
 * a driver that uses the DMA API: a driver that leaves DMA to someone else
 * says so with driver_managed_dma, and these are the ones a host shows
 * beside a device being assigned:
 * - no driver at all: nothing does DMA for the device;
 * - vfio-pci: the device is VFIO's, assigned too or ready to be;
 * - pci-stub: binds only to keep other drivers away, does no DMA;
 * - pcieport: a PCIe root or switch port in the group (its services, AER
 *   and hotplug, do no DMA), which before 5.19 VFIO let pass as a bridge.
 * A bridge bound to anything else (shpchp, an ISA bridge's lpc_ich) makes
 * the group not viable, whatever its class.
 */
bool hostsys_driver_viable(const char *driver)
{
    static const char *const fine[] = {"", "vfio-pci", "pci-stub", "pcieport"};

    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
        if (strcmp(driver, fine[i]) == 0) {
            return true;
        }
    }
    return false;
}

int hostsys_open_attr(const char *path, int flags)
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

/* All of an attribute, NUL-terminated, into text[TEXT_MAX + 1]. */
static int read_text(const char *path, char *text)
{
    size_t used = 0;
    int err = 0;
    int fd = hostsys_open_attr(path, O_RDONLY);

    if (fd < 0) {
        return fd;
    }
    for (;;) {
        ssize_t got = read(fd, text + used, TEXT_MAX + 1 - used);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            err = got < 0 ? -errno : 0;
            break;
        }
        used += (size_t)got;
        if (used > TEXT_MAX) {
            err = -EFBIG;
            break;
        }
    }
    close(fd);
    text[used < TEXT_MAX ? used : TEXT_MAX] = '\0';
    return err;
}

static enum hostsys_resv_type resv_type(const char *name)
{
    if (strcmp(name, "msi") == 0) {
        return HOSTSYS_RESV_MSI;
    }
    if (strcmp(name, "direct") == 0) {
        return HOSTSYS_RESV_DIRECT;
    }
    if (strcmp(name, "direct-relaxable") == 0) {
        return HOSTSYS_RESV_DIRECT_RELAXABLE;
    }
    return HOSTSYS_RESV_RESERVED;
}

int hostsys_group_reserved(const char *root, uint32_t group,
                           struct hostsys_resv *r, size_t max, size_t *n)
{
    char path[PATH_MAX], text[TEXT_MAX + 1];
    int err =
        path_of(path, "%s/kernel/iommu_groups/%" PRIu32 "/reserved_regions",
                root, group);

    *n = 0;
    if (err == 0) {
        err = read_text(path, text);
    }
    for (char *line = text; err == 0 && *line != '\0';) {
        char *nl = strchr(line, '\n');
        char type[24];
        uint64_t start, end;
        int used = -1;
        if (nl != NULL) {
            *nl = '\0';
        }
        if (sscanf(line, "%" SCNx64 " %" SCNx64 " %23s%n", &start, &end, type,
                   &used) != 3 ||
            line[used] != '\0' || end < start) {
            return -EINVAL;
        }
        if (*n == max) {
            return -E2BIG;
        }
        r[(*n)++] = (struct hostsys_resv){start, end, resv_type(type)};
        line = nl != NULL ? nl + 1 : line + strlen(line);
    }
    return err;
}
