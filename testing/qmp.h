/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A QMP peer for tests, playing QEMU's part on its monitor socket: the
 * greeting, capabilities negotiation, events sent in pieces, and going
 * away.
 */
#ifndef VIOMMU_TESTING_QMP_H
#define VIOMMU_TESTING_QMP_H

#include <stdbool.h>
#include <stddef.h>

struct qmp_peer {
    char path[108];
    int listen_fd;
    int fd; /* the client; -1: none */
};

/* Listens on path. */
void qmp_listen(struct qmp_peer *q, const char *path);
/*
 * Waits up to ms for a client; sends `greeting` (NULL: QEMU 10's), reads
 * its first command, which must be qmp_capabilities, and answers `reply`
 * (NULL: {"return": {}}). False if no client came.
 */
bool qmp_accept(struct qmp_peer *q, int ms, const char *greeting,
                const char *reply);
/* Sends text in pieces of `piece` bytes (0: at once), 20 ms apart. */
void qmp_send(struct qmp_peer *q, const char *text, size_t piece);
/* Closes the client (QEMU going away) and the listener. */
void qmp_close(struct qmp_peer *q);

#endif
