/* SPDX-License-Identifier: BSD-3-Clause */
/* The daemon's listening UNIX sockets (vhost-user and control alike). */
#ifndef VIOMMU_DAEMON_LISTEN_H
#define VIOMMU_DAEMON_LISTEN_H

#include <stdbool.h>

/* A listening stream socket at path, replacing a stale one of an earlier
 * run; -1 on error (logged). */
int listen_unix(const char *path, int backlog);
/* Whether path is what listen_unix() must not replace: anything but a
 * stale socket (a file, or a socket something listens on). */
bool listen_unix_taken(const char *path);

#endif
