/* SPDX-License-Identifier: BSD-3-Clause */
#include "vfio_user_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void drop_fds(struct vfuc *c)
{
    for (unsigned i = 0; i < c->nfds; i++) {
        close(c->fds[i]);
    }
    c->nfds = 0;
}

bool vfuc_connect(struct vfuc *c, const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};

    memset(c, 0, sizeof(*c));
    c->sock = -1;
    if (strlen(path) >= sizeof(addr.sun_path)) {
        return false;
    }
    strcpy(addr.sun_path, path);
    c->payload = malloc(VFUC_MAX_MSG);
    if (c->payload == NULL) {
        return false;
    }
    for (int tries = 0; tries < 200; tries++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            break;
        }
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            c->sock = fd;
            return true;
        }
        close(fd);
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    free(c->payload);
    c->payload = NULL;
    return false;
}

void vfuc_close(struct vfuc *c)
{
    if (c->sock >= 0) {
        close(c->sock);
    }
    c->sock = -1;
    drop_fds(c);
    free(c->payload);
    c->payload = NULL;
}

bool vfuc_send_raw(struct vfuc *c, const void *buf, size_t len, const int *fds,
                   unsigned nfds)
{
    size_t off = 0;

    while (off < len) {
        struct iovec iov = {(char *)buf + off, len - off};
        ssize_t n = sockmsg_send(c->sock, &iov, 1, fds, nfds, 0);
        if (n <= 0) {
            return false;
        }
        off += (size_t)n;
        nfds = 0;
    }
    return true;
}

bool vfuc_send(struct vfuc *c, uint16_t cmd, uint32_t flags, uint32_t size,
               const void *payload, size_t len, const int *fds, unsigned nfds)
{
    uint8_t *msg = malloc(VFIO_USER_HDR + len);
    struct vfio_user_hdr h = {
        .id = c->next_id++,
        .cmd = cmd,
        .size = size != 0 ? size : (uint32_t)(VFIO_USER_HDR + len),
        .flags = flags,
    };

    if (msg == NULL) {
        return false;
    }
    memcpy(msg, &h, VFIO_USER_HDR);
    if (len > 0) {
        memcpy(msg + VFIO_USER_HDR, payload, len);
    }
    bool ok = vfuc_send_raw(c, msg, VFIO_USER_HDR + len, fds, nfds);
    free(msg);
    return ok;
}

/* Reads exactly len bytes by the deadline, collecting fds. */
static int read_full(struct vfuc *c, void *buf, size_t len, int ms)
{
    size_t got = 0;

    while (got < len) {
        struct pollfd p = {.fd = c->sock, .events = POLLIN};
        if (poll(&p, 1, ms) <= 0) {
            return -ETIMEDOUT;
        }
        ssize_t n = sockmsg_recv(c->sock, (char *)buf + got, len - got, c->fds,
                                 &c->nfds, VFUC_MAX_FDS, 0);
        if (n == -EMSGSIZE) {
            return -EPROTO;
        }
        if (n <= 0) {
            return -EPIPE;
        }
        got += (size_t)n;
    }
    return 0;
}

int vfuc_recv(struct vfuc *c)
{
    drop_fds(c);
    int err = read_full(c, &c->hdr, VFIO_USER_HDR, 2000);
    if (err != 0) {
        return err;
    }
    if (c->hdr.size < VFIO_USER_HDR ||
        c->hdr.size - VFIO_USER_HDR > VFUC_MAX_MSG) {
        return -EPROTO;
    }
    c->len = c->hdr.size - VFIO_USER_HDR;
    return read_full(c, c->payload, c->len, 2000);
}

bool vfuc_hung_up(struct vfuc *c, int ms)
{
    struct pollfd p = {.fd = c->sock, .events = POLLIN};
    char b[256];

    for (;;) {
        if (poll(&p, 1, ms) <= 0) {
            return false;
        }
        ssize_t n = recv(c->sock, b, sizeof(b), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            return true;
        }
        if (n < 0) {
            return false;
        }
    }
}

int vfuc_call(struct vfuc *c, uint16_t cmd, const void *payload, size_t len,
              const int *fds, unsigned nfds)
{
    uint16_t id = c->next_id;

    if (!vfuc_send(c, cmd, 0, 0, payload, len, fds, nfds)) {
        return -EPIPE;
    }
    int err = vfuc_recv(c);
    if (err != 0) {
        return err;
    }
    if (c->hdr.id != id || c->hdr.cmd != cmd ||
        (c->hdr.flags & VFIO_USER_TYPE_MASK) != VFIO_USER_TYPE_REPLY) {
        return -EPROTO;
    }
    if (c->hdr.flags & VFIO_USER_ERROR) {
        return c->hdr.error != 0 ? -(int)c->hdr.error : -EIO;
    }
    return 0;
}

