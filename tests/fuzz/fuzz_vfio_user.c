/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the daemon's vfio-user server (daemon/vfio_user.c)
 * with the device model of testing/vfio_model.c behind it, as the
 * functional tests' daemon has it. The fuzzer is the VMM and the guest at
 * once. Each input is a sequence of operations:
 *
 * - clients: connect (a second one while one is served), hang up;
 * - messages: each command well formed from a few input bytes (DMA windows
 *   of a real memfd at any IOVA, offset and size; region accesses anywhere;
 *   SET_IRQS with eventfds or booleans), then possibly corrupted (size,
 *   flags, a byte of the payload), sent whole or cut into pieces with the
 *   server served between, with 0 to 10 fds; raw bytes;
 * - the client reading its replies, or not;
 * - the guest: ATTACH, DETACH, MAP, UNMAP of the device's endpoint, so the
 *   model's DMA engine (programmed through REGION_WRITE) runs against the
 *   device core's mappings and the RAM layout the server keeps;
 * - the device removed and declared again.
 *
 * Whatever comes, the server must neither crash nor trip a sanitizer;
 * every reply must be framed (a reply to a command, within the sizes it
 * announced), carry at most one fd, and no fd may outlive the input.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/vfio.h>
#include <linux/virtio_iommu.h>

#include "driver.h"
#include "input.h"
#include "log.h"
#include "vfio_user.h"
#include "vfio_user_client.h"

#define EP 0x20
#define RAM_SIZE (1u << 20)
#define MAX_OPS 256

static char socket_dir[] = "/tmp/viommu-fuzz-vfu-XXXXXX";
static char socket_path[128];
static bool verbose;

struct fuzz {
    struct viommu *v;
    struct vfio_user_set s;
    int sock;  /* the client, -1: none */
    int memfd; /* guest RAM */
    bool listening;
};

/* A few turns of the server, as the daemon's loop gives it. */
static void step(struct fuzz *f)
{
    for (int turn = 0; turn < 4; turn++) {
        struct pollfd pfd[2 * VFIO_USER_MAX_DEVICES];
        unsigned n = vfio_user_poll_fds(&f->s, pfd);
        if (poll(pfd, n, 0) <= 0) {
            return;
        }
        vfio_user_serve(&f->s, pfd, n);
    }
}

static void hang_up(struct fuzz *f)
{
    if (f->sock >= 0) {
        close(f->sock);
        f->sock = -1;
    }
    step(f);
}

static void connect_client(struct fuzz *f)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};

    if (!f->listening) {
        return;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    strcpy(addr.sun_path, socket_path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return;
    }
    step(f);
    if (f->sock >= 0) {
        /* A second client: refused; the first stays. */
        close(fd);
        step(f);
        return;
    }
    f->sock = fd;
}

/* Sends without waiting: a server that stopped reading drops the rest. */
static void send_bytes(struct fuzz *f, const void *buf, size_t len,
                       const int *fds, unsigned nfds)
{
    struct iovec iov = {(void *)buf, len};

    if (f->sock >= 0 && len > 0) {
        (void)sockmsg_send(f->sock, &iov, 1, fds, nfds, MSG_DONTWAIT);
    }
}

/* Reads every reply there is; each must be framed. */
static void read_replies(struct fuzz *f)
{
    static uint8_t buf[VFUC_MAX_MSG];
    size_t have = 0;

    step(f);
    while (f->sock >= 0) {
        int fd;
        unsigned nfds = 0;
        ssize_t n = sockmsg_recv(f->sock, buf + have, sizeof(buf) - have, &fd,
                                 &nfds, 1, MSG_DONTWAIT);
        if (n == -EMSGSIZE || nfds > 0) {
            abort(); /* a reply never carries an fd */
        }
        if (n <= 0) {
            if (n != -EAGAIN) {
                hang_up(f);
            }
            return;
        }
        have += (size_t)n;
        /* Whole replies out of the buffer. */
        for (;;) {
            struct vfio_user_hdr h;
            if (have < VFIO_USER_HDR) {
                break;
            }
            memcpy(&h, buf, VFIO_USER_HDR);
            if (h.size < VFIO_USER_HDR || h.size > VFIO_USER_MAX_MSG ||
                (h.flags & VFIO_USER_TYPE_MASK) != VFIO_USER_TYPE_REPLY ||
                ((h.flags & VFIO_USER_ERROR) && h.size != VFIO_USER_HDR)) {
                abort();
            }
            if (have < h.size) {
                break;
            }
            memmove(buf, buf + h.size, have - h.size);
            have -= h.size;
        }
        step(f);
    }
}

