/* SPDX-License-Identifier: BSD-3-Clause */
#include "vhost_user.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vhost_types.h>
#include <linux/virtio_ring.h>

#include "log.h"
#include "sockmsg.h"

#define PROTOCOL_FEATURES                                                      \
    ((1ULL << VHOST_USER_PROTOCOL_F_MQ) |                                      \
     (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK) |                               \
     (1ULL << VHOST_USER_PROTOCOL_F_CONFIG) |                                  \
     (1ULL << VHOST_USER_PROTOCOL_F_RESET_DEVICE) |                            \
     (1ULL << VHOST_USER_PROTOCOL_F_DEVICE_STATE))

#define VRING_INDEX_MASK 0xffu
#define VRING_NOFD (1u << 8)
#define REQUEST_BUDGET 4096u /* requests served before looking elsewhere */

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
    transfer_init(&d->transfer, VU_TRANSFER_TIMEOUT_MS);
    for (unsigned i = 0; i < VU_NR_QUEUES; i++) {
        vq_init(&d->vq[i]);
    }
}

/* Everything a frontend set up is forgotten; the device is reset. */
static void close_fds(struct vu_msg *m)
{
    for (unsigned i = 0; i < m->nfds; i++) {
        close(m->fds[i]);
    }
    m->nfds = 0;
}

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
    transfer_end(&d->transfer, -ENODATA);
    d->check_waiting = false;
    if (viommu_reset(d->v, VIOMMU_RESET_DEVICE) != 0) {
        dlog(VIOMMU_LOG_ERR, "device reset refused");
    }
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
    close_fds(&d->rx);
    d->rx_have = 0;
    d->tx_len = 0;
    reset_state(d);
}

void vu_kick_fds(const struct vu_dev *d, struct pollfd *pfd)
{
    for (unsigned i = 0; i < VU_NR_QUEUES; i++) {
        pfd[i] = (struct pollfd){.fd = d->vq[i].kick_fd, .events = POLLIN};
    }
}

/*
 * Reads, without blocking, what the current message still lacks: its
 * header, then its payload, never beyond it (so fds always belong to the
 * message whose bytes carry them, and come with its first bytes only).
 * 1: the message is whole; 0: more to come; -1: the connection is over.
 */
static int receive_some(struct vu_dev *d)
{
    struct vu_msg *m = &d->rx;
    size_t hsize = sizeof(m->h);
    void *at;
    size_t want;

    if (d->rx_have < hsize) {
        at = (uint8_t *)&m->h + d->rx_have;
        want = hsize - d->rx_have;
    } else {
        at = m->p.raw + (d->rx_have - hsize);
        want = hsize + m->h.size - d->rx_have;
    }
    ssize_t n =
        sockmsg_recv(d->conn, at, want, m->fds, &m->nfds,
                     d->rx_have == 0 ? MEM_MAX_REGIONS : 0, MSG_DONTWAIT);
    if (n == -EAGAIN) {
        return 0;
    }
    if (n == -EMSGSIZE) {
        dlog(VIOMMU_LOG_ERR, "message with more than %u fds", MEM_MAX_REGIONS);
        return -1;
    }
    if (n <= 0) {
        if (d->rx_have > 0) {
            dlog(VIOMMU_LOG_ERR, "message cut short after %zu bytes",
                 d->rx_have);
        }
        return -1;
    }
    d->rx_have += (size_t)n;
    if (d->rx_have == hsize && m->h.size > MSG_MAX_PAYLOAD) {
        dlog(VIOMMU_LOG_ERR, "request %u: payload of %u bytes is too large",
             m->h.request, m->h.size);
        return -1;
    }
    if (d->rx_have < hsize || d->rx_have < hsize + m->h.size) {
        return receive_some(d); /* what is already there, if anything */
    }
    return 1;
}

bool vu_flush(struct vu_dev *d)
{
    while (d->tx_len > 0) {
        ssize_t n =
            send(d->conn, d->tx, d->tx_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return true;
        }
        if (n <= 0) {
            return false;
        }
        d->tx_len -= (size_t)n;
        memmove(d->tx, d->tx + n, d->tx_len);
    }
    return true;
}

short vu_conn_events(const struct vu_dev *d)
{
    return (short)((d->check_waiting ? 0 : POLLIN) |
                   (d->tx_len > 0 ? POLLOUT : 0));
}

/* Queues a reply after the ones not yet sent and sends what the socket
 * takes; false when the frontend leaves more than VU_TX_MAX unread. */