int vfuc_version(struct vfuc *c)
{
    static const char caps[] =
        "{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":"
        "1048576,\"pgsizes\":4096,\"max_dma_maps\":65535,"
        "\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":1048576}}}";
    uint8_t msg[4 + sizeof(caps)];
    uint16_t v[2] = {0, 1};

    memcpy(msg, v, 4);
    memcpy(msg + 4, caps, sizeof(caps));
    int err = vfuc_call(c, VFIO_USER_VERSION, msg, sizeof(msg), NULL, 0);
    if (err != 0) {
        return err;
    }
    if (c->len < 5 || c->payload[c->len - 1] != '\0') {
        return -EPROTO;
    }
    snprintf(c->caps, sizeof(c->caps), "%s", (const char *)c->payload + 4);
    return 0;
}

int vfuc_dma_map(struct vfuc *c, uint64_t iova, uint64_t size, int fd,
                 uint64_t offset, uint32_t flags)
{
    struct vfio_user_dma_map m = {sizeof(m), flags, offset, iova, size};

    return vfuc_call(c, VFIO_USER_DMA_MAP, &m, sizeof(m), &fd, fd >= 0 ? 1 : 0);
}

int vfuc_dma_unmap(struct vfuc *c, uint64_t iova, uint64_t size, uint32_t flags)
{
    struct vfio_user_dma_unmap u = {sizeof(u), flags, iova, size};

    return vfuc_call(c, VFIO_USER_DMA_UNMAP, &u, sizeof(u), NULL, 0);
}

int vfuc_device_info(struct vfuc *c, struct vfio_device_info *info)
{
    struct vfio_device_info in = {.argsz = 16};

    int err = vfuc_call(c, VFIO_USER_DEVICE_GET_INFO, &in, 16, NULL, 0);
    if (err == 0 && c->len != 16) {
        err = -EPROTO;
    }
    if (err == 0) {
        memset(info, 0, sizeof(*info));
        memcpy(info, c->payload, 16);
    }
    return err;
}

int vfuc_region_info(struct vfuc *c, uint32_t index,
                     struct vfio_region_info *info, int *fd)
{
    struct vfio_region_info in = {.argsz = sizeof(in), .index = index};

    *fd = -1;
    int err = vfuc_call(c, VFIO_USER_DEVICE_GET_REGION_INFO, &in, sizeof(in),
                        NULL, 0);
    if (err == 0 && c->len < sizeof(*info)) {
        err = -EPROTO;
    }
    if (err == 0) {
        memcpy(info, c->payload, sizeof(*info));
        if (c->nfds > 0) {
            *fd = c->fds[--c->nfds];
        }
    }
    return err;
}

int vfuc_irq_info(struct vfuc *c, uint32_t index, struct vfio_irq_info *info)
{
    struct vfio_irq_info in = {.argsz = sizeof(in), .index = index};

    int err =
        vfuc_call(c, VFIO_USER_DEVICE_GET_IRQ_INFO, &in, sizeof(in), NULL, 0);
    if (err == 0 && c->len != sizeof(*info)) {
        err = -EPROTO;
    }
    if (err == 0) {
        memcpy(info, c->payload, sizeof(*info));
    }
    return err;
}

int vfuc_set_irq_eventfds(struct vfuc *c, uint32_t index, uint32_t start,
                          const int *fds, unsigned n)
{
    struct vfio_irq_set s = {
        .argsz = sizeof(s),
        .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
        .index = index,
        .start = start,
        .count = n,
    };

    return vfuc_call(c, VFIO_USER_DEVICE_SET_IRQS, &s, sizeof(s), fds, n);
}

int vfuc_region_read(struct vfuc *c, uint32_t region, uint64_t offset,
                     void *buf, uint32_t count)
{
    struct vfio_user_rw rw = {offset, region, count};

    int err = vfuc_call(c, VFIO_USER_REGION_READ, &rw, sizeof(rw), NULL, 0);
    if (err == 0 && c->len != sizeof(rw) + count) {
        err = -EPROTO;
    }
    if (err == 0) {
        memcpy(buf, c->payload + sizeof(rw), count);
    }
    return err;
}

int vfuc_region_write(struct vfuc *c, uint32_t region, uint64_t offset,
                      const void *buf, uint32_t count)
{
    struct vfio_user_rw rw = {offset, region, count};
    uint8_t *msg = malloc(sizeof(rw) + count);

    if (msg == NULL) {
        return -ENOMEM;
    }
    memcpy(msg, &rw, sizeof(rw));
    memcpy(msg + sizeof(rw), buf, count);
    int err =
        vfuc_call(c, VFIO_USER_REGION_WRITE, msg, sizeof(rw) + count, NULL, 0);
    free(msg);
    if (err == 0 && c->len != sizeof(rw)) {
        err = -EPROTO;
    }
    return err;
}

int vfuc_reset(struct vfuc *c)
{
    return vfuc_call(c, VFIO_USER_DEVICE_RESET, NULL, 0, NULL, 0);
}
