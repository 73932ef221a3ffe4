/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the daemon's vhost-user backend: the fuzzer is the
 * frontend and the guest at once (peer.h), on one backend connected
 * through a real socketpair. Each input is a sequence of operations:
 *
 * - messages: raw ones (any request, size, flags and fds); the set-up a
 *   frontend sends, whole or as a script whose messages are each kept,
 *   dropped, repeated, corrupted, cut or flagged; one message cut into
 *   pieces read by separate vu_receive() calls, possibly ending in a
 *   hang-up; bursts of one message in a single write;
 * - memory tables replaced under live rings and requests in flight,
 *   regions cut out of guest memory, moved, or backed by a file the
 *   frontend may later truncate;
 * - ring resets: GET_VRING_BASE, then the ring started again from the
 *   base it returned (or another), completely or not;
 * - device state transfers: rings stopped, the state saved through a
 *   pipe, possibly mutated, loaded back, the rings started again;
 * - the guest: writes anywhere in its memory, descriptors, available
 *   heads, well-formed requests and event buffers, kicks, and faults for
 *   the event queue; the frontend may stop reading replies.
 *
 * Whatever comes, the backend must neither crash nor trip a sanitizer;
 * every reply must be well framed; a ring the backend holds must lie in
 * memory it has mapped; a frontend that hangs up must be noticed; a saved
 * state must load back; and no fd may outlive the input.
 */
#include <endian.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/virtio_iommu.h>
#include <linux/virtio_ring.h>

#include "input.h"
#include "log.h"
#include "peer.h"
#include "vhost_user.h"

#define TRANSFER_SAVE 0u
#define TRANSFER_LOAD 1u
#define DEVICE_STATE (1ULL << 19) /* protocol feature */
#define STATE_MAX 65536 /* a pipe's capacity: the backend never waits */

struct fuzz {
    struct viommu *v;
    struct vu_dev d;
    struct peer p;
    int loose; /* guest memory the frontend may truncate; -1: none */
};

/* Protocol features from one byte: MQ, REPLY_ACK, CONFIG, RESET_DEVICE,
 * DEVICE_STATE, and one the backend does not offer. */
static uint64_t protocol_features(uint8_t b)
{
    static const unsigned bits[] = {0, 3, 9, 13, 19, 1};
    uint64_t f = 0;

    for (unsigned i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
        if (b & (1u << i)) {
            f |= 1ULL << bits[i];
        }
    }
    return f;
}

static uint64_t features(struct fuzz *f, struct input *in)
{
    return vu_features(&f->d) & (take(in, 8) | VIOMMU_F_VERSION_1);
}

/* A raw message with whatever request, flags, size and fds. */
static void raw(struct fuzz *f, struct input *in)
{
    struct peer_msg m;
    int fds[3] = {f->p.memfd, f->p.kick[0], f->p.err[1]};

    m.request = (uint32_t)take(in, 1) % 48;
    m.flags = VHOST_USER_VERSION | ((uint32_t)take(in, 1) & 0x0f);
    m.size = (uint32_t)take(in, 2) % 300;
    m.nfds = (unsigned)take(in, 1) % 4;
    if (m.size == 299) {
        m.size = MSG_MAX_PAYLOAD + 1; /* over the backend's limit */
    }
    memset(m.payload, 0, sizeof(m.payload));
    for (uint32_t i = 0; i < m.size && i < PEER_PAYLOAD_MAX && in->left > 0;
         i++) {
        m.payload[i] = (uint8_t)take(in, 1);
    }
    memcpy(m.fds, fds, sizeof(fds));
    (void)peer_send(&f->p, &m);
}

/* The set-up, each message kept, dropped, sent twice, corrupted, cut in
 * two, or flagged as the input says. */
