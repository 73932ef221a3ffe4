/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A split virtqueue in guest memory, with indirect descriptors and event
 * index. The guest (through the frontend) is not trusted: every address goes
 * through the memory table, chains longer than the ring or the indirect
 * table (loops) and malformed chains are detected, and a queue that saw one
 * is broken until it is set up again, as a device in NEEDS_RESET would be.
 */
#ifndef VIOMMU_DAEMON_VRING_H
#define VIOMMU_DAEMON_VRING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/virtio_ring.h>

#include "mem.h"

#define VRING_MAX_SIZE 32768
#define CHAIN_MAX_IOV 256

struct vq {
    unsigned num;  /* 0: not set */
    bool addr_set; /* the *_uva were given */
    uint64_t desc_uva, avail_uva, used_uva;
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint16_t last_avail;
    uint16_t used_idx;
    uint16_t signalled_used;
    bool signalled_valid;
    bool event_idx;
    bool quiet; /* the driver's kicks suppressed: the daemon polls */
    bool enabled;
    bool broken;
    int kick_fd, call_fd, err_fd; /* -1: none */
};

/* A descriptor chain: device-readable then device-writable buffers. */
struct chain {
    uint16_t head;
    unsigned nr_req, nr_resp; /* driver-written, device-writable */
    struct iovec req[CHAIN_MAX_IOV];
    struct iovec resp[CHAIN_MAX_IOV];
};

void vq_init(struct vq *vq);
/* Closes the fds and forgets everything but `enabled` and `event_idx`. */
void vq_reset(struct vq *vq);
/* Translates the ring addresses through the memory table, for the current
 * size; -EFAULT if a ring is not inside guest memory or misaligned, -EINVAL
 * without a size. On error the ring is unmapped (not ready). */
int vq_map(struct vq *vq, const struct mem_table *mem);
/* Called after the memory table or the size changed: maps the ring again
 * if its addresses were given. */
int vq_remap(struct vq *vq, const struct mem_table *mem);
/* True when the ring can be served: mapped, enabled, kicked, not broken. */
bool vq_ready(const struct vq *vq);

/*
 * Takes the next available chain: 1 with *c filled, 0 when none, or a
 * negative errno when the guest broke the ring (the queue is then broken;
 * the reason is in *why).
 */
int vq_pop(struct vq *vq, const struct mem_table *mem, struct chain *c,
           const char **why);
/* Returns a chain to the guest with `len` bytes written. */
void vq_push(struct vq *vq, uint16_t head, uint32_t len);
/* Whether the guest wants an interrupt for what was pushed since the last
 * notification (VRING_AVAIL_F_NO_INTERRUPT, or the used event index). */
bool vq_need_notify(struct vq *vq);

/* True when the driver has made a chain available that vq_pop() would
 * take. */
bool vq_has_avail(const struct vq *vq);
/*
 * Tells the driver not to kick (quiet: VRING_USED_F_NO_NOTIFY, or the
 * avail event index left behind) or to kick again. Kicks are asked for
 * again before the ring is looked at once more, so a chain made available
 * meanwhile is seen by vq_has_avail(): no wake-up is lost.
 */
void vq_set_quiet(struct vq *vq, bool quiet);

#endif
