/* SPDX-License-Identifier: BSD-3-Clause */
#include "vfio_user_conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "sockmsg.h"

static void close_fds(int *fds, unsigned *n)
{
    for (unsigned i = 0; i < *n; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    *n = 0;
}

int vfio_user_conn_open(struct vfio_user_conn *c, int fd)
{
    c->rx = malloc(VFIO_USER_MAX_MSG);
    c->tx = malloc(VFIO_USER_MAX_MSG);
    if (c->rx == NULL || c->tx == NULL) {
        free(c->rx);
        free(c->tx);
        c->rx = c->tx = NULL;
        return -ENOMEM;
    }
    c->fd = fd;
    return 0;
}

void vfio_user_conn_close(struct vfio_user_conn *c)
{
    close(c->fd);
    c->fd = -1;
    close_fds(c->rx_fds, &c->rx_nfds);
    free(c->rx);
    free(c->tx);
    c->rx = c->tx = NULL;
    c->rx_have = c->tx_len = c->tx_off = 0;
    c->versioned = false;
}

int vfio_user_conn_receive(struct vfio_user_conn *c, const char *who)
{
    size_t want = VFIO_USER_HDR;
    uint32_t size;

    if (c->rx_have >= VFIO_USER_HDR) {
        memcpy(&size, c->rx + 4, 4);
        want = size;
    }
    ssize_t n =
        sockmsg_recv(c->fd, c->rx + c->rx_have, want - c->rx_have, c->rx_fds,
                     &c->rx_nfds, VFIO_USER_MAX_FDS, MSG_DONTWAIT);
    if (n == -EAGAIN) {
        return 0;
    }
    if (n == -EMSGSIZE) {
        dlog(VIOMMU_LOG_WARN, "vfio-user: %s: more than %d fds", who,
             VFIO_USER_MAX_FDS);
        return -1;
    }
    if (n <= 0) {
        return -1;
    }
    c->rx_have += (size_t)n;
    if (c->rx_have == VFIO_USER_HDR) {
        struct vfio_user_hdr h;
        memcpy(&h, c->rx, VFIO_USER_HDR);
        if (h.size < VFIO_USER_HDR || h.size > VFIO_USER_MAX_MSG ||
            (h.flags & VFIO_USER_TYPE_MASK) != VFIO_USER_TYPE_COMMAND) {
            dlog(VIOMMU_LOG_WARN,
                 "vfio-user: %s: a message of %u bytes, flags %#x: hang up",
                 who, h.size, h.flags);
            return -1;
        }
    }
    if (c->rx_have < VFIO_USER_HDR) {
        return 0;
    }
    memcpy(&size, c->rx + 4, 4);
    return c->rx_have < size ? 0 : 1;
}

void vfio_user_conn_next(struct vfio_user_conn *c)
{
    close_fds(c->rx_fds, &c->rx_nfds);
    c->rx_have = 0;
}

const uint8_t *vfio_user_payload(const struct vfio_user_conn *c, size_t *len)
{
    *len = c->rx_have - VFIO_USER_HDR;
    return c->rx + VFIO_USER_HDR;
}

void vfio_user_reply(struct vfio_user_conn *c, int err, const void *payload,
                     size_t len)
{
    const struct vfio_user_hdr *in = (const struct vfio_user_hdr *)c->rx;
    struct vfio_user_hdr out = {
        .id = in->id,
        .cmd = in->cmd,
        .size = VFIO_USER_HDR,
        .flags = VFIO_USER_TYPE_REPLY,
    };

    if (in->flags & VFIO_USER_NO_REPLY) {
        return;
    }
    if (err != 0) {
        out.flags |= VFIO_USER_ERROR;
        out.error = (uint32_t)-err;
        len = 0;
    }
    out.size = (uint32_t)(VFIO_USER_HDR + len);
    memcpy(c->tx, &out, VFIO_USER_HDR);
    if (len > 0) {
        memmove(c->tx + VFIO_USER_HDR, payload, len);
    }
    c->tx_len = VFIO_USER_HDR + len;
    c->tx_off = 0;
}

bool vfio_user_flush(struct vfio_user_conn *c)
{
    while (c->tx_off < c->tx_len) {
        struct iovec iov = {c->tx + c->tx_off, c->tx_len - c->tx_off};
        ssize_t n = sockmsg_send(c->fd, &iov, 1, NULL, 0, MSG_DONTWAIT);
        if (n == -EAGAIN) {
            return true;
        }
        if (n <= 0) {
            return false;
        }
        c->tx_off += (size_t)n;
    }
    c->tx_len = c->tx_off = 0;
    return true;
}
