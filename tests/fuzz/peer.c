/* SPDX-License-Identifier: BSD-3-Clause */
#include "peer.h"

#include "frontend.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vhost_types.h>
#include <linux/virtio_ring.h>

#define HEADER_SIZE 12u
#define REPLY_FLAGS (VHOST_USER_VERSION | (1u << 2))
#define SLOT_SIZE 0x400u /* guest buffers of one chain */
#define SLOT_TABLE 0x60u /* its indirect table */
#define SLOT_RESP 0x100u /* its writable buffer */
#define NO_REPLY UINT32_MAX

static unsigned count_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    unsigned n = 0;

    if (dir == NULL) {
        abort();
    }
    for (struct dirent *e = readdir(dir); e != NULL; e = readdir(dir)) {
        n += e->d_name[0] != '.';
    }
    closedir(dir);
    return n;
}

static int new_eventfd(void)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

    if (fd < 0) {
        abort();
    }
    return fd;
}

static void connect_backend(struct peer *p)
{
    /* Small: replies the frontend leaves unread soon wait in the backend. */
    int sndbuf = 4096;
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
        setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) !=
            0) {
        abort();
    }
    p->fe = sv[0];
    p->rx_len = 0;
    p->connections++;
    vu_connect(p->d, sv[1]);
}

void peer_init(struct peer *p, struct vu_dev *d)
{
    static int memfd = -1;
    static uint8_t *mem;

    if (memfd < 0) {
        /* Written by a backend that lost its reader, as the daemon is. */
        signal(SIGPIPE, SIG_IGN);
        memfd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (memfd < 0 || ftruncate(memfd, PEER_MEM_SIZE) != 0) {
            abort();
        }
        mem = mmap(NULL, PEER_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                   memfd, 0);
        if (mem == MAP_FAILED) {
            abort();
        }
    }
    memset(mem, 0, PEER_MEM_SIZE);
    p->d = d;
    p->mem = mem;
    p->memfd = memfd;
    p->deaf = false;
    p->posted = 0;
    p->connections = 0;
    p->open_fds = count_fds();
    for (unsigned q = 0; q < 2; q++) {
        p->kick[q] = new_eventfd();
        p->call[q] = new_eventfd();
        p->err[q] = new_eventfd();
    }
    connect_backend(p);
}

void peer_fini(struct peer *p)
{
    vu_disconnect(p->d);
    close(p->fe);
    for (unsigned q = 0; q < 2; q++) {
        close(p->kick[q]);
        close(p->call[q]);
        close(p->err[q]);
    }
    if (count_fds() != p->open_fds) {
        fprintf(stderr, "fd leak: %u open, %u before\n", count_fds(),
                p->open_fds);
        abort();
    }
}

void peer_reconnect(struct peer *p)
{
    vu_disconnect(p->d);
    close(p->fe);
    connect_backend(p);
}

void peer_kick(struct peer *p, unsigned q)
{
    if (!vu_kick(p->d, q)) {
        peer_reconnect(p);
    }
}

void peer_serve_events(struct peer *p)
{
    if (!vu_serve_events(p->d)) {
        peer_reconnect(p);
    }
}

/* Reads what the backend sent; each reply must be well framed. Returns the
 * payload size of the last reply to `want` (copied into buf), or -1. */
static int read_replies(struct peer *p, uint32_t want, void *buf, uint32_t max)
{
    int got = -1;
    ssize_t n;

    do {
        n = recv(p->fe, p->rx + p->rx_len, sizeof(p->rx) - p->rx_len,
                 MSG_DONTWAIT);
        if (n > 0) {
            p->rx_len += (size_t)n;
        }
        size_t off = 0;
        for (;;) {
            struct vu_header h;
            if (p->rx_len - off < HEADER_SIZE) {
                break;
            }
            memcpy(&h, p->rx + off, HEADER_SIZE);
            if (h.flags != REPLY_FLAGS || h.size > HEADER_SIZE + CONFIG_MAX) {
                fprintf(stderr, "reply to %u: flags %#x, %u bytes\n", h.request,
                        h.flags, h.size);
                abort();
            }
            if (p->rx_len - off < HEADER_SIZE + h.size) {
                break;
            }
            if (h.request == want && h.size <= max) {
                memcpy(buf, p->rx + off + HEADER_SIZE, h.size);
                got = (int)h.size;
            }
            off += HEADER_SIZE + h.size;
        }
        p->rx_len -= off;
        memmove(p->rx, p->rx + off, p->rx_len);
    } while (n > 0);
    return got;
}

