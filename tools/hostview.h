/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What sysfs (under t->sysfs) says of the host's PCI devices and IOMMU
 * groups: a device's driver and group, a group's members, whether a member
 * lets VFIO use its group, a group's reserved regions. Read only.
 */
#ifndef VIOMMU_TOOLS_HOSTVIEW_H
#define VIOMMU_TOOLS_HOSTVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DRIVER_NAME_MAX 64

struct tool;

bool dev_exists(const struct tool *t, const char *bdf);
/* The driver bound to the device into name ("" for none). */
void dev_driver(const struct tool *t, const char *bdf, char *name, size_t len);
/* Its IOMMU group, or -1 when it has none (yet). */
int64_t dev_group(const struct tool *t, const char *bdf);
/* A PCI bridge (class 06xxxx): VFIO lets it stay with its driver. */
bool dev_is_bridge(struct tool *t, const char *bdf);

/* Whether a member of a group lets the group be used through VFIO: a PCI
 * device with no driver, vfio-pci or pci-stub, or a bridge. */
bool member_viable(struct tool *t, const char *name);

/* A device of a group, by its name in sysfs (a PCI address, for PCI). */
struct member {
    char name[64];
};
/* The devices of group g, sorted: *out (the caller frees it). -errno. */
int group_members(struct tool *t, int64_t g, struct member **out, size_t *n);

/* A reserved region of a group, as SYSFS/kernel/iommu_groups/N/
 * reserved_regions lists it. */
struct region {
    uint64_t start, end;
    char type[24];
};
#define MAX_REGIONS 16
/* The group's regions that VFIO keeps out of the usable IOVA ranges:
 * every type but direct-relaxable. -E2BIG beyond MAX_REGIONS. */
int group_regions(struct tool *t, int64_t g, struct region *r, unsigned *nr);

#endif
