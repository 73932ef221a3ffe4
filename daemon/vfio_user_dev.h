/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A served device's lifecycle: opened on the host and declared as its
 * endpoint with its host geometry; released (endpoint removed as removal
 * does, device closed) before the removal event goes out, so that whoever
 * hears of it may give the device back to its host driver.
 */
#ifndef VIOMMU_DAEMON_VFIO_USER_DEV_H
#define VIOMMU_DAEMON_VFIO_USER_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "vfio_user_state.h"

/* The declared device whose endpoint is `endpoint`, or NULL. */
struct vfio_user_device *vfio_user_by_endpoint(struct vfio_user_set *s,
                                               uint32_t endpoint);
/* Whether endpoint is a served device's: device-remove releases those. */
bool vfio_user_serves(struct vfio_user_set *s, uint32_t endpoint);
/* For viommu_config.endpoint_removed, with the set as opaque: passes the
 * event on to s->removed, except while the set itself removes a device's
 * endpoint (then it follows the device's release). */
void vfio_user_endpoint_removed(void *opaque, uint32_t id, int host_err);

/* Opens the host device (the host handle with the first), reads its
 * regions and declares its endpoint; the host's or the device core's
 * error (logged) leaves it closed. */
int vfio_user_dev_open(struct vfio_user_set *s, struct vfio_user_device *d);
/* Removes the endpoint as removal does, closes the device, and only then
 * tells the removal. */
void vfio_user_dev_release(struct vfio_user_set *s, struct vfio_user_device *d);

#endif
