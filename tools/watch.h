/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * watch: follows QEMU's QMP events and removes the endpoints of the
 * devices QEMU has deleted. Returns its exit status through finish().
 */
#ifndef VIOMMU_TOOLS_WATCH_H
#define VIOMMU_TOOLS_WATCH_H

#include <stdint.h>

struct tool;

/* The endpoint of a QEMU device id (--device QEMU-ID=ENDPOINT). */
struct watch_map {
    const char *qemu_id;
    uint32_t endpoint;
};
int cmd_watch(struct tool *t, const char *qmp, const struct watch_map *maps,
              unsigned nr_maps);

#endif
