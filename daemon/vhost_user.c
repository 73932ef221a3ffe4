/* SPDX-License-Identifier: BSD-3-Clause */
#include "vhost_user.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/vhost_types.h>
#include <linux/virtio_ring.h>

#include "log.h"

/* Requests (front-end to back-end). */
enum {
    VHOST_USER_GET_FEATURES = 1,
    VHOST_USER_SET_FEATURES = 2,
    VHOST_USER_SET_OWNER = 3,
    VHOST_USER_RESET_OWNER = 4,
    VHOST_USER_SET_MEM_TABLE = 5,
    VHOST_USER_SET_VRING_NUM = 8,
    VHOST_USER_SET_VRING_ADDR = 9,
    VHOST_USER_SET_VRING_BASE = 10,
    VHOST_USER_GET_VRING_BASE = 11,
    VHOST_USER_SET_VRING_KICK = 12,
    VHOST_USER_SET_VRING_CALL = 13,
    VHOST_USER_SET_VRING_ERR = 14,
    VHOST_USER_GET_PROTOCOL_FEATURES = 15,
    VHOST_USER_SET_PROTOCOL_FEATURES = 16,
    VHOST_USER_GET_QUEUE_NUM = 17,
    VHOST_USER_SET_VRING_ENABLE = 18,
    VHOST_USER_GET_CONFIG = 24,
    VHOST_USER_SET_CONFIG = 25,
    VHOST_USER_RESET_DEVICE = 34,
    VHOST_USER_SET_DEVICE_STATE_FD = 42,
    VHOST_USER_CHECK_DEVICE_STATE = 43,
};

#define VHOST_USER_VERSION 1u
#define VHOST_USER_VERSION_MASK 3u
#define VHOST_USER_FLAG_REPLY (1u << 2)
#define VHOST_USER_FLAG_NEED_REPLY (1u << 3)
#define VHOST_USER_F_PROTOCOL_FEATURES 30

#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_CONFIG 9
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE 13
#define VHOST_USER_PROTOCOL_F_DEVICE_STATE 19
#define PROTOCOL_FEATURES                                                      \
    ((1ULL << VHOST_USER_PROTOCOL_F_MQ) |                                      \
     (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK) |                               \
     (1ULL << VHOST_USER_PROTOCOL_F_CONFIG) |                                  \
     (1ULL << VHOST_USER_PROTOCOL_F_RESET_DEVICE) |                            \
     (1ULL << VHOST_USER_PROTOCOL_F_DEVICE_STATE))

/* Device state transfer parameters. */
#define TRANSFER_SAVE 0u /* from the backend to the frontend */
#define TRANSFER_LOAD 1u /* from the frontend to the backend */
#define PHASE_STOPPED 0u /* the device is suspended */

#define VRING_INDEX_MASK 0xffu
#define VRING_NOFD (1u << 8)
#define CONFIG_MAX 256u
#define REQUEST_BUDGET 4096u /* requests served before looking elsewhere */

/* The message layouts of vhost-user.rst (not kernel uapi). */
struct vu_header {
    uint32_t request;
    uint32_t flags;
    uint32_t size;
};

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

#define TRANSPORT_FEATURES                                                     \
    ((1ULL << VIRTIO_RING_F_INDIRECT_DESC) |                                   \
     (1ULL << VIRTIO_RING_F_EVENT_IDX) |                                       \
     (1ULL << VHOST_USER_F_PROTOCOL_FEATURES))

uint64_t vu_features(const struct vu_dev *d)
{
    return viommu_device_features(d->v) | TRANSPORT_FEATURES;
}

void vu_init(struct vu_dev *d, struct viommu *v)
{
    memset(d, 0, sizeof(*d));
    d->v = v;
    d->conn = -1;
    d->transfer_timeout_ms = VU_TRANSFER_TIMEOUT_MS;
    d->transfer_err = -ENODATA;
    for (unsigned i = 0; i < VU_NR_QUEUES; i++) {
        vq_init(&d->vq[i]);
    }
}

