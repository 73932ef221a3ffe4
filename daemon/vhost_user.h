/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The backend side of the vhost-user protocol (QEMU docs/interop/
 * vhost-user.rst) for one virtio-iommu device: two queues, the request
 * queue served by the device core and the event queue carrying its fault
 * reports. One frontend connection at a time; when it goes away the
 * guest-visible state is reset as a device reset would (declared endpoints
 * and `bypass` stay) and the next connection starts afresh.
 */
#ifndef VIOMMU_DAEMON_VHOST_USER_H
#define VIOMMU_DAEMON_VHOST_USER_H

#include <poll.h>
#include <stdbool.h>

#include <viommu/viommu.h>

#include "mem.h"
#include "vring.h"

#define VU_NR_QUEUES 2 /* requestq, eventq */

struct vu_dev {
    struct viommu *v;
    int conn; /* -1: no frontend */
    uint64_t features;
    uint64_t protocol_features;
    struct mem_table mem;
    struct vq vq[VU_NR_QUEUES];
    struct chain chain; /* scratch for one request */
    bool backlog;       /* requests left after a budget ran out */
    /* Device state transfers (VHOST_USER_PROTOCOL_F_DEVICE_STATE): the
     * longest one may take, and the result of the last one. */
    int transfer_timeout_ms;
    int transfer_err;
};

#define VU_TRANSFER_TIMEOUT_MS 30000

/* Virtio features offered: the device's and the transport's. */
uint64_t vu_features(const struct vu_dev *d);

void vu_init(struct vu_dev *d, struct viommu *v);
/* Takes a new connection (the previous one must be gone). */
void vu_connect(struct vu_dev *d, int conn);
/* Closes the connection and resets the device state. */
void vu_disconnect(struct vu_dev *d);

/*
 * Reads and handles one message. Returns false when the connection is over
 * (closed by the peer, or a message that cannot be framed): the caller then
 * calls vu_disconnect().
 */
bool vu_handle_message(struct vu_dev *d);
/* A queue's kick fd became readable: serve it. */
void vu_kick(struct vu_dev *d, unsigned queue);
/* True when requests wait beyond a budget: serve again without a kick. */
bool vu_busy(const struct vu_dev *d);
/* Moves pending fault reports into the event queue's buffers. */
void vu_serve_events(struct vu_dev *d);

/* Fills pfd[0..VU_NR_QUEUES) with the kick fds to watch (-1: none). */
void vu_kick_fds(const struct vu_dev *d, struct pollfd *pfd);

#endif
