/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A vhost-user frontend for tests, playing QEMU's part: it starts the
 * daemon, shares guest memory (a memfd) with it, lays out split rings in
 * that memory, passes eventfds, and puts requests on the request queue as a
 * guest driver does. It can also misbehave on purpose.
 */
#ifndef VIOMMU_TESTS_FUNCTIONAL_FRONTEND_H
#define VIOMMU_TESTS_FUNCTIONAL_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sockmsg.h"
#include "vhost_user_proto.h"

#define FE_MEM_SIZE (1u << 20)
#define FE_QUEUE_SIZE 256

struct fe_queue {
    uint64_t desc, avail, used; /* guest addresses */
    uint16_t avail_idx, last_used;
    uint16_t base; /* where the device starts it: its next available index */
    int kick, call, err;
};

struct fe {
    pid_t pid;
    char dir[64];
    char path[128];
    int sock;
    int memfd;
    uint8_t *mem; /* guest memory, guest address 0 */
    uint64_t next_free;
    uint64_t features;
    struct fe_queue q[2];
    /* Kick only when the device asks for it (the avail event index, or
     * VRING_USED_F_NO_NOTIFY), as the Linux driver does; else always. */
    bool driver_kicks;
    unsigned kicks; /* request queue kicks sent */
};

/* Starts the daemon on a socket in a fresh directory with extra
 * arguments (NULL-terminated), and connects. */
void fe_start(struct fe *f, const char *const *args);
/* SIGTERM, and the daemon's exit status (0 for a clean exit). */
int fe_stop(struct fe *f);
/* Connects again (after fe_disconnect). */
void fe_connect(struct fe *f);
/* Closes the connection and the frontend's ring fds; guest memory stays. */
void fe_disconnect(struct fe *f);

/* Sends one vhost-user message with up to SOCKMSG_MAX_FDS fds on any socket,
 * without waiting; false if the peer hung up or the socket is full. */
bool fe_send_on(int sock, uint32_t request, uint32_t flags, const void *payload,
                uint32_t size, const int *fds, unsigned nfds);
/* The same on the frontend's connection. */
bool fe_send(struct fe *f, uint32_t request, uint32_t flags,
             const void *payload, uint32_t size, const int *fds, unsigned nfds);
/* Receives a reply payload into buf; returns its size, -1 on EOF. */
int fe_recv(struct fe *f, uint32_t request, void *buf, uint32_t max);
uint64_t fe_get_u64(struct fe *f, uint32_t request);
/* Sends with NEED_REPLY and returns the REPLY_ACK value (0 = success). */
uint64_t fe_acked(struct fe *f, uint32_t request, const void *payload,
                  uint32_t size, const int *fds, unsigned nfds);

/* The whole set-up a frontend does before the guest runs: features
 * (VERSION_1 and every feature the device offers, REPLY_ACK), memory
 * table, both rings enabled with kick, call and err eventfds. */
void fe_setup(struct fe *f);
/* SET_MEM_TABLE of the frontend's guest memory, as fe_setup sends it; the
 * REPLY_ACK answer. */
uint64_t fe_set_mem_table(struct fe *f);
/* Sets up ring q where f->q[q] says, its next available index `base`
 * (from GET_VRING_BASE when it is started again), and enables it. */
void fe_start_ring(struct fe *f, unsigned q, uint16_t base);
/* Stops both rings (GET_VRING_BASE, whose answer becomes each ring's
 * base), suspending the device, and closes the frontend's ring fds. */
void fe_stop_rings(struct fe *f);
/* Starts both rings from their base with fresh eventfds: after fe_stop_rings
 * they go on where they stopped. */
void fe_start_rings(struct fe *f);

/* Device state transfer, as QEMU does it for migration. */
/* Sends SET_DEVICE_STATE_FD with *fd (closed and set to -1 once sent)
 * for the stopped phase; returns the reply (bits 0-7: 0 or an error), which
 * comes at once: the transfer goes on in the daemon's event loop. */