/* Everything a frontend set up is forgotten; the device is reset. */
static void reset_state(struct vu_dev *d)
{
    for (unsigned i = 0; i < VU_NR_QUEUES; i++) {
        vq_reset(&d->vq[i]);
        d->vq[i].enabled = false;
    }
    mem_table_clear(&d->mem);
    d->backlog = false;
    d->features = 0;
    d->protocol_features = 0;
    d->transfer_err = -ENODATA;
    viommu_reset(d->v, VIOMMU_RESET_DEVICE);
}

void vu_connect(struct vu_dev *d, int conn)
{
    d->conn = conn;
}

void vu_disconnect(struct vu_dev *d)
{
    if (d->conn >= 0) {
        close(d->conn);
        d->conn = -1;
    }
    reset_state(d);
}

void vu_kick_fds(const struct vu_dev *d, struct pollfd *pfd)
{
    for (unsigned i = 0; i < VU_NR_QUEUES; i++) {
        pfd[i] = (struct pollfd){.fd = d->vq[i].kick_fd, .events = POLLIN};
    }
}

static void close_fds(struct vu_msg *m)
{
    for (unsigned i = 0; i < m->nfds; i++) {
        close(m->fds[i]);
    }
    m->nfds = 0;
}

/* A message must arrive whole within this time once it has begun: a
 * frontend stalled inside one would otherwise stop the daemon. */
#define MSG_DEADLINE_MS 10000

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads exactly len bytes before the deadline; false on EOF, error or
 * timeout. */
static bool read_all(int fd, void *buf, size_t len, int64_t deadline)
{
    uint8_t *p = buf;

    while (len > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - now_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) != 1) {
            return false;
        }
        ssize_t n = read(fd, p, len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads the header with its fds, then the payload. */
static bool read_msg(int conn, struct vu_msg *m)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * MEM_MAX_REGIONS)];
        struct cmsghdr align;
    } control;
    struct iovec iov = {&m->h, sizeof(m->h)};
    struct msghdr mh = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.buf,
        .msg_controllen = sizeof(control.buf),
    };
    ssize_t n;

    m->nfds = 0;
    do {
        n = recvmsg(conn, &mh, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        return false;
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL;
         c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            unsigned count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (unsigned i = 0; i < count && m->nfds < MEM_MAX_REGIONS; i++) {
                memcpy(&m->fds[m->nfds++], CMSG_DATA(c) + i * sizeof(int),
                       sizeof(int));
            }
        }
    }
    if (mh.msg_flags & MSG_CTRUNC) {
        dlog(VIOMMU_LOG_ERR, "message with more than %u fds", MEM_MAX_REGIONS);
        close_fds(m);
        return false;
    }
    int64_t deadline = now_ms() + MSG_DEADLINE_MS;
    if ((size_t)n < sizeof(m->h) &&
        !read_all(conn, (uint8_t *)&m->h + n, sizeof(m->h) - (size_t)n,
                  deadline)) {
        dlog(VIOMMU_LOG_ERR, "truncated message header");
        close_fds(m);
        return false;
    }
    if (m->h.size > MSG_MAX_PAYLOAD) {
        dlog(VIOMMU_LOG_ERR, "request %u: payload of %u bytes is too large",
             m->h.request, m->h.size);
        close_fds(m);
        return false;
    }
    if (!read_all(conn, &m->p, m->h.size, deadline)) {
        dlog(VIOMMU_LOG_ERR, "request %u: truncated payload", m->h.request);
        close_fds(m);
        return false;
    }
    return true;
}