bool peer_pump(struct peer *p)
{
    bool ok = true;

    for (unsigned i = 0; ok && i < 1024; i++) {
        struct pollfd pipe_fd;
        if (transfer_poll(&p->d->transfer, &pipe_fd) >= 0 &&
            poll(&pipe_fd, 1, 0) >= 0) {
            ok = vu_transfer(p->d, pipe_fd.revents);
        }
        struct pollfd pfd = {.fd = p->d->conn, .events = vu_conn_events(p->d)};
        if (!ok || poll(&pfd, 1, 0) != 1) {
            /* A state transfer goes on until it ends: its pipe stops
             * moving, and its deadline passes. */
            if (ok && transfer_running(&p->d->transfer)) {
                continue;
            }
            break;
        }
        if (pfd.revents & POLLOUT) {
            ok = vu_flush(p->d);
        }
        if (!(pfd.revents & ~POLLOUT)) {
            break; /* nothing to read */
        }
        ok = ok && vu_receive(p->d);
        /* Replies wait in the backend: a reading frontend makes room. */
        if (!p->deaf && p->d->tx_len > 0) {
            (void)read_replies(p, NO_REPLY, NULL, 0);
        }
    }
    if (!ok) {
        peer_reconnect(p);
        return false;
    }
    if (!p->deaf) {
        (void)read_replies(p, NO_REPLY, NULL, 0);
    }
    return true;
}

/* Writes bytes to the connection, fds with the first; the backend reads
 * when the socket is full. False when the connection was replaced. */
static bool send_bytes(struct peer *p, const uint8_t *bytes, size_t len,
                       const int *fds, unsigned nfds)
{
    for (unsigned tries = 0; len > 0 && tries < 64; tries++) {
        struct iovec iov = {(void *)bytes, len};
        ssize_t n = sockmsg_send(p->fe, &iov, 1, fds, nfds, MSG_DONTWAIT);
        if (n > 0) {
            bytes += n;
            len -= (size_t)n;
            nfds = 0;
        } else if (n < 0 && n != -EAGAIN) {
            abort(); /* the backend's end is open while the peer is */
        }
        if (len > 0 && !peer_pump(p)) {
            return false;
        }
    }
    return true;
}

bool peer_write(struct peer *p, const void *bytes, size_t len, const int *fds,
                unsigned nfds)
{
    return send_bytes(p, bytes, len, fds, nfds) && peer_pump(p);
}

void peer_hangup(struct peer *p)
{
    if (shutdown(p->fe, SHUT_WR) != 0 || peer_pump(p)) {
        abort(); /* the backend missed the frontend leaving */
    }
}

void peer_msg_set(struct peer_msg *m, uint32_t request, const void *payload,
                  uint32_t size)
{
    m->request = request;
    m->flags = VHOST_USER_VERSION;
    m->size = size;
    if (size > 0) {
        memcpy(m->payload, payload, size);
    }
    m->nfds = 0;
}

size_t peer_msg_bytes(const struct peer_msg *m, uint8_t *out)
{
    struct vu_header h = {m->request, m->flags, m->size};
    size_t size = m->size < PEER_PAYLOAD_MAX ? m->size : PEER_PAYLOAD_MAX;

    memcpy(out, &h, HEADER_SIZE);
    memcpy(out + HEADER_SIZE, m->payload, size);
    return HEADER_SIZE + size;
}

bool peer_send_cut(struct peer *p, const struct peer_msg *m, const size_t *cuts,
                   unsigned ncuts)
{
    uint8_t bytes[PEER_MSG_BYTES];
    size_t len = peer_msg_bytes(m, bytes), from = 0;

    for (unsigned i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        if (to <= from || to > len) {
            continue;
        }
        bool first = from == 0;
        if (!peer_write(p, bytes + from, to - from, first ? m->fds : NULL,
                        first ? m->nfds : 0)) {
            return false;
        }
        from = to;
    }
    return true;
}

bool peer_send(struct peer *p, const struct peer_msg *m)
{
    return peer_send_cut(p, m, NULL, 0);
}

static void set_u64(struct peer_msg *m, uint32_t request, uint64_t value,
                    int fd)
{
    peer_msg_set(m, request, &value, sizeof(value));
    if (fd >= 0) {
        m->fds[0] = fd;
        m->nfds = 1;
    }
}

bool peer_send_u64(struct peer *p, uint32_t request, uint32_t flags,
                   uint64_t value, const int *fds, unsigned nfds)
{
    struct peer_msg m;

    peer_msg_set(&m, request, &value, sizeof(value));
    m.flags |= flags;
    memcpy(m.fds, fds, sizeof(int) * nfds);
    m.nfds = nfds;
    return peer_send(p, &m);
}

int peer_call(struct peer *p, const struct peer_msg *m, void *buf, uint32_t max)
{
    bool deaf = p->deaf;

    (void)read_replies(p, NO_REPLY, NULL, 0);
    p->deaf = true; /* the reply is read here */
    bool ok = peer_send(p, m);
    p->deaf = deaf;
    return ok ? read_replies(p, m->request, buf, max) : -1;
}

void peer_mem_table_msg(struct peer *p, struct peer_msg *m)
{
    struct {
        uint32_t nregions, padding;
        struct vu_mem_region r;
    } table = {1, 0, {0, PEER_MEM_SIZE, PEER_UVA, 0}};

    peer_msg_set(m, VHOST_USER_SET_MEM_TABLE, &table, sizeof(table));
    m->fds[0] = p->memfd;
    m->nfds = 1;
}