/* A command shaped from a few input bytes. Returns its payload length. */
static size_t payload(struct fuzz *f, struct input *in, uint16_t cmd,
                      uint8_t *p, size_t cap, unsigned *nfds)
{
    memset(p, 0, 64);
    switch (cmd) {
    case VFIO_USER_VERSION: {
        static const char caps[] = "{\"capabilities\":{\"max_msg_fds\":8}}";
        uint16_t v[2] = {(uint16_t)(take(in, 1) % 2 == 0 ? 0 : take(in, 2)),
                         (uint16_t)take(in, 1)};
        memcpy(p, v, 4);
        size_t n = take(in, 1) % (sizeof(caps) + 1);
        memcpy(p + 4, caps, n);
        return 4 + n;
    }
    case VFIO_USER_DMA_MAP: {
        struct {
            uint32_t argsz, flags;
            uint64_t offset, addr, size;
        } m = {32, (uint32_t)take(in, 1) % 4, (take(in, 1) % 512) << 12,
               (take(in, 2) % 1024) << 12, (take(in, 1) % 300) << 12};
        if (take(in, 1) % 8 == 0) {
            m.addr = take(in, 8);
            m.size = take(in, 8);
        }
        memcpy(p, &m, sizeof(m));
        *nfds = take(in, 1) % 4 != 0 ? 1 : 0;
        return sizeof(m);
    }
    case VFIO_USER_DMA_UNMAP: {
        struct {
            uint32_t argsz, flags;
            uint64_t addr, size;
        } u = {24, (uint32_t)take(in, 1) % 4, (take(in, 2) % 1024) << 12,
               (take(in, 1) % 300) << 12};
        memcpy(p, &u, sizeof(u));
        return sizeof(u);
    }
    case VFIO_USER_DEVICE_GET_INFO: {
        uint32_t argsz = (uint32_t)take(in, 1);
        memcpy(p, &argsz, 4);
        return 16;
    }
    case VFIO_USER_DEVICE_GET_REGION_INFO: {
        struct vfio_region_info r = {.argsz = (uint32_t)take(in, 2),
                                     .index = (uint32_t)take(in, 1) % 12};
        memcpy(p, &r, sizeof(r));
        return sizeof(r);
    }
    case VFIO_USER_DEVICE_GET_IRQ_INFO: {
        struct vfio_irq_info r = {.argsz = 16,
                                  .index = (uint32_t)take(in, 1) % 7};
        memcpy(p, &r, sizeof(r));
        return sizeof(r);
    }
    case VFIO_USER_DEVICE_SET_IRQS: {
        struct vfio_irq_set s = {
            .argsz = 20,
            .flags = (uint32_t)take(in, 1),
            .index = (uint32_t)take(in, 1) % 6,
            .start = (uint32_t)take(in, 1) % 3,
            .count = (uint32_t)take(in, 1) % 4,
        };
        size_t n = 20;
        if (s.flags & VFIO_IRQ_SET_DATA_BOOL) {
            for (uint32_t i = 0; i < s.count; i++) {
                p[n++] = (uint8_t)take(in, 1) % 2;
            }
            s.argsz = (uint32_t)n;
        }
        if (s.flags & VFIO_IRQ_SET_DATA_EVENTFD) {
            *nfds = take(in, 1) % 2 ? s.count : 0;
        }
        memcpy(p, &s, 20);
        return n;
    }
    case VFIO_USER_REGION_READ:
    case VFIO_USER_REGION_WRITE: {
        struct {
            uint64_t offset;
            uint32_t region, count;
        } rw = {take(in, 1) % 4 == 0 ? take(in, 3) : (take(in, 1) % 32) * 8,
                (uint32_t)take(in, 1) % 10, 8};
        unsigned how = (unsigned)take(in, 1);
        if (how % 8 == 0) {
            rw.count = (uint32_t)take(in, 3);
        }
        if (rw.region == 0 && how % 8 == 1) {
            /* A transfer of the model's DMA engine, at a guest IOVA. */
            static const uint64_t regs[] = {0x80, 0x88, 0x90, 0x98};
            rw.offset = regs[take(in, 1) % 4];
        }
        memcpy(p, &rw, sizeof(rw));
        size_t n = sizeof(rw);
        if (cmd == VFIO_USER_REGION_WRITE) {
            size_t data = rw.count <= cap - n ? rw.count : 8;
            uint64_t v =
                take(in, 1) % 2 ? (take(in, 1) % 32) << 12 : take(in, 1) % 8;
            memset(p + n, 0, data);
            memcpy(p + n, &v, data < 8 ? data : 8);
            n += data;
        }
        return n;
    }
    default:
        (void)f;
        return 0;
    }
}

