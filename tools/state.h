/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The state file: what viommuctl took from the host, so that it can give
 * it back. One entry per device it bound to vfio-pci (or found there and
 * took): the driver and driver_override the device had, its IOMMU group,
 * and the endpoint it declared to the daemon. JSON, replaced atomically
 * (written beside, then renamed), under a lock file (PATH.lock) that the
 * commands changing the host hold from start to end. Its default place,
 * /run, is emptied at boot, as the bindings it describes are.
 */
#ifndef VIOMMU_TOOLS_STATE_H
#define VIOMMU_TOOLS_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostview.h"
#include "hostsys/pci.h"

struct entry {
    char bdf[HOSTSYS_PCI_NAME_LEN];
    int64_t group;                  /* -1: none known */
    char driver[DRIVER_NAME_MAX];   /* the host driver it had; "": none */
    char override[DRIVER_NAME_MAX]; /* its driver_override; "": none */
    int64_t endpoint;               /* declared to the daemon; -1: none */
    bool from_range;  /* the endpoint was a declared range's before: it goes
                         back to that when the device leaves */
    char qemu_id[64]; /* QEMU's device id (for watch); "": none */
};

struct state {
    int lock_fd; /* -1: not locked */
    struct entry *e;
    size_t n;
};

struct tool;

/* Takes the lock (waiting for another viommuctl) and reads the file; a
 * missing file is an empty state. 0, or -errno with t->why. */
int state_lock(struct tool *t);
/* Reads the file without the lock (it is only ever replaced whole). */
int state_read(struct tool *t);
void state_unlock(struct tool *t);

struct entry *state_find(struct tool *t, const char *bdf);
/* Adds or replaces the entry of e->bdf, and saves. */
int state_put(struct tool *t, const struct entry *e);
/* Drops the entry of bdf, and saves. */
int state_drop(struct tool *t, const char *bdf);

#endif
