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
#include <stddef.h>
#include <stdint.h>

#include <linux/vhost_types.h>

#include <viommu/viommu.h>

#include "mem.h"
#include "transfer.h"
#include "vhost_user_proto.h"
#include "vring.h"

#define VU_NR_QUEUES 2  /* requestq, eventq */
#define VU_TX_MAX 16384 /* reply bytes a frontend may leave unread */
#define CONFIG_MAX 256u

/* The message layouts of vhost-user.rst (not kernel uapi). */
struct vu_mem_region {
    uint64_t guest_phys_addr;
    uint64_t memory_size;
    uint64_t userspace_addr;
    uint64_t mmap_offset;
};

struct vu_mem {
    uint32_t nregions;
    uint32_t padding;
    struct vu_mem_region regions[MEM_MAX_REGIONS];
};

struct vu_config {
    uint32_t offset;
    uint32_t size;
    uint32_t flags;
    uint8_t region[CONFIG_MAX];
};

struct vu_transfer {
    uint32_t direction;
    uint32_t phase;
};

#define MSG_MAX_PAYLOAD 4096u

struct vu_msg {
    struct vu_header h;
    union {
        uint64_t u64;
        struct vhost_vring_state state;
        struct vhost_vring_addr addr;
        struct vu_mem mem;
        struct vu_config config;
        struct vu_transfer transfer;
        uint8_t raw[MSG_MAX_PAYLOAD];
    } p;
    int fds[MEM_MAX_REGIONS];
    unsigned nfds;
};

struct vu_dev {
    struct viommu *v;
    int conn; /* -1: no frontend */
    uint64_t features;
    uint64_t protocol_features;
    struct mem_table mem;
    struct vq vq[VU_NR_QUEUES];
    struct chain chain; /* scratch for one request */
    bool backlog;       /* requests left after a budget ran out */
    uint64_t served;    /* requests answered so far */
    /* The message being received, read as it comes: a frontend that stops
     * inside one holds only its own connection. */
    struct vu_msg rx;
    size_t rx_have; /* bytes of header and payload received */
    /* Replies the frontend has not read yet. */
    uint8_t tx[VU_TX_MAX];
    size_t tx_len;
    /* The device state transfer (VHOST_USER_PROTOCOL_F_DEVICE_STATE), and
     * a CHECK_DEVICE_STATE that waits for its end: the messages after it
     * wait unread meanwhile, so that replies keep their order. */
    struct transfer transfer;
    bool check_waiting;
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
 * Reads what the frontend sent, without blocking, and handles each message
 * once it is whole (none while a CHECK_DEVICE_STATE waits). Returns false
 * when the connection is over (closed by the peer, a message that cannot be
 * framed, or replies piling up unread beyond VU_TX_MAX): the caller then
 * calls vu_disconnect().
 */
bool vu_receive(struct vu_dev *d);
/* Sends queued replies (POLLOUT); false when the connection is over. */
bool vu_flush(struct vu_dev *d);
/* Poll events to wait for on the connection. */
short vu_conn_events(const struct vu_dev *d);
/* A queue's kick fd became readable: serve it. False when guest memory
 * faulted (the frontend truncated it): the caller then calls
 * vu_disconnect(). */
bool vu_kick(struct vu_dev *d, unsigned queue);
/* True when requests wait beyond a budget: serve again without a kick. */
bool vu_busy(const struct vu_dev *d);
/* Moves pending fault reports into the event queue's buffers; false as
 * vu_kick() says. */
bool vu_serve_events(struct vu_dev *d);

/* Serves both queues: the requests available (up to a budget, see
 * vu_busy()) and the pending fault reports. Touches guest memory: call it
 * through vu_guarded(). */
bool vu_serve(struct vu_dev *d, void *unused);
/* Runs serve(d, arg) with guest memory guarded: a region the frontend
 * truncated under us ends the connection instead of the process. Returns
 * false then, else what serve returned. Guards nest. */
bool vu_guarded(struct vu_dev *d, bool (*serve)(struct vu_dev *d, void *arg),
                void *arg);

/* Fills pfd[0..VU_NR_QUEUES) with the kick fds to watch (-1: none). */
void vu_kick_fds(const struct vu_dev *d, struct pollfd *pfd);

/* A device state transfer runs: moves it on with what poll reported on its
 * pipe (transfer_poll(); 0 when its deadline came first) and, once it has
 * ended, answers the CHECK_DEVICE_STATE waiting for it. False as
 * vu_receive() says. */
bool vu_transfer(struct vu_dev *d, short revents);

#endif