void peer_ring_msgs(struct peer *p, unsigned q, uint16_t base,
                    struct peer_msg *m)
{
    struct vhost_vring_state num = {q, PEER_QUEUE_SIZE}, last = {q, base};
    struct vhost_vring_state on = {q, 1};
    struct vhost_vring_addr addr = {
        .index = q,
        .desc_user_addr = PEER_UVA + PEER_RING(q),
        .avail_user_addr = PEER_UVA + PEER_RING(q) + 0x1000,
        .used_user_addr = PEER_UVA + PEER_RING(q) + 0x2000,
    };

    peer_msg_set(&m[0], VHOST_USER_SET_VRING_NUM, &num, sizeof(num));
    peer_msg_set(&m[1], VHOST_USER_SET_VRING_ADDR, &addr, sizeof(addr));
    peer_msg_set(&m[2], VHOST_USER_SET_VRING_BASE, &last, sizeof(last));
    set_u64(&m[3], VHOST_USER_SET_VRING_CALL, q, p->call[q]);
    set_u64(&m[4], VHOST_USER_SET_VRING_ERR, q, p->err[q]);
    set_u64(&m[5], VHOST_USER_SET_VRING_KICK, q, p->kick[q]);
    peer_msg_set(&m[6], VHOST_USER_SET_VRING_ENABLE, &on, sizeof(on));
}

void peer_setup_msgs(struct peer *p, uint64_t features, uint64_t protocol,
                     struct peer_msg *m)
{
    peer_msg_set(&m[0], VHOST_USER_GET_FEATURES, NULL, 0);
    set_u64(&m[1], VHOST_USER_SET_FEATURES, features, -1);
    peer_msg_set(&m[2], VHOST_USER_GET_PROTOCOL_FEATURES, NULL, 0);
    set_u64(&m[3], VHOST_USER_SET_PROTOCOL_FEATURES, protocol, -1);
    peer_msg_set(&m[4], VHOST_USER_SET_OWNER, NULL, 0);
    peer_mem_table_msg(p, &m[5]);
    for (unsigned q = 0; q < 2; q++) {
        peer_ring_msgs(p, q, 0, &m[PEER_DEVICE_MSGS + q * PEER_RING_MSGS]);
    }
}

void peer_setup(struct peer *p, uint64_t features, uint64_t protocol)
{
    struct peer_msg m[PEER_SETUP_MSGS];

    peer_setup_msgs(p, features, protocol, m);
    for (unsigned i = 0; i < PEER_SETUP_MSGS; i++) {
        (void)peer_send(p, &m[i]);
    }
}

static void set_desc(struct vring_desc *d, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    d->addr = htole64(addr);
    d->len = htole32(len);
    d->flags = htole16(flags);
    d->next = htole16(next);
}

uint64_t peer_post(struct peer *p, unsigned q, const void *req, size_t req_len,
                   size_t resp_len, bool indirect, bool kick)
{
    uint64_t slot = PEER_BUFFERS + (p->posted % 32) * SLOT_SIZE;
    uint64_t table = slot + SLOT_TABLE, resp = slot + SLOT_RESP;
    struct vring_desc *desc = (void *)(p->mem + PEER_RING(q));
    struct vring_avail *avail = (void *)(p->mem + PEER_RING(q) + 0x1000);
    struct vring_used *used = (void *)(p->mem + PEER_RING(q) + 0x2000);
    uint16_t head = (uint16_t)((2 * p->posted++) % PEER_QUEUE_SIZE);
    struct vring_desc chain[2];
    unsigned n = 0;

    req_len = req_len < PEER_REQ_MAX ? req_len : PEER_REQ_MAX;
    resp_len = resp_len < PEER_RESP_MAX ? resp_len : PEER_RESP_MAX;
    if (req_len > 0) {
        memcpy(p->mem + slot, req, req_len);
        set_desc(&chain[n++], slot, (uint32_t)req_len, VRING_DESC_F_NEXT,
                 indirect ? 1 : head + 1);
    }
    memset(p->mem + resp, 0xa5, resp_len);
    set_desc(&chain[n++], resp, (uint32_t)resp_len, VRING_DESC_F_WRITE, 0);
    if (indirect) {
        memcpy(p->mem + table, chain, n * sizeof(chain[0]));
        set_desc(&desc[head], table, n * sizeof(chain[0]),
                 VRING_DESC_F_INDIRECT, 0);
    } else {
        memcpy(&desc[head], chain, n * sizeof(chain[0]));
    }
    uint16_t idx = le16toh(avail->idx);
    avail->ring[idx % PEER_QUEUE_SIZE] = htole16(head);
    /* used_event: an interrupt for the next used entry. */
    avail->ring[PEER_QUEUE_SIZE] = used->idx;
    __atomic_store_n(&avail->idx, htole16((uint16_t)(idx + 1)),
                     __ATOMIC_RELEASE);
    if (kick) {
        uint64_t one = 1;
        if (write(p->kick[q], &one, sizeof(one)) != sizeof(one)) {
            abort();
        }
    }
    return resp;
}