static void script(struct fuzz *f, struct input *in)
{
    struct peer_msg m[PEER_SETUP_MSGS];

    peer_setup_msgs(&f->p, features(f, in),
                    protocol_features((uint8_t)take(in, 1)), m);
    for (unsigned i = 0; i < PEER_SETUP_MSGS; i++) {
        struct peer_msg *msg = &m[i];
        size_t cut;
        switch (take(in, 1) % 8) {
        case 0:
            break; /* dropped */
        case 1:
            (void)peer_send(&f->p, msg);
            (void)peer_send(&f->p, msg);
            break;
        case 2:
            if (msg->size > 0) {
                msg->payload[take(in, 1) % msg->size] ^= (uint8_t)take(in, 1);
            }
            (void)peer_send(&f->p, msg);
            break;
        case 3:
            cut = take(in, 1) % (12 + msg->size + 1);
            (void)peer_send_cut(&f->p, msg, &cut, 1);
            break;
        case 4:
            msg->flags |= (uint32_t)take(in, 1) & 0x0c;
            (void)peer_send(&f->p, msg);
            break;
        default:
            (void)peer_send(&f->p, msg);
            break;
        }
    }
}

/* Guest memory the frontend may truncate: a memfd that cannot be sealed. */
static int loose_memory(struct fuzz *f)
{
    if (f->loose < 0) {
        f->loose = memfd_create("loose", MFD_CLOEXEC);
        if (f->loose < 0 || ftruncate(f->loose, PEER_MEM_SIZE) != 0) {
            abort();
        }
    }
    return f->loose;
}

/*
 * A new memory table under whatever the rings and the guest are doing:
 * up to three regions, each a run of guest memory pages (possibly moved in
 * guest or frontend addresses, or one byte too long), backed by guest
 * memory, by loose memory or by an eventfd.
 */
static void remap(struct fuzz *f, struct input *in)
{
    struct {
        uint32_t nregions, padding;
        struct vu_mem_region r[3];
    } t = {(uint32_t)take(in, 1) % 4, 0, {{0}}};
    struct peer_msg m;

    for (unsigned i = 0; i < t.nregions; i++) {
        uint64_t first = (take(in, 1) % 16) * 0x1000;
        uint64_t size = (take(in, 1) % 17) * 0x1000;
        unsigned how = (unsigned)take(in, 1);
        t.r[i] = (struct vu_mem_region){
            .guest_phys_addr = first + (how & 1 ? 0x100000 : 0),
            .memory_size = size + (how & 2 ? 1 : 0),
            .userspace_addr = PEER_UVA + first + (how & 4 ? 0x100000 : 0),
            .mmap_offset = first,
        };
        m.fds[i] = (how >> 3) % 3 == 0   ? f->p.memfd
                   : (how >> 3) % 3 == 1 ? loose_memory(f)
                                         : f->p.kick[0];
    }
    peer_msg_set(&m, VHOST_USER_SET_MEM_TABLE, &t,
                 8 + t.nregions * sizeof(struct vu_mem_region));
    m.flags |= (uint32_t)take(in, 1) & VHOST_USER_FLAG_NEED_REPLY;
    m.nfds = t.nregions;
    (void)peer_send(&f->p, &m);
}

static void stop_ring(struct fuzz *f, unsigned q, uint16_t *base)
{
    struct vhost_vring_state st = {q, 0};
    struct peer_msg m;

    peer_msg_set(&m, VHOST_USER_GET_VRING_BASE, &st, sizeof(st));
    if (peer_call(&f->p, &m, &st, sizeof(st)) == sizeof(st)) {
        const struct vq *vq = &f->d.vq[q];
        if (vq->kick_fd >= 0 || vq->desc != NULL) {
            abort(); /* GET_VRING_BASE stops the ring */
        }
        *base = (uint16_t)st.num;
    }
}

/* Sends the first `count` messages that start ring q again. */
static void start_ring(struct fuzz *f, unsigned q, uint16_t base,
                       unsigned count)
{
    struct peer_msg m[PEER_RING_MSGS];

    peer_ring_msgs(&f->p, q, base, m);
    for (unsigned i = 0; i < count && i < PEER_RING_MSGS; i++) {
        (void)peer_send(&f->p, &m[i]);
    }
}

/* GET_VRING_BASE, then the ring started again from the base it said or
 * another, with all the messages that takes or only some. */
