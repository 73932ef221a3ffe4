/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Assigned host devices served to the VMM over vfio-user (QEMU
 * docs/interop/vfio-user.rst; QEMU 10.1+ `vfio-user-pci`). One server per
 * device, each on its own listening socket and serving one client at a
 * time, all in the daemon's single poll loop. The VMM relays config space,
 * BARs (or maps them itself from the VFIO device fd it is given) and
 * interrupts (its eventfds go straight to VFIO_DEVICE_SET_IRQS), while the
 * device's DMA goes through the host IOMMU with exactly the guest's
 * virtio-iommu mappings of the device's endpoint: IOVA -> guest-physical
 * from the device core, guest-physical -> the daemon's mapping of guest
 * RAM from the DMA_MAP messages and the vhost-user memory table.
 *
 * Messages are read as they come, never past the one being read, and only
 * while no reply waits to be sent: a client that stops inside a message
 * or never reads holds only its own connection. A message that cannot be
 * framed ends the connection; one that is framed but wrong gets an error
 * reply.
 *
 * Lifecycle: declaring a device opens it and declares its endpoint. The
 * client leaving removes the endpoint as removal does and closes the
 * device (its DMA state, interrupts and fds released); only then does the
 * removal event go out. The next client opens it and declares it again.
 */
#ifndef VIOMMU_DAEMON_VFIO_USER_H
#define VIOMMU_DAEMON_VFIO_USER_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "vfio_user_state.h"
/* Also the server's: vfio_user_endpoint_removed(), vfio_user_serves() and
 * vfio_user_sync_ram(). */
#include "vfio_user_dev.h"
#include "vfio_user_ram.h"

void vfio_user_init(struct vfio_user_set *s,
                    const struct vfio_user_host_ops *ops, bool iommufd);
/* Closes every client and device, and frees the host. */
void vfio_user_fini(struct vfio_user_set *s);

/*
 * Declares a device: opens `bdf` on the host, declares endpoint `endpoint`
 * with its host geometry and listens on `path`. -EINVAL for bad arguments,
 * -EEXIST for an endpoint or path already used, -ENOSPC for more than
 * VFIO_USER_MAX_DEVICES, else the host's or the device core's error (logged);
 * nothing stays declared on error.
 */
int vfio_user_device_add(struct vfio_user_set *s, const char *path,
                         const char *bdf, uint32_t endpoint);
/* Ends its client, removes the endpoint, closes the device, stops
 * listening. -ENOENT when no device has this endpoint. */
int vfio_user_device_remove(struct vfio_user_set *s, uint32_t endpoint);
/* "PATH,BDF,ENDPOINT" of --vfio-user; -EINVAL with *why set. */
int vfio_user_device_add_text(struct vfio_user_set *s, const char *text,
                              const char **why);

/* Fills pfd with what to watch (at most 2 * VFIO_USER_MAX_DEVICES); returns how
 * many. */
unsigned vfio_user_poll_fds(const struct vfio_user_set *s, struct pollfd *pfd);
/* Serves what poll reported on the fds vfio_user_poll_fds() gave. */
void vfio_user_serve(struct vfio_user_set *s, const struct pollfd *pfd,
                     unsigned n);
#endif
