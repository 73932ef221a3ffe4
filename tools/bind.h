/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A device between drivers: to vfio-pci and back to the driver and
 * driver_override it had, through sysfs (under t->sysfs). The kernel's
 * effect, a driver bound or gone, is waited for, up to t->timeout_ms,
 * rather than assumed.
 */
#ifndef VIOMMU_TOOLS_BIND_H
#define VIOMMU_TOOLS_BIND_H

#include <stdbool.h>
#include <stddef.h>

struct entry;
struct tool;

/* Whether a PCI driver is loaded (SYSFS/bus/pci/drivers/NAME). */
bool driver_loaded(const struct tool *t, const char *driver);
/* The device's driver_override ("" when unset: the kernel shows
 * "(null)"). */
int dev_override(struct tool *t, const char *bdf, char *name, size_t len);

/* Binds e->bdf to vfio-pci: driver_override, unbind, drivers_probe, and
 * waits for it. */
int bind_vfio(struct tool *t, const struct entry *e);
/* Gives e->bdf back the driver and driver_override it had (e->driver,
 * e->override): unbinds what it has now, drivers_probe, and waits. */
int restore_driver(struct tool *t, const struct entry *e);

#endif
