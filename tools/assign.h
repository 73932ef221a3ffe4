/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * groups, assign and release: devices between their host drivers and
 * vfio-pci, group by group, and their endpoints in the daemon. Each
 * command returns its exit status through finish().
 */
#ifndef VIOMMU_TOOLS_ASSIGN_H
#define VIOMMU_TOOLS_ASSIGN_H

#include <stdbool.h>
#include <stdint.h>

struct entry;
struct tool;

struct assign_args {
    const char *bdf;
    int64_t endpoint; /* -1: not declared to the daemon */
    const char *qemu_id;
    bool whole_group;
};
int cmd_groups(struct tool *t);
int cmd_assign(struct tool *t, const struct assign_args *a);
int cmd_release(struct tool *t, const char *bdf, bool whole_group);
/* Removes e's endpoint from the daemon (waiting for its ENDPOINT_REMOVED),
 * gives the slot back to its declared range if it had one, and records
 * that in the state file. -EHOSTUNREACH: the daemon did not answer. */
int release_endpoint(struct tool *t, struct entry *e);

#endif