static bool send_reply(struct vu_dev *d, struct vu_msg *m, uint32_t size)
{
    struct vu_header h = {m->h.request,
                          VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY, size};
    struct iovec iov[2] = {{&h, sizeof(h)}, {&m->p, size}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t n;

    do {
        n = sendmsg(d->conn, &mh, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)(sizeof(h) + size);
}

static bool reply_u64(struct vu_dev *d, struct vu_msg *m, uint64_t value)
{
    m->p.u64 = value;
    return send_reply(d, m, sizeof(m->p.u64));
}

/* Checks a ring index; a message naming an unknown queue is refused. */
static struct vq *queue(struct vu_dev *d, unsigned index)
{
    return index < VU_NR_QUEUES ? &d->vq[index] : NULL;
}

static int set_features(struct vu_dev *d, uint64_t f)
{
    if (f & ~vu_features(d)) {
        return -EINVAL;
    }
    int err = viommu_set_driver_features(d->v, f & ~TRANSPORT_FEATURES);
    if (err != 0) {
        return err;
    }
    d->features = f;
    for (unsigned i = 0; i < VU_NR_QUEUES; i++) {
        d->vq[i].event_idx = f & (1ULL << VIRTIO_RING_F_EVENT_IDX);
        /* Without protocol features a ring starts enabled. */
        if (!(f & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES))) {
            d->vq[i].enabled = true;
        }
    }
    return 0;
}

static int set_mem_table(struct vu_dev *d, struct vu_msg *m)
{
    struct mem_region_desc desc[MEM_MAX_REGIONS];
    const struct vu_mem *mem = &m->p.mem;

    if (m->h.size < 8 || mem->nregions > MEM_MAX_REGIONS ||
        m->h.size != 8 + mem->nregions * sizeof(struct vu_mem_region) ||
        m->nfds != mem->nregions) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < mem->nregions; i++) {
        desc[i] = (struct mem_region_desc){
            mem->regions[i].guest_phys_addr, mem->regions[i].memory_size,
            mem->regions[i].userspace_addr, mem->regions[i].mmap_offset};
    }
    m->nfds = 0; /* mem_table_set closes them */
    int err = mem_table_set(&d->mem, desc, mem->nregions, m->fds);
    if (err != 0) {
        return err;
    }
    /* Ring addresses are frontend addresses: map them again (a ring no
     * longer in guest memory is unmapped, hence not served). */
    for (unsigned i = 0; i < VU_NR_QUEUES; i++) {
        if (vq_remap(&d->vq[i], &d->mem) != 0) {
            dlog(VIOMMU_LOG_WARN, "queue %u is outside the new memory table",
                 i);
        }
    }
    return 0;
}

static int set_vring_fd(struct vu_dev *d, struct vu_msg *m)
{
    struct vq *vq = queue(d, m->p.u64 & VRING_INDEX_MASK);
    bool nofd = m->p.u64 & VRING_NOFD;
    int *slot;

    if (vq == NULL || m->nfds != (nofd ? 0u : 1u)) {
        return -EINVAL;
    }
    switch (m->h.request) {
    case VHOST_USER_SET_VRING_KICK:
        if (nofd) {
            return -EOPNOTSUPP; /* no polling mode */
        }
        slot = &vq->kick_fd;
        break;
    case VHOST_USER_SET_VRING_CALL:
        slot = &vq->call_fd;
        break;
    default:
        slot = &vq->err_fd;
        break;
    }
    /* Never block on the frontend's fds: a kick is also read once when
     * the ring starts, and a call or err fd nobody reads fills up. */
    if (!nofd && fcntl(m->fds[0], F_SETFL,
                       fcntl(m->fds[0], F_GETFL) | O_NONBLOCK) != 0) {
        return -errno;
    }
    if (*slot >= 0) {
        close(*slot);
    }
    *slot = nofd ? -1 : m->fds[0];
    m->nfds = 0;
    return 0;
}

