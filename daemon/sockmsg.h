/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bytes with file descriptors (SCM_RIGHTS) on a UNIX stream socket: the
 * one fd-passing framing of the daemon's transports (vhost-user,
 * vfio-user), also used by the test kit's peers of them. The kernel hands
 * fds over with the bytes they were sent with: a receiver that never
 * reads past the message it is in (len) gets only that message's fds.
 */
#ifndef VIOMMU_DAEMON_SOCKMSG_H
#define VIOMMU_DAEMON_SOCKMSG_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The most fds one call sends or takes. */
#define SOCKMSG_MAX_FDS 16

/* Sends what the socket takes of iov[0..iovcnt), the nfds fds (at most
 * SOCKMSG_MAX_FDS) with its first byte. flags: 0 or MSG_DONTWAIT; a peer
 * gone is -EPIPE, not SIGPIPE. Returns the bytes sent, or -errno (-EAGAIN:
 * nothing without waiting). */
ssize_t sockmsg_send(int sock, const struct iovec *iov, int iovcnt,
                     const int *fds, unsigned nfds, int flags);

/* Receives at most len bytes into buf, and the fds that came with them,
 * close-on-exec, added to fds[*nfds] while *nfds < max. More fds than
 * that are closed and make the call fail with -EMSGSIZE, after the bytes
 * were taken from the socket. With max 0 no fds are taken (the kernel
 * closes any that came). flags: 0 or MSG_DONTWAIT. Returns the bytes
 * received (0: the peer closed), or -errno. */
ssize_t sockmsg_recv(int sock, void *buf, size_t len, int *fds, unsigned *nfds,
                     unsigned max, int flags);

#endif
