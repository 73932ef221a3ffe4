/* SPDX-License-Identifier: BSD-3-Clause */
#include "vfio_user.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "vfio_user_cmd.h"
#include "vfio_user_conn.h"

void vfio_user_init(struct vfio_user_set *s,
                    const struct vfio_user_host_ops *ops, bool iommufd)
{
    memset(s, 0, sizeof(*s));
    s->ops = ops;
    s->iommufd = iommufd;
    for (unsigned i = 0; i < VFIO_USER_MAX_DEVICES; i++) {
        s->devs[i].listen_fd = -1;
        s->devs[i].conn.fd = -1;
    }
}

/* The client gone: the device first (its DMA must stop before its RAM
 * goes), then its DMA windows. */
static void conn_close(struct vfio_user_set *s, struct vfio_user_device *d)
{
    struct vfio_user_conn *c = &d->conn;

    if (c->fd < 0) {
        return;
    }
    vfio_user_conn_close(c);
    vfio_user_dev_release(s, d);
    (void)vfio_user_dma_remove(s, c, 0, 0, true);
    dlog(VIOMMU_LOG_INFO, "vfio-user: %s: client gone; endpoint %u removed",
         d->bdf, d->endpoint);
}

int vfio_user_device_add(struct vfio_user_set *s, const char *path,
                         const char *bdf, uint32_t endpoint)
{
    struct vfio_user_device *d = NULL;

    if (path == NULL || bdf == NULL || path[0] == '\0' ||
        strlen(path) >= sizeof(d->path) || strlen(bdf) >= sizeof(d->bdf)) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < VFIO_USER_MAX_DEVICES; i++) {
        struct vfio_user_device *o = &s->devs[i];
        if (o->used &&
            (o->endpoint == endpoint || strcmp(o->path, path) == 0)) {
            return -EEXIST;
        }
        if (!o->used && d == NULL) {
            d = o;
        }
    }
    if (d == NULL) {
        return -ENOSPC;
    }
    /* Listening replaces a stale socket, and nothing else: not a file,
     * not a socket something listens on (the daemon's own, say). */
    if (listen_unix_taken(path)) {
        return -EEXIST;
    }
    *d = (struct vfio_user_device){.endpoint = endpoint, .listen_fd = -1};
    d->conn.fd = -1;
    strcpy(d->path, path);
    strcpy(d->bdf, bdf);
    int err = vfio_user_dev_open(s, d);
    if (err != 0) {
        return err;
    }
    d->listen_fd = listen_unix(path, 1);
    if (d->listen_fd < 0) {
        err = -errno != 0 ? -errno : -EINVAL;
        s->deferring = true; /* never announced: no event */
        s->deferred_id = endpoint;
        if (viommu_endpoint_remove(s->v, endpoint) != 0) {
            dlog(VIOMMU_LOG_WARN, "vfio-user: %s: host state may remain", bdf);
        }
        s->deferring = false;
        (void)s->ops->close(d->dev);
        *d = (struct vfio_user_device){.listen_fd = -1};
        d->conn.fd = -1;
        return err;
    }
    d->used = true;
    dlog(VIOMMU_LOG_INFO, "vfio-user: %s as endpoint %u on %s", d->bdf,
         endpoint, path);
    return 0;
}

int vfio_user_device_remove(struct vfio_user_set *s, uint32_t endpoint)
{
    struct vfio_user_device *d = vfio_user_by_endpoint(s, endpoint);

    if (d == NULL) {
        return -ENOENT;
    }
    if (d->conn.fd >= 0) {
        conn_close(s, d);
    } else {
        vfio_user_dev_release(s, d);
    }
    close(d->listen_fd);
    unlink(d->path);
    *d = (struct vfio_user_device){.listen_fd = -1};
    d->conn.fd = -1;
    return 0;
}

int vfio_user_device_add_text(struct vfio_user_set *s, const char *text,
                              const char **why)
{
    char buf[256], *bdf, *ep, *end;

    *why = NULL;
    if (strlen(text) >= sizeof(buf)) {
        *why = "too long";
        return -EINVAL;
    }
    strcpy(buf, text);
    bdf = strchr(buf, ',');
    ep = bdf != NULL ? strchr(bdf + 1, ',') : NULL;
    if (ep == NULL) {
        *why = "expected PATH,PCI-ADDRESS,ENDPOINT";
        return -EINVAL;
    }
    *bdf++ = '\0';
    *ep++ = '\0';
    errno = 0;
    unsigned long long id = strtoull(ep, &end, 0);
    if (*ep == '\0' || *end != '\0' || errno != 0 || id > UINT32_MAX ||
        *ep == '-') {
        *why = "the endpoint must be a number (a requester ID)";
        return -EINVAL;
    }
    return vfio_user_device_add(s, buf, bdf, (uint32_t)id);
}