/* Payload sizes of the messages with a fixed one. */
static bool size_ok(const struct vu_msg *m)
{
    switch (m->h.request) {
    case VHOST_USER_SET_FEATURES:
    case VHOST_USER_SET_PROTOCOL_FEATURES:
    case VHOST_USER_SET_VRING_KICK:
    case VHOST_USER_SET_VRING_CALL:
    case VHOST_USER_SET_VRING_ERR:
        return m->h.size == sizeof(uint64_t);
    case VHOST_USER_SET_VRING_NUM:
    case VHOST_USER_SET_VRING_BASE:
    case VHOST_USER_GET_VRING_BASE:
    case VHOST_USER_SET_VRING_ENABLE:
        return m->h.size == sizeof(struct vhost_vring_state);
    case VHOST_USER_SET_VRING_ADDR:
        return m->h.size == sizeof(struct vhost_vring_addr);
    case VHOST_USER_GET_CONFIG:
    case VHOST_USER_SET_CONFIG:
        return m->h.size >= 12 && m->p.config.size <= CONFIG_MAX &&
               m->h.size == 12 + m->p.config.size;
    case VHOST_USER_SET_DEVICE_STATE_FD:
        return m->h.size == sizeof(struct vu_transfer);
    case VHOST_USER_CHECK_DEVICE_STATE:
        return m->h.size == 0;
    default:
        return true;
    }
}

/* dispatch() results besides 0 and -errno (the REPLY_ACK answer). */
#define REPLIED 1               /* answered with the request's own reply */
#define REPLY_FAILED (-0x10000) /* the reply could not be sent */

/* Requests answered with a reply of their own, even when they fail (with
 * an empty payload): a frontend waits for it. */
static bool has_reply(uint32_t request)
{
    switch (request) {
    case VHOST_USER_GET_FEATURES:
    case VHOST_USER_GET_PROTOCOL_FEATURES:
    case VHOST_USER_GET_QUEUE_NUM:
    case VHOST_USER_GET_VRING_BASE:
    case VHOST_USER_GET_CONFIG:
    case VHOST_USER_SET_DEVICE_STATE_FD:
    case VHOST_USER_CHECK_DEVICE_STATE:
        return true;
    default:
        return false;
    }
}

/*
 * Device state transfer (vhost-user.rst, "Migrating back-end state"): the
 * state is the stream of viommu_save(), written into or read from the
 * frontend's pipe once the reply has told the frontend to go on, while the
 * device is suspended (no ring started). The daemon serves nothing else
 * meanwhile, so the transfer must end within transfer_timeout_ms or it
 * fails; either way CHECK_DEVICE_STATE then reports how it went.
 */
struct transfer_io {
    int fd;
    int64_t deadline;
};

/* Waits until the pipe is ready for `events`; -ETIMEDOUT after the
 * deadline. */
static int transfer_wait(struct transfer_io *io, short events)
{
    struct pollfd pfd = {.fd = io->fd, .events = events};
    int64_t left = io->deadline - now_ms();

    if (left <= 0) {
        return -ETIMEDOUT;
    }
    int n = poll(&pfd, 1, (int)left);
    if (n < 0) {
        return errno == EINTR ? 0 : -errno;
    }
    return n == 0 ? -ETIMEDOUT : 0;
}

static int transfer_write(void *opaque, const void *buf, size_t len)
{
    struct transfer_io *io = opaque;
    const uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = write(io->fd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EINTR && errno != EAGAIN) {
            return -errno;
        }
        int err = transfer_wait(io, POLLOUT);
        if (err != 0) {
            return err;
        }
    }
    return 0;
}

static ssize_t transfer_read(void *opaque, void *buf, size_t len)
{
    struct transfer_io *io = opaque;

    for (;;) {
        ssize_t n = read(io->fd, buf, len);
        if (n >= 0) {
            return n;
        }
        if (errno != EINTR && errno != EAGAIN) {
            return -errno;
        }
        int err = transfer_wait(io, POLLIN);
        if (err != 0) {
            return err;
        }
    }
}