static void message(struct fuzz *f, struct input *in)
{
    static uint8_t msg[VFIO_USER_HDR + 4096];
    static const uint16_t cmds[] = {
        VFIO_USER_VERSION,
        VFIO_USER_DMA_MAP,
        VFIO_USER_DMA_UNMAP,
        VFIO_USER_DEVICE_GET_INFO,
        VFIO_USER_DEVICE_GET_REGION_INFO,
        VFIO_USER_DEVICE_GET_IRQ_INFO,
        VFIO_USER_DEVICE_SET_IRQS,
        VFIO_USER_REGION_READ,
        VFIO_USER_REGION_WRITE,
        VFIO_USER_DEVICE_RESET,
        14,
    };
    uint16_t cmd = cmds[take(in, 1) % (sizeof(cmds) / sizeof(cmds[0]))];
    unsigned nfds = 0;
    size_t len = payload(f, in, cmd, msg + VFIO_USER_HDR,
                         sizeof(msg) - VFIO_USER_HDR, &nfds);
    struct vfio_user_hdr h = {.id = (uint16_t)take(in, 2),
                              .cmd = cmd,
                              .size = (uint32_t)(VFIO_USER_HDR + len)};
    unsigned corrupt = (unsigned)take(in, 1);

    if (corrupt % 16 == 1) {
        h.size = (uint32_t)take(in, 4);
    } else if (corrupt % 16 == 2) {
        h.flags = (uint32_t)take(in, 1);
    } else if (corrupt % 16 == 3 && len > 0) {
        msg[VFIO_USER_HDR + take(in, 2) % len] ^= (uint8_t)take(in, 1);
    } else if (corrupt % 16 == 4) {
        nfds = (unsigned)take(in, 1) % 11;
    } else if (corrupt % 16 == 5) {
        h.flags = VFIO_USER_NO_REPLY;
    }
    memcpy(msg, &h, VFIO_USER_HDR);
    int fds[10];
    for (unsigned i = 0; i < nfds && i < 10; i++) {
        fds[i] = cmd == VFIO_USER_DMA_MAP && i == 0 ? dup(f->memfd)
                                                    : eventfd(0, EFD_CLOEXEC);
    }
    nfds = nfds < 10 ? nfds : 10;
    size_t total = VFIO_USER_HDR + len, cut = total;
    if (corrupt & 0x80) {
        cut = take(in, 2) % (total + 1);
    }
    send_bytes(f, msg, cut, fds, nfds);
    step(f);
    send_bytes(f, msg + cut, total - cut, NULL, 0);
    for (unsigned i = 0; i < nfds; i++) {
        close(fds[i]);
    }
    step(f);
}