void vfio_user_fini(struct vfio_user_set *s)
{
    for (unsigned i = 0; i < VFIO_USER_MAX_DEVICES; i++) {
        if (s->devs[i].used) {
            (void)vfio_user_device_remove(s, s->devs[i].endpoint);
        }
    }
    if (s->host != NULL) {
        s->ops->host_free(s->host);
        s->host = NULL;
    }
}

/* Reads what the client sent and answers each whole message. False: hang
 * up. */
static bool receive(struct vfio_user_set *s, struct vfio_user_device *d)
{
    struct vfio_user_conn *c = &d->conn;
    int got = vfio_user_conn_receive(c, d->bdf);

    if (got <= 0) {
        return got == 0;
    }
    bool go_on = vfio_user_handle(s, d);
    vfio_user_conn_next(c);
    bool sent = vfio_user_flush(c); /* an error reply too, before a hang-up */
    return go_on && sent;
}

/* Whether the client has closed its end: what it left unread is for
 * nobody. */
static bool hung_up(int fd)
{
    struct pollfd p = {.fd = fd};

    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

static void accept_client(struct vfio_user_set *s, struct vfio_user_device *d)
{
    int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (fd < 0) {
        return;
    }
    /* A client that left with messages still unread goes now, so that
     * the one connecting right after it is not taken for a second. */
    if (d->conn.fd >= 0 && hung_up(d->conn.fd)) {
        conn_close(s, d);
    }
    if (d->conn.fd >= 0) {
        /* One VMM per device. */
        dlog(VIOMMU_LOG_WARN, "vfio-user: %s: a second client refused", d->bdf);
        close(fd);
        return;
    }
    if ((d->dev == NULL && vfio_user_dev_open(s, d) != 0) ||
        vfio_user_conn_open(&d->conn, fd) != 0) {
        close(fd);
        return;
    }
    dlog(VIOMMU_LOG_INFO, "vfio-user: %s: client connected", d->bdf);
}

unsigned vfio_user_poll_fds(const struct vfio_user_set *s, struct pollfd *pfd)
{
    unsigned n = 0;

    for (unsigned i = 0; i < VFIO_USER_MAX_DEVICES; i++) {
        const struct vfio_user_device *d = &s->devs[i];
        if (!d->used) {
            continue;
        }
        pfd[n++] = (struct pollfd){.fd = d->listen_fd, .events = POLLIN};
        if (d->conn.fd >= 0) {
            /* Nothing more is read while a reply waits. */
            pfd[n++] = (struct pollfd){.fd = d->conn.fd,
                                       .events = d->conn.tx_len > 0 ? POLLOUT
                                                                    : POLLIN};
        }
    }
    return n;
}

void vfio_user_serve(struct vfio_user_set *s, const struct pollfd *pfd,
                     unsigned n)
{
    /* Clients first, then new ones: an fd a client closed and an accept
     * reused is never taken for the old one. */
    for (unsigned pass = 0; pass < 2; pass++) {
        for (unsigned k = 0; k < n; k++) {
            if (pfd[k].revents == 0) {
                continue;
            }
            for (unsigned i = 0; i < VFIO_USER_MAX_DEVICES; i++) {
                struct vfio_user_device *d = &s->devs[i];
                if (!d->used) {
                    continue;
                }
                if (pass == 1 && pfd[k].fd == d->listen_fd) {
                    accept_client(s, d);
                    break;
                }
                if (pass == 0 && pfd[k].fd == d->conn.fd) {
                    bool ok = d->conn.tx_len > 0 ? vfio_user_flush(&d->conn)
                                                 : receive(s, d);
                    short ev = pfd[k].revents;
                    if (!ok || (ev & (POLLERR | POLLNVAL)) ||
                        ((ev & POLLHUP) && !(ev & POLLIN))) {
                        conn_close(s, d);
                    }
                    break;
                }
            }
        }
    }
}