static void ring_reset(struct fuzz *f, struct input *in)
{
    unsigned q = take(in, 1) & 1;
    unsigned how = (unsigned)take(in, 1);
    uint16_t base = 0;

    stop_ring(f, q, &base);
    if (how & 1) {
        base = (uint16_t)take(in, 2);
    }
    start_ring(f, q, base, how & 2 ? take(in, 1) % PEER_RING_MSGS : 7);
}

/* One set-up message (or a message too large) cut into pieces, each read
 * by a vu_receive() of its own; the frontend may hang up before the last
 * piece. */
static void cut(struct fuzz *f, struct input *in)
{
    struct peer_msg m[PEER_SETUP_MSGS];
    uint8_t bytes[PEER_MSG_BYTES];

    peer_setup_msgs(&f->p, features(f, in),
                    protocol_features((uint8_t)take(in, 1)), m);
    struct peer_msg *msg = &m[take(in, 1) % PEER_SETUP_MSGS];
    unsigned pieces = 1 + take(in, 1) % 3;
    size_t len = peer_msg_bytes(msg, bytes), from = 0;

    if (take(in, 1) & 1) {
        msg->size = MSG_MAX_PAYLOAD + 1;
        len = peer_msg_bytes(msg, bytes);
    }
    for (unsigned i = 0; i < pieces && from < len; i++) {
        size_t to = from + 1 + take(in, 1) % 24;
        to = to < len ? to : len;
        bool first = from == 0;
        if (!peer_write(&f->p, bytes + from, to - from, first ? msg->fds : NULL,
                        first ? msg->nfds : 0)) {
            return;
        }
        from = to;
    }
    if (from < len && (take(in, 1) & 1)) {
        peer_hangup(&f->p);
    } else if (from < len) {
        (void)peer_write(&f->p, bytes + from, len - from, NULL, 0);
    }
}

/* Many copies of one message in a single write. */
static void burst(struct fuzz *f, struct input *in)
{
    static uint8_t bytes[1024 * PEER_MSG_BYTES];
    struct vhost_vring_state on = {take(in, 1) & 1, 1};
    struct {
        uint32_t offset, size, flags;
        uint8_t data[8];
    } cfg = {(uint32_t)take(in, 1) % 40, 8, 0, {0}};
    struct peer_msg m;
    /* A few, or enough unread replies to exceed what the backend keeps. */
    unsigned count = (unsigned)take(in, 1);
    count = count == 0xff ? 1024 : 1 + count % 16;
    size_t len = 0;

    switch (take(in, 1) % 4) {
    case 0:
        peer_msg_set(&m, VHOST_USER_GET_QUEUE_NUM, NULL, 0);
        break;
    case 1:
        peer_msg_set(&m, VHOST_USER_GET_CONFIG, &cfg, sizeof(cfg));
        break;
    case 2:
        peer_msg_set(&m, VHOST_USER_SET_VRING_ENABLE, &on, sizeof(on));
        break;
    default:
        peer_msg_set(&m, VHOST_USER_SET_OWNER, NULL, 0);
        break;
    }
    m.flags |= (uint32_t)take(in, 1) & VHOST_USER_FLAG_NEED_REPLY;
    for (unsigned i = 0; i < count; i++) {
        len += peer_msg_bytes(&m, bytes + len);
    }
    (void)peer_write(&f->p, bytes, len, NULL, 0);
}

static uint64_t call_u64(struct fuzz *f, uint32_t request, const void *payload,
                         uint32_t size, int fd)
{
    struct peer_msg m;
    uint64_t reply = UINT64_MAX;

    peer_msg_set(&m, request, payload, size);
    if (fd >= 0) {
        m.fds[0] = fd;
        m.nfds = 1;
    }
    if (peer_call(&f->p, &m, &reply, sizeof(reply)) != sizeof(reply)) {
        return UINT64_MAX;
    }
    return reply;
}

/* SET_DEVICE_STATE_FD with the pipe end fd (closed here), then
 * CHECK_DEVICE_STATE: its answer, 0 when the transfer worked. */
