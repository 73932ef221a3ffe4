/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Who holds a group's VFIO files (under t->dev): the processes whose
 * /proc/PID/fd lead to the group's file or to a VFIO device file of one
 * of its devices, and the claim that keeps any other from opening them.
 */
#ifndef VIOMMU_TOOLS_HOLDERS_H
#define VIOMMU_TOOLS_HOLDERS_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "hostview.h"

struct tool;

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

#endif
