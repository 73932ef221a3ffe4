/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What Linux says of a host's devices and IOMMU groups in sysfs, under a
 * root directory: "/sys" for the library, --sysfs-root for viommuctl.
 * Devices are named as sysfs names them (a PCI address, for PCI). Reads
 * only: nothing here writes or waits for the kernel. Every function
 * returns 0 or -errno.
 */
#ifndef VIOMMU_HOSTSYS_SYSFS_H
#define VIOMMU_HOSTSYS_SYSFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opens an attribute file (open(2) flags): a regular file, as sysfs has
 * them. Anything else where an attribute should be (a FIFO, a device) is
 * refused with -EINVAL before it could block. The fd, or -errno. */
int hostsys_open_attr(const char *path, int flags);

/* The IOMMU group of ROOT/bus/pci/devices/DEV: -ENODEV when there is no
 * such device, -ENOENT when it has no group (no host IOMMU, or under
 * virtio-iommu a device no driver has bound yet). */
int hostsys_device_group(const char *root, const char *dev, uint32_t *group);

/* The name of the driver bound to PCI device DEV into name: -ENOENT (and
 * "") when none is. */
int hostsys_device_driver(const char *root, const char *dev, char *name,
                          size_t len);

/* The name of PCI device DEV's VFIO device file (vfioN, under
 * /dev/vfio/devices): -ENOENT when it has none (no driver of VFIO's, or
 * a kernel without CONFIG_VFIO_DEVICE_CDEV). */
int hostsys_device_vfio_cdev(const char *root, const char *dev, char *name,
                             size_t len);

/* A device of an IOMMU group, by its name in sysfs. */
struct hostsys_member {
    char name[64];
};
/* The devices of group `group`, sorted by name: *out, which the caller
 * frees. */
int hostsys_group_members(const char *root, uint32_t group,
                          struct hostsys_member **out, size_t *n);
/* The name of the driver bound to member `member` of group `group`, of
 * any bus: -ENOENT (and "") when none is. */
int hostsys_member_driver(const char *root, uint32_t group, const char *member,
                          char *name, size_t len);

/* Whether a group member bound to `driver` ("": none) lets VFIO use the
 * group: a group is viable when no member is bound to a driver that does
 * DMA of its own. */
bool hostsys_driver_viable(const char *driver);

/* A reserved region of an IOMMU group, with its type as the kernel names
 * it (a type it does not know is taken as "reserved": kept out). */
enum hostsys_resv_type {
    HOSTSYS_RESV_RESERVED,         /* "reserved": never mapped */
    HOSTSYS_RESV_MSI,              /* "msi": the MSI doorbell window */
    HOSTSYS_RESV_DIRECT,           /* "direct": mapped 1:1 by the host */
    HOSTSYS_RESV_DIRECT_RELAXABLE, /* "direct-relaxable": VFIO maps over */
};
struct hostsys_resv {
    uint64_t start, end; /* inclusive */
    enum hostsys_resv_type type;
};
/* Group `group`'s ROOT/kernel/iommu_groups/N/reserved_regions into r[max],
 * *n of them, every type kept. -ENOENT: no such file (no group, or a
 * kernel before 4.11); -EINVAL: not a regular file (a FIFO would block),
 * or a line that is not "START END TYPE" with START <= END; -EFBIG: a
 * file larger than the kernel writes; -E2BIG: more than max regions. */
int hostsys_group_reserved(const char *root, uint32_t group,
                           struct hostsys_resv *r, size_t max, size_t *n);

#endif
