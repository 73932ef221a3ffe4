/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The host as Linux shows it: PCI devices, their drivers and IOMMU groups
 * in sysfs (under t->sysfs), VFIO's group and device files (under t->dev)
 * and who holds them (/proc/PID/fd). Writes are single writes of a value
 * and a newline, as `echo` makes them; the kernel's answer is the write's.
 * The kernel's effects (a driver bound, VFs created) are waited for, up to
 * t->timeout_ms, rather than assumed.
 */
#ifndef VIOMMU_TOOLS_SYSFS_H
#define VIOMMU_TOOLS_SYSFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "state.h"

struct tool;

/* SYSFS/bus/pci/devices/BDF/ATTR (ATTR may be NULL). */
void dev_path(const struct tool *t, char *buf, size_t len, const char *bdf,
              const char *attr);
bool dev_exists(const struct tool *t, const char *bdf);
bool dev_has(const struct tool *t, const char *bdf, const char *attr);
/* Whether a PCI driver is loaded (SYSFS/bus/pci/drivers/NAME). */
bool driver_loaded(const struct tool *t, const char *driver);

/* An attribute's text without its trailing newline. 0, or -errno with
 * t->why naming the file. */
int attr_read(struct tool *t, const char *path, char *buf, size_t len);
int attr_write(struct tool *t, const char *path, const char *value);
int dev_read(struct tool *t, const char *bdf, const char *attr, char *buf,
             size_t len);
int dev_read_uint(struct tool *t, const char *bdf, const char *attr,
                  uint64_t *out);
int dev_write(struct tool *t, const char *bdf, const char *attr,
              const char *value);

/* The driver bound to the device into name ("" for none). */
void dev_driver(const struct tool *t, const char *bdf, char *name, size_t len);
/* Its driver_override ("" when unset: the kernel shows "(null)"). */
int dev_override(struct tool *t, const char *bdf, char *name, size_t len);
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

/* Processes holding the group's VFIO file (DEV/vfio/G) or a VFIO device
 * file of one of the devices (DEV/vfio/devices/vfioN): an array of
 * {"pid", "comm", "file"}. */
struct json_object *vfio_holders(struct tool *t, int64_t g,
                                 const struct member *m, size_t n);
/* Opens the group's VFIO file, which only one process can hold: an open
 * device fd (type1) or device cdev holds it too, where /proc cannot tell
 * whose device an anon_inode:[vfio-device] fd is. While the caller keeps
 * the fd, no VMM can open the group or its devices. Returns the fd, -EBUSY
 * while something holds it, or -ENOENT when the group has no such file. */
int vfio_group_claim(struct tool *t, int64_t g);
/* "PID (comm), ..." of a vfio_holders() list. */
void holders_text(struct json_object *list, char *buf, size_t len);

/* Binds e->bdf to vfio-pci: driver_override, unbind, drivers_probe, and
 * waits for it. */
int bind_vfio(struct tool *t, const struct entry *e);
/* Gives e->bdf back the driver and driver_override it had (e->driver,
 * e->override): unbinds what it has now, drivers_probe, and waits. */
int restore_driver(struct tool *t, const struct entry *e);

/* The PF's VF number i (virtfnI) into bdf; -ENOENT when there is none. */
int vf_name(const struct tool *t, const char *pf, unsigned i,
            char bdf[PCI_NAME_LEN]);
/* The MSI-X table size in the device's config space; -ENOENT: no MSI-X. */
int msix_table_size(struct tool *t, const char *bdf, unsigned *size);

#endif