static void raw(struct fuzz *f, struct input *in)
{
    uint8_t buf[64];
    size_t n = take(in, 1) % sizeof(buf);
    int fds[3];
    unsigned nfds = (unsigned)take(in, 1) % 4;

    for (size_t i = 0; i < n; i++) {
        buf[i] = (uint8_t)take(in, 1);
    }
    for (unsigned i = 0; i < nfds; i++) {
        fds[i] = eventfd(0, EFD_CLOEXEC);
    }
    send_bytes(f, buf, n, fds, nfds);
    for (unsigned i = 0; i < nfds; i++) {
        close(fds[i]);
    }
    step(f);
}

static void guest(struct fuzz *f, struct input *in)
{
    const struct vdrv *d = VDRV_LOCAL(f->v);
    uint32_t domain = (uint32_t)take(in, 1) % 3;
    uint64_t iova = (take(in, 1) % 32) << 12;
    uint64_t gpa = take(in, 1) % 4 == 0 ? take(in, 8) & ~0xfffull
                                        : (take(in, 2) % 512) << 12;
    uint64_t len = (take(in, 1) % 8 + 1) << 12;

    switch (take(in, 1) % 4) {
    case 0:
        (void)vdrv_attach(d, domain, EP, 0);
        break;
    case 1:
        (void)vdrv_detach(d, domain, EP);
        break;
    case 2:
        (void)vdrv_map(d, domain, iova, iova + len - 1, gpa,
                       VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE);
        break;
    default:
        (void)vdrv_unmap(d, domain, iova, iova + len - 1);
        break;
    }
}

static void device_cycle(struct fuzz *f)
{
    if (f->listening) {
        (void)vfio_user_device_remove(&f->s, EP);
        f->listening = false;
        if (f->sock >= 0) {
            close(f->sock);
            f->sock = -1;
        }
    } else {
        f->listening =
            vfio_user_device_add(&f->s, socket_path, "0000:00:04.0", EP) == 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    struct fuzz f = {.sock = -1};
    struct viommu_config cfg = {
        .size = sizeof(cfg),
        .endpoint_removed = vfio_user_endpoint_removed,
        .endpoint_removed_opaque = &f.s,
    };

    dlog_level = verbose ? VIOMMU_LOG_DEBUG : -1;
    vfio_user_init(&f.s, &vfio_user_host_ops, false);
    f.v = viommu_new(&cfg);
    f.memfd = memfd_create("guest-ram", MFD_CLOEXEC);
    if (f.v == NULL || f.memfd < 0 || ftruncate(f.memfd, RAM_SIZE) != 0) {
        abort();
    }
    f.s.v = f.v;
    (void)vdrv_set_features(VDRV_LOCAL(f.v), viommu_device_features(f.v));
    f.listening =
        vfio_user_device_add(&f.s, socket_path, "0000:00:04.0", EP) == 0;
    if (!f.listening) {
        abort();
    }
    for (unsigned op = 0; op < MAX_OPS && in.left > 0; op++) {
        switch (take(&in, 1) % 16) {
        case 0:
            connect_client(&f);
            break;
        case 1:
            hang_up(&f);
            break;
        case 2:
            raw(&f, &in);
            break;
        case 3:
        case 4:
            read_replies(&f);
            break;
        case 5:
        case 6:
            guest(&f, &in);
            break;
        case 7:
            if (take(&in, 1) % 8 == 0) {
                device_cycle(&f);
            }
            break;
        default:
            if (f.sock < 0) {
                connect_client(&f);
            }
            message(&f, &in);
            break;
        }
    }
    read_replies(&f);
    if (f.sock >= 0) {
        close(f.sock);
    }
    step(&f);
    vfio_user_fini(&f.s);
    viommu_free(f.v);
    close(f.memfd);
    return 0;
}

static void remove_socket_dir(void)
{
    unlink(socket_path);
    rmdir(socket_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    verbose = getenv("FUZZ_LOG") != NULL;
    if (mkdtemp(socket_dir) == NULL || atexit(remove_socket_dir) != 0) {
        abort();
    }
    snprintf(socket_path, sizeof(socket_path), "%s/dev", socket_dir);
    return 0;
}
