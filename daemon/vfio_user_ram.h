/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest RAM as the host backend needs it to pin what a device may reach:
 * the clients' DMA_MAP windows, mapped from the fds they came with, and
 * the vhost-user memory table, merged into one layout. One guest RAM seen
 * through several sources is taken once, from the first that gives it.
 */
#ifndef VIOMMU_DAEMON_VFIO_USER_RAM_H
#define VIOMMU_DAEMON_VFIO_USER_RAM_H

#include <stdbool.h>
#include <stdint.h>

#include "vfio_user_state.h"

/* Adds the client's window [iova, iova + size) of guest RAM, mapped from
 * offset of fd with prot (fd -1: a window the daemon cannot reach), and
 * gives the host the new layout. -EEXIST for a window overlapping one of
 * the client's, -ENOSPC beyond VFIO_USER_MAX_DMA or when the host refuses
 * the layout, -EINVAL for a window beyond fd's end; nothing added then. */
int vfio_user_dma_add(struct vfio_user_set *s, struct vfio_user_conn *c,
                      uint64_t iova, uint64_t size, int fd, uint64_t offset,
                      int prot);
/* Removes the window [iova, iova + size) exactly as added (-ENOENT when
 * none), or every window when `all`, and gives the host the new layout. */
int vfio_user_dma_remove(struct vfio_user_set *s, struct vfio_user_conn *c,
                         uint64_t iova, uint64_t size, bool all);

/* Gives the host the guest RAM every source knows now. */
int vfio_user_ram_update(struct vfio_user_set *s);
/* Gives the host the RAM layout again if the vhost-user memory table
 * changed since it was last given. */
void vfio_user_sync_ram(struct vfio_user_set *s);

#endif
