/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fuzzer as the frontend and the guest of the daemon's vhost-user
 * backend, in process: a real socketpair to a struct vu_dev, guest memory
 * in a sealable memfd shared at a fixed frontend address, and the split
 * rings of both queues laid out in it. The backend reads only when the
 * peer pumps, as the daemon's event loop would once poll said so. A
 * connection the backend gives up is replaced, as the listener would take
 * the frontend's next one. Every reply the peer reads must be well framed,
 * and no fd may outlive the peer: a breach aborts.
 */
#ifndef VIOMMU_TESTS_FUZZ_PEER_H
#define VIOMMU_TESTS_FUZZ_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhost_user.h"

#define PEER_MEM_SIZE (64 * 1024)
#define PEER_UVA 0x7f0000000000ull /* the frontend's address of guest RAM */
#define PEER_QUEUE_SIZE 16
/* Queue q's descriptor table; its available ring a page above, its used
 * ring two pages above. */
#define PEER_RING(q) (0x1000u * (1 + 3 * (q)))
#define PEER_BUFFERS 0x8000u /* guest buffers from here to the end */

/* One message as the frontend sends it; flags include the version. */
#define PEER_PAYLOAD_MAX 512
struct peer_msg {
    uint32_t request, flags, size;
    uint8_t payload[PEER_PAYLOAD_MAX];
    int fds[MEM_MAX_REGIONS];
    unsigned nfds;
};

struct peer {
    struct vu_dev *d;
    uint8_t *mem; /* guest memory, guest address 0 */
    int memfd;
    int fe;                       /* the frontend's end of the connection */
    int kick[2], call[2], err[2]; /* each queue's eventfds */
    bool deaf;                    /* leaves the backend's replies unread */
    unsigned posted;              /* chains put on the rings so far */
    unsigned connections;         /* made so far */
    /* Replies read but not yet whole. */
    uint8_t rx[2 * VU_TX_MAX];
    size_t rx_len;
    unsigned open_fds; /* the process's, when the peer was made */
};

/* Connects a new peer to the backend d (vu_init'ed, no connection) with
 * guest memory zeroed. */
void peer_init(struct peer *p, struct vu_dev *d);
/* Disconnects the backend and closes the peer; aborts if any fd the
 * backend or the peer opened since peer_init is still open. */
void peer_fini(struct peer *p);
/* Ends the connection (the backend resets its state) and makes a new one. */
void peer_reconnect(struct peer *p);
/* Serves queue q's kick, or pending fault reports, as the event loop
 * does: the connection is replaced when guest memory faulted. */
void peer_kick(struct peer *p, unsigned q);
void peer_serve_events(struct peer *p);

/*
 * Runs the backend's side of the connection as the event loop does while
 * there is something to do: moves a device state transfer on, sends queued
 * replies, reads and handles messages; unless deaf, the peer reads the
 * replies meanwhile. False when the backend gave up the connection (it was
 * replaced).
 */
bool peer_pump(struct peer *p);
/* Writes bytes to the connection, fds with the first, and pumps. False
 * when the connection was replaced. */
bool peer_write(struct peer *p, const void *bytes, size_t len, const int *fds,
                unsigned nfds);
/* Shuts the frontend's side down; the backend must notice and give the
 * connection up (it is replaced). */
void peer_hangup(struct peer *p);

/* Fills m with no fds and no flags but the version. */
void peer_msg_set(struct peer_msg *m, uint32_t request, const void *payload,
                  uint32_t size);
/* A message's bytes on the wire, into out: its header and its payload,
 * which stops at PEER_PAYLOAD_MAX whatever the header says (a size
 * beyond it is a lie the backend must survive). Returns the length. */
#define PEER_MSG_BYTES (12 + PEER_PAYLOAD_MAX)
size_t peer_msg_bytes(const struct peer_msg *m, uint8_t *out);
/* Sends m in pieces cut at the ncuts increasing offsets into its bytes,
 * the backend pumped after each; fds go with the first. False when the
 * connection was replaced. */
bool peer_send_cut(struct peer *p, const struct peer_msg *m, const size_t *cuts,
                   unsigned ncuts);
/* The same, whole. */
bool peer_send(struct peer *p, const struct peer_msg *m);
/* A message with a u64 payload, sent whole. */
bool peer_send_u64(struct peer *p, uint32_t request, uint32_t flags,
                   uint64_t value, const int *fds, unsigned nfds);
/* Sends a request that has a reply of its own and reads that reply into
 * buf: its payload size, or -1 when none came (connection replaced, or
 * the reply could not be sent). Replies pending before are read first. */
int peer_call(struct peer *p, const struct peer_msg *m, void *buf,
              uint32_t max);

/* Those of starting ring q from available index base: size, addresses,
 * base, call, err and kick fds, enable. */
#define PEER_RING_MSGS 7
void peer_ring_msgs(struct peer *p, unsigned q, uint16_t base,
                    struct peer_msg *m);
/* The messages of a frontend's set-up before the guest runs, as QEMU
 * sends them: features, protocol features, owner, memory table
 * (PEER_DEVICE_MSGS), then each ring's. */
#define PEER_DEVICE_MSGS 6
#define PEER_SETUP_MSGS (PEER_DEVICE_MSGS + 2 * PEER_RING_MSGS)
void peer_setup_msgs(struct peer *p, uint64_t features, uint64_t protocol,
                     struct peer_msg *m);
/* The memory table of all guest memory, as set-up sends it. */
void peer_mem_table_msg(struct peer *p, struct peer_msg *m);
/* Sends the set-up, each message whole. */
void peer_setup(struct peer *p, uint64_t features, uint64_t protocol);

/*
 * The guest: puts a chain on queue q, `req` to be read (req_len bytes, none
 * for an event buffer) and resp_len bytes to be written, through an
 * indirect table if asked, and makes it available. It is served when the
 * backend handles the kick; with `kick` the kick eventfd is written (the
 * backend sees it at its next poll). Returns the guest address of the
 * writable buffer.
 */
#define PEER_REQ_MAX 80
#define PEER_RESP_MAX 0x200
uint64_t peer_post(struct peer *p, unsigned q, const void *req, size_t req_len,
                   size_t resp_len, bool indirect, bool kick);

#endif
