/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vfio-user commands the server answers, one handler each in a table:
 * each checks its message whole (length, flags, fds, ranges against what
 * the device offers) before it acts, and answers with a reply or an error
 * reply. Device accesses are relayed to the host device.
 */
#ifndef VIOMMU_DAEMON_VFIO_USER_CMD_H
#define VIOMMU_DAEMON_VFIO_USER_CMD_H

#include <stdbool.h>

#include "vfio_user_state.h"

/* Answers the whole message in d->conn.rx, queuing its reply. False: hang
 * up (a command before VERSION, or no version agreed). */
bool vfio_user_handle(struct vfio_user_set *s, struct vfio_user_device *d);

#endif