uint64_t fe_set_state_fd(struct fe *f, uint32_t direction, int *fd);
/* CHECK_DEVICE_STATE: 0, or the daemon's errno for the last transfer. The
 * daemon answers once the transfer has ended (fe_recv waits 2 s). */
uint64_t fe_check_state(struct fe *f);
/* Reads fd to its end into *buf (malloc'd, *len bytes). */
void fe_read_all(int fd, uint8_t **buf, size_t *len);
/* Saves the suspended device's state into *buf (malloc'd, *len bytes);
 * returns CHECK_DEVICE_STATE's answer. */
uint64_t fe_save_state(struct fe *f, uint8_t **buf, size_t *len);
/* Loads len bytes of state into the device; returns CHECK_DEVICE_STATE's
 * answer. */
uint64_t fe_load_state(struct fe *f, const void *buf, size_t len);

/* Guest address of a fresh buffer of len bytes (zeroed). */
uint64_t fe_alloc(struct fe *f, size_t len);
static inline void *fe_ptr(struct fe *f, uint64_t gpa)
{
    return f->mem + gpa;
}

/*
 * Puts one request on the request queue as a Linux guest does (a readable
 * and a writable descriptor; through an indirect table if `indirect`) and
 * kicks (see driver_kicks), without waiting. Returns the guest address of the
 * writable buffer, filled with FE_POISON. One request at a time: the next one
 * reuses the descriptors.
 */
#define FE_POISON 0xa5
uint64_t fe_post(struct fe *f, const void *in, size_t in_len, size_t out_len,
                 bool indirect);
/* Linux's virtqueue_kick_prepare for the chain just made available on
 * queue q: whether the device wants a kick (its avail event index, or
 * VRING_USED_F_NO_NOTIFY). */
bool fe_device_wants_kick(struct fe *f, unsigned q);
/* Waits up to ms milliseconds for the device to return the request posted
 * last: its used length, or -1 if the call eventfd was not signalled. */
int fe_wait_used(struct fe *f, int ms);
/* The used index the device last published on queue q. */
uint16_t fe_used_idx(struct fe *f, unsigned q);
/* fe_post, then fe_wait_used for up to 2 s; the writable bytes are copied
 * to out when the request came back. */
int fe_request(struct fe *f, const void *in, size_t in_len, void *out,
               size_t out_len, bool indirect);
/* A request with a status tail; returns the status or 0xff (no reply). */
uint8_t fe_status(struct fe *f, const void *req, size_t size);

/* Config space through GET_CONFIG: 0, or -EINVAL for the empty reply of a
 * refused read. */
int fe_config_read(struct fe *f, uint32_t offset, void *buf, uint32_t len);
/* SET_CONFIG with REPLY_ACK: the answer, 0 when the device took it. */
uint64_t fe_config_write(struct fe *f, uint32_t offset, const void *buf,
                         uint32_t len);

/* A transport that sends the guest driver's accesses (testing/driver.c) to the
 * daemon: features and config space over vhost-user, requests over the
 * request queue. */
struct vdrv_transport;
void fe_transport(struct fe *f, struct vdrv_transport *t);

/* A client of the daemon's control socket, line by line. */
struct fe_control {
    int fd;
    size_t len;
    unsigned events;      /* event lines seen by fe_control_command */
    char last_event[512]; /* the last of them */
    char buf[1 << 17];
};
/* Connects and reads the greeting, which it returns. */
const char *fe_control_open(struct fe_control *c, const char *path);
/* The next line, NULL at EOF or after 2 s; valid until the next call. */
const char *fe_control_read(struct fe_control *c);
/* Sends a command; returns the reply line, counting events before it. */
const char *fe_control_command(struct fe_control *c, const char *cmd);

/* Number of open fds of the daemon. */
int fe_daemon_fds(const struct fe *f);
/* Seconds on the monotonic clock. */
double fe_now(void);
/* The sample below which pct percent of the n samples lie (sorted in
 * place). */
double fe_percentile(double *samples, size_t n, unsigned pct);
/* True if the eventfd fd was signalled within ms milliseconds. */
bool fe_signalled(int fd, int ms);

#endif