static uint64_t transfer(struct fuzz *f, uint32_t direction, uint32_t phase,
                         int fd)
{
    uint32_t params[2] = {direction, phase};
    uint64_t reply =
        call_u64(f, VHOST_USER_SET_DEVICE_STATE_FD, params, sizeof(params), fd);

    close(fd);
    uint64_t check = call_u64(f, VHOST_USER_CHECK_DEVICE_STATE, NULL, 0, -1);
    return reply == UINT64_MAX || (reply & 0xff) != 0 ? UINT64_MAX : check;
}

/* The destination's set-up before its state is loaded: a new connection
 * (the backend resets), the features of the source, protocol features
 * with the state transfer, owner and memory table. */
static void destination(struct fuzz *f)
{
    struct peer_msg m[PEER_SETUP_MSGS];
    uint64_t protocol = f->d.protocol_features | DEVICE_STATE;

    peer_setup_msgs(&f->p, f->d.features, protocol, m);
    peer_reconnect(&f->p);
    for (unsigned i = 0; i < PEER_DEVICE_MSGS; i++) {
        (void)peer_send(&f->p, &m[i]);
    }
}

/*
 * A migration as QEMU does it, with the same backend as the source and the
 * destination: both rings stopped (unless the input says not to), the state
 * saved through a pipe, possibly mutated or cut, the destination set up
 * (unless the input loads into the source as it is), the state loaded (a
 * pipe left open or not), and the rings started again. A state saved
 * whole must load.
 */
static void migrate(struct fuzz *f, struct input *in)
{
    static uint8_t state[STATE_MAX];
    unsigned how = (unsigned)take(in, 1);
    uint16_t base[2] = {0, 0};
    size_t len = 0;
    int p[2];

    if (!(how & 1)) {
        stop_ring(f, 0, &base[0]);
        stop_ring(f, 1, &base[1]);
    }
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
        abort();
    }
    if (how & 2) {
        close(p[0]); /* nobody reads: EPIPE */
        p[0] = -1;
    }
    bool whole = transfer(f, TRANSFER_SAVE, how & 4 ? 1 : 0, p[1]) == 0;
    if (p[0] >= 0) {
        ssize_t n;
        while (len < STATE_MAX &&
               (n = read(p[0], state + len, STATE_MAX - len)) > 0) {
            len += (size_t)n;
        }
        close(p[0]);
    }
    if ((how & 8) && len > 0) {
        state[take(in, 2) % len] ^= (uint8_t)(take(in, 1) | 1);
        whole = false;
    }
    if (how & 16) {
        len = take(in, 2) % (len + 1);
        whole = false;
    }
    if (how & 64) {
        whole = false; /* the source keeps its domains: refused */
    } else {
        destination(f);
    }
    unsigned connections = f->p.connections;
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0 ||
        write(p[1], state, len) != (ssize_t)len) {
        abort();
    }
    if (!(how & 32)) {
        close(p[1]); /* else the backend waits for the rest, in vain */
        p[1] = -1;
    }
    uint64_t loaded = transfer(f, TRANSFER_LOAD, 0, p[0]);
    if (p[1] >= 0) {
        close(p[1]);
        whole = false;
    }
    if (whole && loaded != 0 && f->p.connections == connections) {
        abort(); /* a saved state does not load */
    }
    if (!(how & 1)) {
        start_ring(f, 0, base[0], PEER_RING_MSGS);
        start_ring(f, 1, base[1], PEER_RING_MSGS);
    }
}

/* A well-formed request with IDs from small ranges, so that requests meet
 * each other's domains, endpoints and mappings. */
