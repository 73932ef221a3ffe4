/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A vfio-user connection's framing: messages read as they come, never past
 * the one being read (so its fds are its own), and one reply queued at a
 * time, sent as the socket takes it. A message that cannot be framed ends
 * the connection; what it says is for the commands (vfio_user_cmd.c).
 */
#ifndef VIOMMU_DAEMON_VFIO_USER_CONN_H
#define VIOMMU_DAEMON_VFIO_USER_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vfio_user_state.h"

/* Takes over the accepted socket fd; -ENOMEM leaves it to the caller. */
int vfio_user_conn_open(struct vfio_user_conn *c, int fd);
/* Closes the socket and the fds of a message half read; the DMA windows
 * stay (the device must stop first). */
void vfio_user_conn_close(struct vfio_user_conn *c);

/* Reads what the message being received still lacks, without waiting. 1:
 * it is whole in c->rx with its fds; 0: more to come; -1: hang up (the
 * peer left, or the message cannot be framed: logged with `who`). */
int vfio_user_conn_receive(struct vfio_user_conn *c, const char *who);
/* Done with the whole message: its fds not taken are closed. */
void vfio_user_conn_next(struct vfio_user_conn *c);
/* The payload of the message in c->rx. */
const uint8_t *vfio_user_payload(const struct vfio_user_conn *c, size_t *len);

/* Queues the reply to the message in c->rx (whose header it echoes):
 * payload, or an error reply (header only) when err != 0. A reply never
 * carries an fd. */
void vfio_user_reply(struct vfio_user_conn *c, int err, const void *payload,
                     size_t len);
/* Sends what the socket takes of the reply now; false when the client is
 * gone. */
bool vfio_user_flush(struct vfio_user_conn *c);

#endif