static bool send_reply(struct vu_dev *d, uint32_t request, const void *payload,
                       uint32_t size)
{
    struct vu_header h = {request, VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY,
                          size};

    if (d->tx_len + sizeof(h) + size > sizeof(d->tx)) {
        dlog(VIOMMU_LOG_ERR, "frontend does not read its replies");
        return false;
    }
    memcpy(d->tx + d->tx_len, &h, sizeof(h));
    memcpy(d->tx + d->tx_len + sizeof(h), payload, size);
    d->tx_len += sizeof(h) + size;
    return vu_flush(d);
}

static bool reply_u64(struct vu_dev *d, uint32_t request, uint64_t value)
{
    return send_reply(d, request, &value, sizeof(value));
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
    if (m->nfds != 1 || t->direction > VHOST_USER_TRANSFER_LOAD ||
        t->phase != VHOST_USER_PHASE_STOPPED) {
        return -EINVAL;
    }
    if (!suspended(d) || transfer_running(&d->transfer)) {
        return -EBUSY;
    }
    return 0;
}

/*
 * Device state transfer (vhost-user.rst, "Migrating back-end state"): the
 * reply comes at once, and the transfer then moves on in the event loop
 * (vu_transfer()) while everything else is served. A refusal ends any
 * transfer running too, with the same error (a frontend that starts a
 * second one has lost track of the first): CHECK_DEVICE_STATE reports it.
 */
static int set_device_state_fd(struct vu_dev *d, struct vu_msg *m)
{
    int err = check_transfer(d, m);
    int fd = -1;

    if (m->nfds == 1) {
        fd = m->fds[0];
        m->nfds = 0;
    }
    if (err == 0) {
        err = transfer_start(
            &d->transfer, d->v,
            m->p.transfer.direction == VHOST_USER_TRANSFER_SAVE, &fd);
    } else {
        dlog(VIOMMU_LOG_WARN, "device state transfer refused: %s",
             strerror(-err));
        transfer_end(&d->transfer, err);
        if (fd >= 0) {
            close(fd);
        }
    }
    /* Bits 0-7: 0 or an error; the daemon uses the frontend's channel. */
    return reply_u64(d, m->h.request, VRING_NOFD | (err != 0 ? 1u : 0u))
               ? REPLIED
               : REPLY_FAILED;
}

/* CHECK_DEVICE_STATE's answer: 0, or the errno of what went wrong. */
static bool answer_check(struct vu_dev *d)
{
    return reply_u64(d, VHOST_USER_CHECK_DEVICE_STATE,
                     (uint64_t)-d->transfer.result);
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
        return reply_u64(d, m->h.request, vu_features(d)) ? REPLIED
                                                          : REPLY_FAILED;
    case VHOST_USER_SET_FEATURES:
        return set_features(d, m->p.u64);
    case VHOST_USER_SET_OWNER:
        return 0;
    case VHOST_USER_RESET_OWNER:
    case VHOST_USER_RESET_DEVICE:
        reset_state(d);
        return 0;
    case VHOST_USER_GET_PROTOCOL_FEATURES:
        return reply_u64(d, m->h.request, PROTOCOL_FEATURES) ? REPLIED
                                                             : REPLY_FAILED;
    case VHOST_USER_SET_PROTOCOL_FEATURES:
        if (m->p.u64 & ~PROTOCOL_FEATURES) {
            return -EINVAL;
        }
        d->protocol_features = m->p.u64;
        return 0;
    case VHOST_USER_GET_QUEUE_NUM:
        return reply_u64(d, m->h.request, VU_NR_QUEUES) ? REPLIED
                                                        : REPLY_FAILED;
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
        return send_reply(d, m->h.request, &m->p, sizeof(m->p.state))
                   ? REPLIED
                   : REPLY_FAILED;
    case VHOST_USER_SET_VRING_KICK:
    case VHOST_USER_SET_VRING_CALL:
    case VHOST_USER_SET_VRING_ERR:
        err = set_vring_fd(d, m);
        if (err == 0 && m->h.request == VHOST_USER_SET_VRING_KICK) {
            /* The ring starts asking for kicks, whatever the driver was
             * told while the daemon polled it before it stopped; and a
             * kick may have come before it was started. */
            vq_set_quiet(queue(d, m->p.u64 & VRING_INDEX_MASK), false);
            if (!vu_kick(d, m->p.u64 & VRING_INDEX_MASK)) {
                return REPLY_FAILED; /* guest memory faulted */
            }
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
        return send_reply(d, m->h.request, &m->p, m->h.size) ? REPLIED
                                                             : REPLY_FAILED;
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
        if (transfer_running(&d->transfer)) {
            d->check_waiting = true; /* answered once it ends */
            return REPLIED;
        }
        return answer_check(d) ? REPLIED : REPLY_FAILED;
    default:
        dlog(VIOMMU_LOG_WARN, "request %u is not supported", m->h.request);
        return -EOPNOTSUPP;
    }
}