static void request(struct fuzz *f, struct input *in)
{
    uint8_t req[PEER_REQ_MAX] = {0};
    uint8_t type = 1 + take(in, 1) % 5;
    uint32_t domain = htole32((uint32_t)take(in, 1) % 4);
    uint32_t ep = htole32((uint32_t)take(in, 1) % 5);
    uint64_t start = take(in, 1) * 0x1000;
    uint64_t end = htole64(start + (take(in, 1) % 16 + 1) * 0x1000 - 1);
    uint32_t flags = htole32((uint32_t)take(in, 1) % 8);
    uint32_t bypass = htole32((uint32_t)take(in, 1) & 1);
    size_t len, resp_len = sizeof(struct virtio_iommu_req_tail);
    unsigned how = (unsigned)take(in, 1);

    req[0] = type;
    start = htole64(start);
    switch (type) {
    case VIRTIO_IOMMU_T_ATTACH:
    case VIRTIO_IOMMU_T_DETACH:
        memcpy(req + 4, &domain, 4);
        memcpy(req + 8, &ep, 4);
        if (type == VIRTIO_IOMMU_T_ATTACH) {
            memcpy(req + 12, &bypass, 4);
        }
        len = sizeof(struct virtio_iommu_req_attach) - resp_len;
        break;
    case VIRTIO_IOMMU_T_MAP:
    case VIRTIO_IOMMU_T_UNMAP:
        memcpy(req + 4, &domain, 4);
        memcpy(req + 8, &start, 8);
        memcpy(req + 16, &end, 8);
        if (type == VIRTIO_IOMMU_T_MAP) {
            memcpy(req + 24, &start, 8);
            memcpy(req + 32, &flags, 4);
            len = sizeof(struct virtio_iommu_req_map) - resp_len;
        } else {
            len = sizeof(struct virtio_iommu_req_unmap) - resp_len;
        }
        break;
    default:
        memcpy(req + 4, &ep, 4);
        len = sizeof(struct virtio_iommu_req_probe);
        resp_len += 64;
        break;
    }
    (void)peer_post(&f->p, 0, req, len, resp_len, how & 1, how & 2);
    if (how & 4) {
        peer_kick(&f->p, 0);
    }
}

/* Buffers for the event queue, made available and kicked or not. */
static void event_buffers(struct fuzz *f, struct input *in)
{
    unsigned n = 1 + take(in, 1) % 4;
    size_t len = take(in, 1) % 48;
    unsigned how = (unsigned)take(in, 1);

    for (unsigned i = 0; i < n; i++) {
        (void)peer_post(&f->p, 1, NULL, 0, len, how & 1, how & 2);
    }
    if (how & 4) {
        peer_kick(&f->p, 1);
    }
}

/* The frontend: stops or resumes reading replies, truncates the loose
 * memory or gives it its size back, or hangs up. */
static void frontend(struct fuzz *f, struct input *in)
{
    switch (take(in, 1) % 4) {
    case 0:
        f->p.deaf = !f->p.deaf;
        break;
    case 1:
        if (ftruncate(loose_memory(f), 0) != 0) {
            abort();
        }
        break;
    case 2:
        if (ftruncate(loose_memory(f), PEER_MEM_SIZE) != 0) {
            abort();
        }
        break;
    default:
        peer_hangup(&f->p);
        break;
    }
}

static bool mapped(const struct mem_table *t, const void *p, uint64_t len)
{
    for (unsigned i = 0; i < t->n; i++) {
        const uint8_t *base = t->r[i].base;
        if ((const uint8_t *)p >= base &&
            len <= t->r[i].map_size - (uint64_t)((const uint8_t *)p - base)) {
            return true;
        }
    }
    return false;
}

