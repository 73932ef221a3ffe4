/* SPDX-License-Identifier: BSD-3-Clause */
/* The daemon's listening UNIX sockets (vhost-user and control alike). */
#ifndef VIOMMU_DAEMON_LISTEN_H
#define VIOMMU_DAEMON_LISTEN_H

/* A listening stream socket at path, replacing a stale one of an earlier
 * run; -1 on error (logged). */
int listen_unix(const char *path, int backlog);

#endif