/* A device is suspended when none of its rings is started (by a kick fd,
 * until GET_VRING_BASE stops it). */
static bool suspended(const struct vu_dev *d)
{
    for (unsigned i = 0; i < VU_NR_QUEUES; i++) {
        if (d->vq[i].kick_fd >= 0) {
            return false;
        }
    }
    return true;
}

static int check_transfer(const struct vu_dev *d, const struct vu_msg *m)
{
    const struct vu_transfer *t = &m->p.transfer;

    if (!(d->protocol_features &
          (1ULL << VHOST_USER_PROTOCOL_F_DEVICE_STATE))) {
        return -EOPNOTSUPP;
    }
    if (m->nfds != 1 || t->direction > TRANSFER_LOAD ||
        t->phase != PHASE_STOPPED) {
        return -EINVAL;
    }
    if (!suspended(d)) {
        return -EBUSY;
    }
    return 0;
}

static int set_device_state_fd(struct vu_dev *d, struct vu_msg *m)
{
    bool save = m->p.transfer.direction == TRANSFER_SAVE;
    int err = check_transfer(d, m);
    int fd = -1;

    if (m->nfds == 1) {
        fd = m->fds[0];
        m->nfds = 0;
    }
    if (err == 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        err = -errno;
    }
    d->transfer_err = err;
    /* Bits 0-7: 0 or an error; the daemon uses the frontend's channel. */
    if (!reply_u64(d, m, VRING_NOFD | (err != 0 ? 1u : 0u))) {
        if (fd >= 0) {
            close(fd);
        }
        return REPLY_FAILED;
    }
    if (err != 0) {
        if (fd >= 0) {
            close(fd);
        }
        dlog(VIOMMU_LOG_WARN, "device state transfer refused: %s",
             strerror(-err));
        return REPLIED;
    }
    struct transfer_io io = {fd, now_ms() + d->transfer_timeout_ms};
    err = save ? viommu_save(d->v, transfer_write, &io)
               : viommu_restore(d->v, transfer_read, &io);
    close(fd);
    d->transfer_err = err;
    if (err != 0) {
        dlog(VIOMMU_LOG_ERR, "device state %s failed: %s",
             save ? "save" : "load", strerror(-err));
    } else {
        dlog(VIOMMU_LOG_INFO, "device state %s", save ? "saved" : "loaded");
    }
    return REPLIED;
}