/* A ring the backend holds lies in memory it has mapped, for its size. */
static void check_rings(const struct vu_dev *d)
{
    for (unsigned q = 0; q < VU_NR_QUEUES; q++) {
        const struct vq *vq = &d->vq[q];
        uint64_t n = vq->num;
        if (vq->desc == NULL) {
            continue;
        }
        if (n == 0 || n > VRING_MAX_SIZE || (n & (n - 1)) != 0 ||
            !mapped(&d->mem, vq->desc, 16 * n) ||
            !mapped(&d->mem, vq->avail, 6 + 2 * n) ||
            !mapped(&d->mem, vq->used, 6 + 8 * n)) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz f;
    static bool guarded;
    struct input in = {data, size};
    struct viommu_config cfg = {
        .size = sizeof(cfg), .probe_size = 64, .max_mappings = 64};

    if (getenv("FUZZ_LOG") != NULL) {
        dlog_level = VIOMMU_LOG_DEBUG;
        cfg.log = dlog_device;
        cfg.max_log_level = VIOMMU_LOG_DEBUG;
    } else {
        dlog_level = -1; /* silent */
    }
    /* After libFuzzer's own handlers, as the daemon installs it. */
    if (!guarded && mem_guard_install() != 0) {
        abort();
    }
    guarded = true;
    f.v = viommu_new(&cfg);
    if (f.v == NULL) {
        abort();
    }
    for (uint32_t id = 0; id < 4; id++) {
        struct viommu_endpoint_config ep = {.size = sizeof(ep), .id = id};
        if (viommu_endpoint_add(f.v, &ep) != 0) {
            abort();
        }
    }
    vu_init(&f.d, f.v);
    take(&in, 1); /* once a flag (unsealed memory allowed): inputs keep it */
    f.d.transfer.timeout_ms = 0; /* a transfer never waits */
    f.loose = -1;
    peer_init(&f.p, &f.d);

    while (in.left > 0) {
        switch (take(&in, 1) % 16) {
        case 0:
            raw(&f, &in);
            break;
        case 1:
            peer_setup(&f.p, features(&f, &in),
                       protocol_features((uint8_t)take(&in, 1)));
            break;
        case 2: { /* guest memory, anywhere */
            size_t off = take(&in, 2) % PEER_MEM_SIZE;
            size_t len = take(&in, 1);
            for (size_t i = 0; i < len && off + i < PEER_MEM_SIZE; i++) {
                f.p.mem[off + i] = (uint8_t)take(&in, 1);
            }
            break;
        }
        case 3: { /* a descriptor of queue q's table */
            unsigned q = take(&in, 1) & 1;
            struct vring_desc *desc = (void *)(f.p.mem + PEER_RING(q));
            unsigned i = take(&in, 1) % PEER_QUEUE_SIZE;
            desc[i].addr = htole64(take(&in, 2) % (PEER_MEM_SIZE + 64));
            desc[i].len = htole32((uint32_t)take(&in, 2));
            desc[i].flags = htole16((uint16_t)(take(&in, 1) & 7));
            desc[i].next =
                htole16((uint16_t)(take(&in, 1) % (PEER_QUEUE_SIZE + 2)));
            break;
        }
        case 4: { /* make a head available, then kick */
            unsigned q = take(&in, 1) & 1;
            struct vring_avail *avail =
                (void *)(f.p.mem + PEER_RING(q) + 0x1000);
            uint16_t idx = le16toh(avail->idx);
            avail->ring[idx % PEER_QUEUE_SIZE] =
                htole16((uint16_t)take(&in, 1));
            avail->idx = htole16(
                (uint16_t)(idx + 1 + (take(&in, 1) == 0xff ? 1000 : 0)));
            uint64_t one = 1;
            if (write(f.p.kick[q], &one, sizeof(one)) != sizeof(one)) {
                abort();
            }
            peer_kick(&f.p, q);
            break;
        }
        case 5: { /* a refused DMA: a fault report for the event queue */
            struct viommu_translation t = {.size = sizeof(t)};
            (void)viommu_translate(f.v, take(&in, 1) % 5, take(&in, 2) << 12,
                                   VIOMMU_ACCESS_READ, &t);
            peer_serve_events(&f.p);
            break;
        }
        case 6:
            peer_kick(&f.p, take(&in, 1) & 1);
            break;
        case 7:
            script(&f, &in);
            break;
        case 8:
            remap(&f, &in);
            break;
        case 9:
            ring_reset(&f, &in);
            break;
        case 10:
            cut(&f, &in);
            break;
        case 11:
            burst(&f, &in);
            break;
        case 12:
            migrate(&f, &in);
            break;
        case 13:
            request(&f, &in);
            break;
        case 14:
            event_buffers(&f, &in);
            break;
        default:
            frontend(&f, &in);
            break;
        }
        check_rings(&f.d);
    }
    if (f.loose >= 0) {
        close(f.loose);
    }
    peer_fini(&f.p);
    viommu_free(f.v);
    return 0;
}
