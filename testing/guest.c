/* SPDX-License-Identifier: BSD-3-Clause */
/* What programs in a guest with real VFIO read and write in sysfs. */
#include "guest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sysfs_write(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int err = 0;

    if (fd < 0) {
        return -errno;
    }
    if (write(fd, value, strlen(value)) < 0) {
        err = -errno;
    }
    close(fd);
    return err;
}

unsigned long sysfs_read_ul(const char *path)
{
    char buf[64] = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    return strtoul(buf, NULL, 0);
}

/* PCI devices with this vendor and device ID, sorted. Returns the count. */
int find_pci(unsigned vendor, unsigned device, char out[][16], int max)
{
    struct dirent **list;
    int n = scandir("/sys/bus/pci/devices", &list, NULL, alphasort), found = 0;

    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor",
                 list[i]->d_name);
        unsigned ven = (unsigned)sysfs_read_ul(path);
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device",
                 list[i]->d_name);
        if (ven == vendor && sysfs_read_ul(path) == device && found < max &&
            list[i]->d_name[0] != '.') {
            snprintf(out[found++], 16, "%.15s", list[i]->d_name);
        }
        free(list[i]);
    }
    free(list);
    return found;
}

unsigned group_of(const char *bdf)
{
    char path[PATH_MAX], target[PATH_MAX];

    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    target[n > 0 ? n : 0] = '\0';
    const char *base = strrchr(target, '/');
    return base != NULL ? (unsigned)atoi(base + 1) : UINT_MAX;
}

uint32_t rid_of(const char *bdf)
{
    unsigned dom, bus, dev, fn;

    if (sscanf(bdf, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4) {
        return 0;
    }
    return bus << 8 | dev << 3 | fn;
}

int bind_vfio(const char *bdf)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override",
             bdf);
    int err = sysfs_write(path, "vfio-pci");
    if (err == 0) {
        err = sysfs_write("/sys/bus/pci/drivers_probe", bdf);
    }
    return err;
}

int vfio_cdev_of(const char *bdf, char *path, size_t len)
{
    char dir[PATH_MAX];
    struct dirent *e = NULL;

    snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
    DIR *dp = opendir(dir);
    if (dp == NULL) {
        return -errno;
    }
    while ((e = readdir(dp)) != NULL && strncmp(e->d_name, "vfio", 4) != 0) {
    }
    if (e != NULL) {
        snprintf(path, len, "/dev/vfio/devices/%s", e->d_name);
    }
    closedir(dp);
    return e != NULL ? 0 : -ENOENT;
}