static int dispatch(struct vu_dev *d, struct vu_msg *m)
{
    struct vq *vq;
    int err;

    if (!size_ok(m)) {
        return -EINVAL;
    }
    /* Only SET_MEM_TABLE, SET_VRING_{KICK,CALL,ERR} and
     * SET_DEVICE_STATE_FD carry fds. */
    switch (m->h.request) {
    case VHOST_USER_GET_FEATURES:
        return reply_u64(d, m, vu_features(d)) ? REPLIED : REPLY_FAILED;
    case VHOST_USER_SET_FEATURES:
        return set_features(d, m->p.u64);
    case VHOST_USER_SET_OWNER:
        return 0;
    case VHOST_USER_RESET_OWNER:
    case VHOST_USER_RESET_DEVICE:
        reset_state(d);
        return 0;
    case VHOST_USER_GET_PROTOCOL_FEATURES:
        return reply_u64(d, m, PROTOCOL_FEATURES) ? REPLIED : REPLY_FAILED;
    case VHOST_USER_SET_PROTOCOL_FEATURES:
        if (m->p.u64 & ~PROTOCOL_FEATURES) {
            return -EINVAL;
        }
        d->protocol_features = m->p.u64;
        return 0;
    case VHOST_USER_GET_QUEUE_NUM:
        return reply_u64(d, m, VU_NR_QUEUES) ? REPLIED : REPLY_FAILED;
    case VHOST_USER_SET_MEM_TABLE:
        return set_mem_table(d, m);
    case VHOST_USER_SET_VRING_NUM:
        vq = queue(d, m->p.state.index);
        if (vq == NULL || m->p.state.num == 0 ||
            m->p.state.num > VRING_MAX_SIZE ||
            (m->p.state.num & (m->p.state.num - 1)) != 0) {
            return -EINVAL;
        }
        vq->num = m->p.state.num;
        /* Mapped rings were checked for the old size. */
        return vq_remap(vq, &d->mem);
    case VHOST_USER_SET_VRING_ADDR:
        vq = queue(d, m->p.addr.index);
        if (vq == NULL) {
            return -EINVAL;
        }
        vq->desc_uva = m->p.addr.desc_user_addr;
        vq->avail_uva = m->p.addr.avail_user_addr;
        vq->used_uva = m->p.addr.used_user_addr;
        vq->addr_set = true;
        return vq_map(vq, &d->mem);
    case VHOST_USER_SET_VRING_BASE:
        vq = queue(d, m->p.state.index);
        if (vq == NULL || m->p.state.num > UINT16_MAX) {
            return -EINVAL;
        }
        vq->last_avail = (uint16_t)m->p.state.num;
        return 0;
    case VHOST_USER_GET_VRING_BASE:
        vq = queue(d, m->p.state.index);
        if (vq == NULL) {
            return -EINVAL;
        }
        /* The ring stops: it must be set up again to restart. */
        m->p.state.num = vq->last_avail;
        vq_reset(vq);
        return send_reply(d, m, sizeof(m->p.state)) ? REPLIED : REPLY_FAILED;
    case VHOST_USER_SET_VRING_KICK:
    case VHOST_USER_SET_VRING_CALL:
    case VHOST_USER_SET_VRING_ERR:
        err = set_vring_fd(d, m);
        if (err == 0 && m->h.request == VHOST_USER_SET_VRING_KICK) {
            /* A kick may have come before the ring was started. */
            vu_kick(d, m->p.u64 & VRING_INDEX_MASK);
        }
        return err;
    case VHOST_USER_SET_VRING_ENABLE:
        vq = queue(d, m->p.state.index);
        if (vq == NULL || m->p.state.num > 1) {
            return -EINVAL;
        }
        vq->enabled = m->p.state.num;
        return 0;
    case VHOST_USER_GET_CONFIG: {
        struct vu_config *c = &m->p.config;
        /* A zero-sized payload tells the frontend it failed. */
        if (viommu_config_read(d->v, c->offset, c->region, c->size) != 0) {
            return -EINVAL;
        }
        return send_reply(d, m, m->h.size) ? REPLIED : REPLY_FAILED;
    }
    case VHOST_USER_SET_CONFIG:
        return viommu_config_write(d->v, m->p.config.offset, m->p.config.region,
                                   m->p.config.size);
    case VHOST_USER_SET_DEVICE_STATE_FD:
        return set_device_state_fd(d, m);
    case VHOST_USER_CHECK_DEVICE_STATE:
        if (!(d->protocol_features &
              (1ULL << VHOST_USER_PROTOCOL_F_DEVICE_STATE))) {
            return -EOPNOTSUPP;
        }
        /* 0, or the errno of what went wrong. */
        return reply_u64(d, m, (uint64_t)-d->transfer_err) ? REPLIED
                                                           : REPLY_FAILED;
    default:
        dlog(VIOMMU_LOG_WARN, "request %u is not supported", m->h.request);
        return -EOPNOTSUPP;
    }
}

