/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for the daemon's vhost-user backend: the fuzzer is the
 * frontend and the guest at once. Each input is a sequence of operations on
 * one backend connected through a real socketpair: raw messages (any
 * request, size, flags and fds: a memfd of guest memory or an eventfd), a
 * valid set-up sequence to reach the rings quickly, writes of guest memory
 * (descriptors, avail ring, buffers, anything), kicks, and faults for the
 * event queue. Whatever comes, the backend must neither crash nor trip a
 * sanitizer, and a connection it gives up is replaced.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vhost_types.h>
#include <linux/virtio_iommu.h>
#include <linux/virtio_ring.h>

#include "frontend.h"
#include "input.h"
#include "log.h"
#include "vhost_user.h"

#define MEM_SIZE (64 * 1024)
#define FE_UVA 0x7f0000000000ull /* the frontend's address of guest RAM */
#define QUEUE_SIZE 16

static int memfd = -1;
static uint8_t *mem;

struct conn {
    struct vu_dev *d;
    int fe; /* the frontend's end */
    int kick[2];
};

static void connect_backend(struct conn *c)
{
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        abort();
    }
    c->fe = sv[0];
    vu_connect(c->d, sv[1]);
}

/* Reads and forgets the backend's replies. */
static void drain(struct conn *c)
{
    char buf[4096];

    while (recv(c->fe, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
    }
}

static void send_msg(struct conn *c, uint32_t request, uint32_t flags,
                     const void *payload, uint32_t size, const int *fds,
                     unsigned nfds)
{
    /* Unsent, there is nothing for the backend to read. */
    if (!fe_send_on(c->fe, request, flags, payload, size, fds, nfds)) {
        return;
    }
    if (!vu_receive(c->d)) {
        vu_disconnect(c->d);
        close(c->fe);
        connect_backend(c);
    }
    drain(c);
}

static void send_u64(struct conn *c, uint32_t request, uint64_t value,
                     const int *fds, unsigned nfds)
{
    send_msg(c, request, 1, &value, sizeof(value), fds, nfds);
}

/* What a well-behaved frontend sends before the guest runs. */
static void setup(struct conn *c, struct input *in)
{
    struct {
        uint32_t nregions, padding;
        uint64_t gpa, size, uva, offset;
    } table = {1, 0, 0, MEM_SIZE, FE_UVA, 0};

    send_u64(c, 2, vu_features(c->d) & (take(in, 8) | (1ULL << 32)), NULL, 0);
    send_u64(c, 16, take(in, 1) & 0x2009, NULL, 0);
    send_msg(c, 5, 1, &table, sizeof(table), &memfd, 1);
    for (unsigned q = 0; q < 2; q++) {
        uint64_t base = 0x1000 * (1 + 3 * q);
        struct vhost_vring_state num = {q, QUEUE_SIZE}, on = {q, 1};
        struct vhost_vring_addr addr = {
            .index = q,
            .desc_user_addr = FE_UVA + base,
            .avail_user_addr = FE_UVA + base + 0x1000,
            .used_user_addr = FE_UVA + base + 0x2000,
        };
        int call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        send_msg(c, 8, 1, &num, sizeof(num), NULL, 0);
        send_msg(c, 9, 1, &addr, sizeof(addr), NULL, 0);
        send_u64(c, 13, q, &call, 1);
        send_u64(c, 12, q, &c->kick[q], 1);
        send_msg(c, 18, 1, &on, sizeof(on), NULL, 0);
        close(call);
    }
}

/* A raw message with whatever request, flags, size and fds. */
static void raw(struct conn *c, struct input *in)
{
    static uint8_t payload[5000];
    int fds[2] = {memfd, c->kick[0]};
    uint32_t request = (uint32_t)take(in, 1) % 40;
    uint32_t flags = (uint32_t)take(in, 1) & 0x0f;
    uint32_t size = (uint32_t)take(in, 2) % 300;
    unsigned nfds = (unsigned)take(in, 1) % 3;

    if (size == 299) {
        size = sizeof(payload); /* over the backend's limit */
    }
    memset(payload, 0, size);
    for (uint32_t i = 0; i < size && in->left > 0; i++) {
        payload[i] = (uint8_t)take(in, 1);
    }
    send_msg(c, request, flags, payload, size, fds, nfds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    struct viommu_config cfg = {.size = sizeof(cfg), .max_mappings = 64};
    struct viommu *v;
    struct vu_dev d;
    struct conn c = {.d = &d};

    dlog_level = -1; /* silent */
    if (memfd < 0) {
        memfd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (memfd < 0 || ftruncate(memfd, MEM_SIZE) != 0) {
            abort();
        }
        mem =
            mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
        if (mem == MAP_FAILED) {
            abort();
        }
    }
    memset(mem, 0, MEM_SIZE);
    v = viommu_new(&cfg);
    if (v == NULL) {
        abort();
    }
    for (uint32_t id = 0; id < 4; id++) {
        struct viommu_endpoint_config ep = {.size = sizeof(ep), .id = id};
        if (viommu_endpoint_add(v, &ep) != 0) {
            abort();
        }
    }
    c.kick[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    c.kick[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    vu_init(&d, v);
    connect_backend(&c);

    while (in.left > 0) {
        switch (take(&in, 1) % 7) {
        case 0:
            raw(&c, &in);
            break;
        case 1:
            setup(&c, &in);
            break;
        case 2: { /* guest memory, anywhere */
            size_t off = take(&in, 2) % MEM_SIZE;
            size_t len = take(&in, 1);
            for (size_t i = 0; i < len && off + i < MEM_SIZE; i++) {
                mem[off + i] = (uint8_t)take(&in, 1);
            }
            break;
        }
        case 3: { /* a descriptor of queue q's table */
            unsigned q = take(&in, 1) & 1;
            struct vring_desc *desc = (void *)(mem + 0x1000 * (1 + 3 * q));
            unsigned i = take(&in, 1) % QUEUE_SIZE;
            desc[i].addr = htole64(take(&in, 2) % (MEM_SIZE + 64));
            desc[i].len = htole32((uint32_t)take(&in, 2));
            desc[i].flags = htole16((uint16_t)(take(&in, 1) & 7));
            desc[i].next = htole16((uint16_t)(take(&in, 1) % (QUEUE_SIZE + 2)));
            break;
        }
        case 4: { /* make a head available, then kick */
            unsigned q = take(&in, 1) & 1;
            struct vring_avail *avail = (void *)(mem + 0x1000 * (2 + 3 * q));
            uint16_t idx = le16toh(avail->idx);
            avail->ring[idx % QUEUE_SIZE] = htole16((uint16_t)take(&in, 1));
            avail->idx = htole16(
                (uint16_t)(idx + 1 + (take(&in, 1) == 0xff ? 1000 : 0)));
            uint64_t one = 1;
            if (write(c.kick[q], &one, sizeof(one)) != sizeof(one)) {
                abort();
            }
            vu_kick(&d, q);
            break;
        }
        case 5: { /* a refused DMA: a fault report for the event queue */
            struct viommu_translation t = {.size = sizeof(t)};
            (void)viommu_translate(v, take(&in, 1) % 5, take(&in, 2) << 12,
                                   VIOMMU_ACCESS_READ, &t);
            vu_serve_events(&d);
            break;
        }
        default:
            vu_kick(&d, take(&in, 1) & 1);
            break;
        }
        drain(&c);
    }
    vu_disconnect(&d);
    close(c.fe);
    close(c.kick[0]);
    close(c.kick[1]);
    viommu_free(v);
    return 0;
}