/* Handles the whole message in d->rx; false when the connection is over. */
static bool handle_message(struct vu_dev *d, void *unused)
{
    struct vu_msg *m = &d->rx;

    (void)unused;
    if ((m->h.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
        dlog(VIOMMU_LOG_ERR, "request %u: unknown protocol version %u",
             m->h.request, m->h.flags & VHOST_USER_VERSION_MASK);
        return false;
    }
    int ret = dispatch(d, m);
    if (m->nfds > 0) {
        dlog(VIOMMU_LOG_WARN, "request %u: %u unexpected fds closed",
             m->h.request, m->nfds);
        close_fds(m);
    }
    if (ret == REPLY_FAILED) {
        return false;
    }
    if (ret < 0) {
        dlog(VIOMMU_LOG_WARN, "request %u refused: %s", m->h.request,
             strerror(-ret));
        if (has_reply(m->h.request)) {
            return send_reply(d, m->h.request, &m->p, 0);
        }
    }
    if (ret <= 0 && (m->h.flags & VHOST_USER_FLAG_NEED_REPLY) &&
        (d->protocol_features & (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK))) {
        return reply_u64(d, m->h.request, ret == 0 ? 0 : 1);
    }
    return true;
}

/* Messages handled in one call before the other peers get a turn. */
#define MESSAGE_BUDGET 64

/* While a CHECK_DEVICE_STATE waits, nothing is read, and poll reports only
 * a hang-up or an error on the connection. */
static bool hung_up(const struct vu_dev *d)
{
    struct pollfd pfd = {.fd = d->conn, .events = 0};

    return poll(&pfd, 1, 0) > 0;
}

bool vu_receive(struct vu_dev *d)
{
    if (d->check_waiting) {
        return !hung_up(d);
    }
    for (unsigned budget = MESSAGE_BUDGET; budget > 0 && !d->check_waiting;
         budget--) {
        int got = receive_some(d);
        if (got == 0) {
            return true;
        }
        /* Messages touch guest memory too (ring addresses, a kick). */
        bool ok = got > 0 && vu_guarded(d, handle_message, NULL);
        close_fds(&d->rx);
        d->rx_have = 0;
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool vu_transfer(struct vu_dev *d, short revents)
{
    if (!transfer_step(&d->transfer, d->v, revents) || !d->check_waiting) {
        return true;
    }
    d->check_waiting = false;
    return answer_check(d);
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
        if (viommu_handle_request(d->v, c->req, c->nr_req, c->resp, c->nr_resp,
                                  &used) != 0) {
            used = 0;
        }
        vq_push(vq, c->head, used);
        pushed = true;
        d->served++;
        if (--budget == 0) {
            d->backlog = true; /* the rest after a look at the other fds */
            break;
        }
    }
    if (pushed && vq_need_notify(vq)) {
        notify(vq->call_fd);
    }
}

static bool serve_events(struct vu_dev *d, void *unused)
{
    struct vq *vq = &d->vq[1];
    struct chain *c = &d->chain;
    bool pushed = false;
    const char *why;

    (void)unused;
    while (viommu_event_pending(d->v) && vq_ready(vq)) {
        int got = vq_pop(vq, &d->mem, c, &why);
        if (got <= 0) {
            if (got < 0) {
                broken(vq, 1, got, why);
            }
            break;
        }
        uint32_t used = 0;
        if (viommu_event_pop(d->v, c->resp, c->nr_resp, &used) != 0) {
            dlog(VIOMMU_LOG_WARN, "event buffer of the guest too small");
        }
        vq_push(vq, c->head, used);
        pushed = true;
    }
    if (pushed && vq_need_notify(vq)) {
        notify(vq->call_fd);
    }
    return true;
}

bool vu_guarded(struct vu_dev *d, bool (*serve)(struct vu_dev *d, void *arg),
                void *arg)
{
    sigjmp_buf jb;
    sigjmp_buf *outer = mem_guard_arm(&d->mem, &jb);

    if (sigsetjmp(jb, 0) != 0) {
        mem_guard_restore(outer);
        dlog(VIOMMU_LOG_ERR, "guest memory faulted: the frontend truncated "
                             "it; disconnecting");
        return false;
    }
    bool ok = serve(d, arg);
    mem_guard_restore(outer);
    return ok;
}

bool vu_serve(struct vu_dev *d, void *unused)
{
    serve_requests(d);
    return serve_events(d, unused);
}

bool vu_kick(struct vu_dev *d, unsigned queue_index)
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
    return vu_guarded(d, vu_serve, NULL);
}

bool vu_serve_events(struct vu_dev *d)
{
    return vu_guarded(d, serve_events, NULL);
}

bool vu_busy(const struct vu_dev *d)
{
    return d->backlog;
}