bool vu_handle_message(struct vu_dev *d)
{
    struct vu_msg m;

    if (!read_msg(d->conn, &m)) {
        return false;
    }
    if ((m.h.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
        dlog(VIOMMU_LOG_ERR, "request %u: unknown protocol version %u",
             m.h.request, m.h.flags & VHOST_USER_VERSION_MASK);
        close_fds(&m);
        return false;
    }
    int ret = dispatch(d, &m);
    if (m.nfds > 0) {
        dlog(VIOMMU_LOG_WARN, "request %u: %u unexpected fds closed",
             m.h.request, m.nfds);
        close_fds(&m);
    }
    if (ret == REPLY_FAILED) {
        return false;
    }
    if (ret < 0) {
        dlog(VIOMMU_LOG_WARN, "request %u refused: %s", m.h.request,
             strerror(-ret));
        if (has_reply(m.h.request)) {
            return send_reply(d, &m, 0);
        }
    }
    if (ret <= 0 && (m.h.flags & VHOST_USER_FLAG_NEED_REPLY) &&
        (d->protocol_features & (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK))) {
        return reply_u64(d, &m, ret == 0 ? 0 : 1);
    }
    return true;
}

static void notify(int fd)
{
    uint64_t one = 1;

    if (fd >= 0 && write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        dlog(VIOMMU_LOG_WARN, "cannot signal the guest: %s", strerror(errno));
    }
}

static void broken(struct vq *vq, unsigned index, int err, const char *why)
{
    dlog(VIOMMU_LOG_ERR, "queue %u broken until set up again: %s (%s)", index,
         why, strerror(-err));
    notify(vq->err_fd);
}

static void serve_requests(struct vu_dev *d)
{
    struct vq *vq = &d->vq[0];
    struct chain *c = &d->chain;
    bool pushed = false;
    const char *why;
    int got;

    unsigned budget = REQUEST_BUDGET;

    d->backlog = false;
    while (vq_ready(vq) && (got = vq_pop(vq, &d->mem, c, &why)) != 0) {
        uint32_t used = 0;
        if (got < 0) {
            broken(vq, 0, got, why);
            break;
        }
        /* Fails only for NULL arguments, which a chain never has; used
         * stays 0 then, which the guest reads as an I/O error. */
        if (viommu_handle_request(d->v, c->in, c->nr_in, c->out, c->nr_out,
                                  &used) != 0) {
            used = 0;
        }
        vq_push(vq, c->head, used);
        pushed = true;
        if (--budget == 0) {
            d->backlog = true; /* the rest after a look at the other fds */
            break;
        }
    }
    if (pushed && vq_need_notify(vq)) {
        notify(vq->call_fd);
    }
}

void vu_serve_events(struct vu_dev *d)
{
    struct vq *vq = &d->vq[1];
    struct chain *c = &d->chain;
    struct viommu_stats st;
    bool pushed = false;
    const char *why;

    for (;;) {
        viommu_get_stats(d->v, &st);
        if (st.pending_faults == 0 || !vq_ready(vq)) {
            break;
        }
        int got = vq_pop(vq, &d->mem, c, &why);
        if (got <= 0) {
            if (got < 0) {
                broken(vq, 1, got, why);
            }
            break;
        }
        uint32_t used = 0;
        if (viommu_event_pop(d->v, c->out, c->nr_out, &used) != 0) {
            dlog(VIOMMU_LOG_WARN, "event buffer of the guest too small");
        }
        vq_push(vq, c->head, used);
        pushed = true;
    }
    if (pushed && vq_need_notify(vq)) {
        notify(vq->call_fd);
    }
}

void vu_kick(struct vu_dev *d, unsigned queue_index)
{
    struct vq *vq = &d->vq[queue_index];
    uint64_t count;

    if (vq->kick_fd >= 0) {
        ssize_t n = read(vq->kick_fd, &count, sizeof(count));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            /* Not an eventfd that works: it would wake poll forever. */
            dlog(VIOMMU_LOG_ERR,
                 "queue %u: kick fd unusable; the ring waits for a new one",
                 queue_index);
            close(vq->kick_fd);
            vq->kick_fd = -1;
        }
    }
    serve_requests(d);
    vu_serve_events(d);
}

bool vu_busy(const struct vu_dev *d)
{
    return d->backlog;
}
