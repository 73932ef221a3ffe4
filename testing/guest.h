/* SPDX-License-Identifier: BSD-3-Clause */
/* What programs in a guest with real VFIO (the vm suite, bench-host) read
 * and write in sysfs. */
#ifndef VIOMMU_TESTING_GUEST_H
#define VIOMMU_TESTING_GUEST_H

#include <stddef.h>
#include <stdint.h>

/* Writes value into a sysfs file: 0 or -errno. */
int sysfs_write(const char *path, const char *value);
/* A number read from a sysfs file (0 when unreadable). */
unsigned long sysfs_read_ul(const char *path);
/* PCI devices with this vendor and device ID, sorted by address, into out;
 * returns how many. */
int find_pci(unsigned vendor, unsigned device, char out[][16], int max);
/* The device's IOMMU group, UINT_MAX when it has none. */
unsigned group_of(const char *bdf);
/* The device's requester ID (bus, device, function). */
uint32_t rid_of(const char *bdf);
/* Binds the device to vfio-pci (driver_override, drivers_probe). */
int bind_vfio(const char *bdf);
/* The path of the device's VFIO cdev (/dev/vfio/devices/vfioN): 0 or
 * -errno. */
int vfio_cdev_of(const char *bdf, char *path, size_t len);

#endif
