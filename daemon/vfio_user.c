/* SPDX-License-Identifier: BSD-3-Clause */
#include "vfio_user.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>
#include <linux/vfio.h>

#include "listen.h"
#include "log.h"

/* vfio-user.rst: command numbers, header flags, the version we speak. */
enum {
    VFU_VERSION = 1,
    VFU_DMA_MAP = 2,
    VFU_DMA_UNMAP = 3,
    VFU_DEVICE_GET_INFO = 4,
    VFU_DEVICE_GET_REGION_INFO = 5,
    VFU_DEVICE_GET_IRQ_INFO = 7,
    VFU_DEVICE_SET_IRQS = 8,
    VFU_REGION_READ = 9,
    VFU_REGION_WRITE = 10,
    VFU_DEVICE_RESET = 13,
};
#define VFU_TYPE_MASK 0xfu
#define VFU_TYPE_COMMAND 0u
#define VFU_TYPE_REPLY 1u
#define VFU_NO_REPLY (1u << 4)
#define VFU_ERROR (1u << 5)
#define VFU_MAJOR 0
#define VFU_MINOR 1
#define VFU_DMA_READ (1u << 0)
#define VFU_DMA_WRITE (1u << 1)
#define VFU_UNMAP_ALL (1u << 1)   /* VFIO_DMA_UNMAP_FLAG_ALL */
#define VFU_REGION_INFO_MAX 4096u /* region info with its capabilities */

struct vfu_hdr {
    uint16_t id;
    uint16_t cmd;
    uint32_t size;
    uint32_t flags;
    uint32_t error;
};

struct vfu_dma_map {
    uint32_t argsz, flags;
    uint64_t offset, addr, size;
};

struct vfu_dma_unmap {
    uint32_t argsz, flags;
    uint64_t addr, size;
};

struct vfu_rw {
    uint64_t offset;
    uint32_t region, count;
};

_Static_assert(sizeof(struct vfu_hdr) == VFU_HDR, "header");
_Static_assert(sizeof(struct vfu_dma_map) == 32, "dma map");
_Static_assert(sizeof(struct vfu_dma_unmap) == 24, "dma unmap");
_Static_assert(sizeof(struct vfu_rw) == 16, "region rw");

void vfu_init(struct vfu_set *s, const struct vfu_host_ops *ops, bool iommufd)
{
    memset(s, 0, sizeof(*s));
    s->ops = ops;
    s->iommufd = iommufd;
    for (unsigned i = 0; i < VFU_MAX_DEVICES; i++) {
        s->devs[i].listen_fd = -1;
        s->devs[i].conn.fd = -1;
        s->devs[i].conn.tx_fd = -1;
    }
}

static void close_fds(int *fds, unsigned *n)
{
    for (unsigned i = 0; i < *n; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    *n = 0;
}

/* ---- the RAM layout --------------------------------------------------- */

static bool overlaps(const struct viommu_ram_region *r, size_t n, uint64_t gpa,
                     uint64_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (gpa <= r[i].gpa + r[i].length - 1 && r[i].gpa <= gpa + len - 1) {
            return true;
        }
    }
    return false;
}

static void add_ram(struct viommu_ram_region *r, size_t *n, uint64_t gpa,
                    uint64_t len, const void *hva)
{
    const uint64_t page = 4096;

    /* One guest RAM seen through several messages (the vhost-user table,
     * each device's DMA_MAP) is taken once, from the first that gives it. */
    if (*n == VIOMMU_VFIO_MAX_RAM || len == 0 || hva == NULL ||
        (gpa | len | (uintptr_t)hva) % page != 0 || gpa + len - 1 < gpa ||
        overlaps(r, *n, gpa, len)) {
        return;
    }
    r[(*n)++] = (struct viommu_ram_region){
        .size = sizeof(*r), .gpa = gpa, .length = len, .hva = (uintptr_t)hva};
}

/* Gives the host the guest RAM every source knows now. */
static int update_ram(struct vfu_set *s)
{
    struct viommu_ram_region r[VIOMMU_VFIO_MAX_RAM];
    size_t n = 0;

    if (s->host == NULL) {
        return 0;
    }
    if (s->vu_mem != NULL) {
        for (unsigned i = 0; i < s->vu_mem->n; i++) {
            const struct mem_region *m = &s->vu_mem->r[i];
            add_ram(r, &n, m->d.gpa, m->d.size, m->base + m->d.mmap_offset);
        }
    }
    for (unsigned i = 0; i < VFU_MAX_DEVICES; i++) {
        const struct vfu_conn *c = &s->devs[i].conn;
        for (unsigned j = 0; s->devs[i].used && j < c->nr_dma; j++) {
            add_ram(r, &n, c->dma[j].iova, c->dma[j].size, c->dma[j].base);
        }
    }
    int err = s->ops->set_ram(s->host, r, n);
    if (err != 0) {
        dlog(VIOMMU_LOG_ERR, "vfio-user: guest RAM layout refused: %s",
             strerror(-err));
    }
    return err;
}

void vfu_sync_ram(struct vfu_set *s)
{
    const struct mem_table *t = s->vu_mem;
    bool same = t == NULL || t->n == s->vu_seen_n;

    for (unsigned i = 0; same && t != NULL && i < t->n; i++) {
        same = memcmp(&t->r[i].d, &s->vu_seen[i], sizeof(t->r[i].d)) == 0 &&
               t->r[i].base == s->vu_seen_base[i];
    }
    if (same) {
        return;
    }
    for (unsigned i = 0; i < t->n; i++) {
        s->vu_seen[i] = t->r[i].d;
        s->vu_seen_base[i] = t->r[i].base;
    }
    s->vu_seen_n = t->n;
    (void)update_ram(s);
}

/* ---- devices ------------------------------------------------------------ */

static struct vfu_device *by_endpoint(struct vfu_set *s, uint32_t endpoint)
{
    for (unsigned i = 0; i < VFU_MAX_DEVICES; i++) {
        if (s->devs[i].used && s->devs[i].endpoint == endpoint) {
            return &s->devs[i];
        }
    }
    return NULL;
}

bool vfu_serves(struct vfu_set *s, uint32_t endpoint)
{
    return by_endpoint(s, endpoint) != NULL;
}

void vfu_endpoint_removed(void *opaque, uint32_t id, int host_err)
{
    struct vfu_set *s = opaque;

    if (s->deferring && id == s->deferred_id) {
        s->deferred_err = host_err;
        return;
    }
    /* A device's endpoint removed by someone else (endpoint-remove): the
     * device stays blocked until its client goes, and is not removed
     * twice. */
    struct vfu_device *d = by_endpoint(s, id);
    if (d != NULL && d->declared) {
        d->declared = false;
    }
    if (s->removed != NULL) {
        s->removed(s->removed_opaque, id, host_err);
    }
}

/* Reads what the device offers once, when it is opened: the server
 * checks every access against it. */
static int read_regions(struct vfu_set *s, struct vfu_device *d)
{
    struct vfio_device_info info = {.argsz = sizeof(info)};

    int err = s->ops->ioctl(d->dev, VFIO_DEVICE_GET_INFO, &info);
    if (err != 0) {
        return err;
    }
    d->info_flags = info.flags;
    d->num_regions = info.num_regions;
    d->num_irqs = info.num_irqs;
    memset(d->regions, 0, sizeof(d->regions));
    for (uint32_t i = 0; i < info.num_regions && i < VFU_MAX_REGIONS; i++) {
        struct vfio_region_info r = {.argsz = sizeof(r), .index = i};
        if (s->ops->ioctl(d->dev, VFIO_DEVICE_GET_REGION_INFO, &r) == 0) {
            d->regions[i] = (struct vfu_region){r.flags, r.size, r.offset};
        }
    }
    return 0;
}

/* Opens the host device and declares its endpoint. */
static int device_open(struct vfu_set *s, struct vfu_device *d)
{
    struct viommu_endpoint_config ep = {.size = sizeof(ep)};
    int err;

    if (s->host == NULL) {
        err = s->ops->host_new(s->iommufd, &s->host);
        if (err != 0) {
            dlog(VIOMMU_LOG_ERR, "vfio-user: no VFIO host backend: %s",
                 strerror(-err));
            s->host = NULL;
            return err;
        }
        (void)update_ram(s);
    }
    err = s->ops->open(s->host, d->bdf, d->endpoint, &d->dev);
    if (err != 0) {
        dlog(VIOMMU_LOG_ERR, "vfio-user: cannot open %s: %s", d->bdf,
             strerror(-err));
        d->dev = NULL;
        return err;
    }
    err = read_regions(s, d);
    if (err == 0) {
        err = s->ops->endpoint(d->dev, &ep);
    }
    if (err == 0) {
        err = viommu_endpoint_add(s->v, &ep);
    }
    if (err != 0) {
        dlog(VIOMMU_LOG_ERR, "vfio-user: cannot declare %s as endpoint %u: %s",
             d->bdf, d->endpoint, strerror(-err));
        (void)s->ops->close(d->dev);
        d->dev = NULL;
        return err;
    }
    d->declared = true;
    return 0;
}

/* Removes the endpoint as removal does, closes the device, and only then
 * tells the removal: whoever hears of it may give the device back to its
 * host driver. */
static void device_release(struct vfu_set *s, struct vfu_device *d)
{
    int host_err = 0;
    bool was_declared = d->declared;

    if (d->declared) {
        s->deferring = true;
        s->deferred_id = d->endpoint;
        s->deferred_err = 0;
        if (viommu_endpoint_remove(s->v, d->endpoint) == -ENOENT) {
            was_declared = false; /* removed already (endpoint-remove) */
        }
        host_err = s->deferred_err;
        s->deferring = false;
        d->declared = false;
    }
    if (d->dev != NULL) {
        int err = s->ops->close(d->dev);
        if (err != 0) {
            dlog(VIOMMU_LOG_ERR, "vfio-user: %s: close: %s", d->bdf,
                 strerror(-err));
            if (host_err == 0) {
                host_err = err;
            }
        }
        d->dev = NULL;
    }
    if (was_declared && s->removed != NULL) {
        s->removed(s->removed_opaque, d->endpoint, host_err);
    }
}

static void conn_close(struct vfu_set *s, struct vfu_device *d)
{
    struct vfu_conn *c = &d->conn;

    if (c->fd < 0) {
        return;
    }
    close(c->fd);
    c->fd = -1;
    close_fds(c->rx_fds, &c->rx_nfds);
    if (c->tx_fd >= 0) {
        c->tx_fd = -1; /* the device's own fd: not ours to close */
    }
    free(c->rx);
    free(c->tx);
    c->rx = c->tx = NULL;
    c->rx_have = c->tx_len = c->tx_off = 0;
    c->versioned = false;
    /* The device first: its DMA must stop before its RAM goes. */
    device_release(s, d);
    for (unsigned i = 0; i < c->nr_dma; i++) {
        if (c->dma[i].base != NULL) {
            munmap(c->dma[i].base - c->dma[i].skew,
                   c->dma[i].size + c->dma[i].skew);
        }
    }
    c->nr_dma = 0;
    (void)update_ram(s);
    dlog(VIOMMU_LOG_INFO, "vfio-user: %s: client gone; endpoint %u removed",
         d->bdf, d->endpoint);
}

/* Whether something listens on the UNIX socket at path. */
static bool live(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (fd < 0) {
        return true; /* cannot tell: leave it */
    }
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    bool up = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 ||
              errno == EAGAIN;
    close(fd);
    return up;
}

int vfu_device_add(struct vfu_set *s, const char *path, const char *bdf,
                   uint32_t endpoint)
{
    struct vfu_device *d = NULL;

    if (path == NULL || bdf == NULL || path[0] == '\0' ||
        strlen(path) >= sizeof(d->path) || strlen(bdf) >= sizeof(d->bdf)) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < VFU_MAX_DEVICES; i++) {
        struct vfu_device *o = &s->devs[i];
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
    struct stat st;
    if (lstat(path, &st) == 0 && (!S_ISSOCK(st.st_mode) || live(path))) {
        return -EEXIST;
    }
    *d = (struct vfu_device){.endpoint = endpoint, .listen_fd = -1};
    d->conn.fd = d->conn.tx_fd = -1;
    strcpy(d->path, path);
    strcpy(d->bdf, bdf);
    int err = device_open(s, d);
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
        *d = (struct vfu_device){.listen_fd = -1};
        d->conn.fd = d->conn.tx_fd = -1;
        return err;
    }
    d->used = true;
    dlog(VIOMMU_LOG_INFO, "vfio-user: %s as endpoint %u on %s", d->bdf,
         endpoint, path);
    return 0;
}

int vfu_device_remove(struct vfu_set *s, uint32_t endpoint)
{
    struct vfu_device *d = by_endpoint(s, endpoint);

    if (d == NULL) {
        return -ENOENT;
    }
    if (d->conn.fd >= 0) {
        conn_close(s, d);
    } else {
        device_release(s, d);
    }
    close(d->listen_fd);
    unlink(d->path);
    *d = (struct vfu_device){.listen_fd = -1};
    d->conn.fd = d->conn.tx_fd = -1;
    return 0;
}

int vfu_device_add_text(struct vfu_set *s, const char *text, const char **why)
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
    return vfu_device_add(s, buf, bdf, (uint32_t)id);
}

void vfu_fini(struct vfu_set *s)
{
    for (unsigned i = 0; i < VFU_MAX_DEVICES; i++) {
        if (s->devs[i].used) {
            (void)vfu_device_remove(s, s->devs[i].endpoint);
        }
    }
    if (s->host != NULL) {
        s->ops->host_free(s->host);
        s->host = NULL;
    }
}

/* ---- replies ------------------------------------------------------------ */

/* Queues the reply to the message in c->rx (whose header it echoes):
 * payload, or an error reply (header only) when err != 0. fd (owned by
 * the device) goes with it when >= 0. */
static void reply(struct vfu_conn *c, int err, const void *payload, size_t len,
                  int fd)
{
    const struct vfu_hdr *in = (const struct vfu_hdr *)c->rx;
    struct vfu_hdr out = {
        .id = in->id,
        .cmd = in->cmd,
        .size = VFU_HDR,
        .flags = VFU_TYPE_REPLY,
    };

    if (in->flags & VFU_NO_REPLY) {
        return;
    }
    if (err != 0) {
        out.flags |= VFU_ERROR;
        out.error = (uint32_t)-err;
        len = 0;
        fd = -1;
    }
    out.size = (uint32_t)(VFU_HDR + len);
    memcpy(c->tx, &out, VFU_HDR);
    if (len > 0) {
        memmove(c->tx + VFU_HDR, payload, len);
    }
    c->tx_len = VFU_HDR + len;
    c->tx_off = 0;
    c->tx_fd = fd;
}

/* Sends what the socket takes now; false when the client is gone. */
static bool flush(struct vfu_conn *c)
{
    while (c->tx_off < c->tx_len) {
        struct iovec iov = {c->tx + c->tx_off, c->tx_len - c->tx_off};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } control;
        if (c->tx_fd >= 0) {
            memset(&control, 0, sizeof(control));
            mh.msg_control = control.buf;
            mh.msg_controllen = sizeof(control.buf);
            struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(cm), &c->tx_fd, sizeof(int));
        }
        ssize_t n = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return true;
        }
        if (n <= 0) {
            return false;
        }
        c->tx_fd = -1;
        c->tx_off += (size_t)n;
    }
    c->tx_len = c->tx_off = 0;
    return true;
}

/* ---- commands ----------------------------------------------------------- */

/* The payload of the message in c->rx. */
static const uint8_t *payload(const struct vfu_conn *c, size_t *len)
{
    *len = c->rx_have - VFU_HDR;
    return c->rx + VFU_HDR;
}

/* Capabilities the client proposed, checked for shape. Unknown ones are
 * ignored, as the spec lets a receiver do. */
static int check_client_caps(const uint8_t *p, size_t len)
{
    if (len == 0) {
        return 0;
    }
    if (memchr(p, '\0', len) == NULL) {
        return -EINVAL;
    }
    struct json_object *o = json_tokener_parse((const char *)p), *caps;
    int err = 0;
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        err = -EINVAL;
    } else if (json_object_object_get_ex(o, "capabilities", &caps) &&
               !json_object_is_type(caps, json_type_object)) {
        err = -EINVAL;
    }
    json_object_put(o);
    return err;
}

static int cmd_version(struct vfu_conn *c)
{
    size_t len;
    const uint8_t *p = payload(c, &len);
    uint16_t major, minor;

    if (len < 4) {
        return -EINVAL;
    }
    memcpy(&major, p, 2);
    memcpy(&minor, p + 2, 2);
    if (major != VFU_MAJOR || check_client_caps(p + 4, len - 4) != 0) {
        return -ENOTSUP;
    }
    uint8_t out[256];
    uint16_t v[2] = {VFU_MAJOR, minor < VFU_MINOR ? minor : VFU_MINOR};
    /* No migration capability: this device does not migrate. */
    int n = snprintf((char *)out + 4, sizeof(out) - 4,
                     "{\"capabilities\":{\"max_msg_fds\":%d,"
                     "\"max_data_xfer_size\":%u,\"max_dma_maps\":%d,"
                     "\"pgsizes\":4096}}",
                     VFU_MAX_FDS, VFU_MAX_XFER, VFU_MAX_DMA);
    memcpy(out, v, 4);
    reply(c, 0, out, 4 + (size_t)n + 1, -1);
    c->versioned = true;
    return 0;
}

static int cmd_dma_map(struct vfu_set *s, struct vfu_conn *c)
{
    struct vfu_dma_map m;
    size_t len;
    const uint8_t *p = payload(c, &len);
    const uint64_t page = 4096;

    if (len != sizeof(m) || c->rx_nfds > 1) {
        return -EINVAL;
    }
    memcpy(&m, p, sizeof(m));
    if (m.argsz != sizeof(m) || (m.flags & ~(VFU_DMA_READ | VFU_DMA_WRITE)) ||
        m.size == 0 || (m.addr | m.size | m.offset) % page != 0 ||
        m.addr + m.size - 1 < m.addr || m.offset + m.size < m.offset) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < c->nr_dma; i++) {
        const struct vfu_dma *o = &c->dma[i];
        if (m.addr <= o->iova + o->size - 1 && o->iova <= m.addr + m.size - 1) {
            return -EEXIST;
        }
    }
    if (c->nr_dma == VFU_MAX_DMA) {
        return -ENOSPC;
    }
    uint8_t *base = NULL;
    size_t skew = 0;
    if (c->rx_nfds == 1) {
        struct stat st;
        int fd = c->rx_fds[0];
        /* The whole window must be in the file: nothing may fault. */
        if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < m.offset + m.size) {
            return -EINVAL;
        }
        int prot = ((m.flags & VFU_DMA_READ) ? PROT_READ : 0) |
                   ((m.flags & VFU_DMA_WRITE) ? PROT_WRITE : 0);
        /* A hugetlbfs file maps from huge-page boundaries only (QEMU's
         * windows start at 0xc0000, say): map from the one below. */
        uint64_t align = st.st_blksize > 0 ? (uint64_t)st.st_blksize : 4096;
        skew = m.offset % align;
        void *at = mmap(NULL, m.size + skew, prot != 0 ? prot : PROT_READ,
                        MAP_SHARED, fd, (off_t)(m.offset - skew));
        if (at == MAP_FAILED) {
            return -errno;
        }
        base = (uint8_t *)at + skew;
    }
    c->dma[c->nr_dma++] = (struct vfu_dma){m.addr, m.size, base, skew};
    if (base != NULL && update_ram(s) != 0) {
        munmap(base - skew, m.size + skew);
        c->nr_dma--;
        return -ENOSPC;
    }
    reply(c, 0, NULL, 0, -1);
    return 0;
}

static void dma_drop(struct vfu_conn *c, unsigned i)
{
    if (c->dma[i].base != NULL) {
        munmap(c->dma[i].base - c->dma[i].skew,
               c->dma[i].size + c->dma[i].skew);
    }
    c->dma[i] = c->dma[--c->nr_dma];
}

static int cmd_dma_unmap(struct vfu_set *s, struct vfu_conn *c)
{
    struct vfu_dma_unmap u;
    size_t len;
    const uint8_t *p = payload(c, &len);

    if (len != sizeof(u) || c->rx_nfds != 0) {
        return -EINVAL;
    }
    memcpy(&u, p, sizeof(u));
    if (u.argsz < sizeof(u) || (u.flags & ~VFU_UNMAP_ALL)) {
        return -EINVAL;
    }
    /* The host keeps pinned what the guest still maps there: the VMM has
     * the guest unmap it first, as for any RAM it takes away. */
    if (u.flags & VFU_UNMAP_ALL) {
        if (u.addr != 0 || u.size != 0) {
            return -EINVAL;
        }
        while (c->nr_dma > 0) {
            dma_drop(c, 0);
        }
    } else {
        unsigned i = 0;
        while (i < c->nr_dma &&
               (c->dma[i].iova != u.addr || c->dma[i].size != u.size)) {
            i++;
        }
        if (i == c->nr_dma) {
            return -ENOENT;
        }
        dma_drop(c, i);
    }
    (void)update_ram(s);
    u.argsz = sizeof(u);
    reply(c, 0, &u, sizeof(u), -1);
    return 0;
}

static int cmd_get_info(struct vfu_device *d, struct vfu_conn *c)
{
    struct vfio_device_info in, out = {.argsz = 16};
    size_t len;
    const uint8_t *p = payload(c, &len);

    if (len != 16 || c->rx_nfds != 0) {
        return -EINVAL;
    }
    memcpy(&in, p, 16);
    if (in.argsz < 16) {
        return -EINVAL;
    }
    out.flags =
        d->info_flags & (VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI);
    out.num_regions =
        d->num_regions < VFU_MAX_REGIONS ? d->num_regions : VFU_MAX_REGIONS;
    out.num_irqs = d->num_irqs;
    reply(c, 0, &out, 16, -1);
    return 0;
}

static int cmd_region_info(struct vfu_set *s, struct vfu_device *d,
                           struct vfu_conn *c)
{
    struct vfio_region_info in;
    union {
        struct vfio_region_info info;
        uint8_t raw[VFU_REGION_INFO_MAX];
    } out;
    size_t len;
    const uint8_t *p = payload(c, &len);

    if (len != sizeof(in) || c->rx_nfds != 0) {
        return -EINVAL;
    }
    memcpy(&in, p, sizeof(in));
    if (in.argsz < sizeof(in) || in.index >= d->num_regions ||
        in.index >= VFU_MAX_REGIONS) {
        return -EINVAL;
    }
    memset(&out, 0, sizeof(out));
    out.info.argsz = sizeof(out);
    out.info.index = in.index;
    int err = s->ops->ioctl(d->dev, VFIO_DEVICE_GET_REGION_INFO, &out.info);
    if (err != 0) {
        return err;
    }
    /* The capabilities (sparse mmap areas, region types) as the kernel
     * wrote them: their offsets count from the info, as on the wire. */
    size_t full = out.info.argsz;
    if (full < sizeof(out.info) || full > sizeof(out) ||
        (out.info.cap_offset != 0 && (out.info.cap_offset < sizeof(out.info) ||
                                      out.info.cap_offset >= full))) {
        return -EIO;
    }
    size_t give = full;
    if (in.argsz < full) {
        /* It asks again with room for them; meanwhile no capability is
         * announced that is not there (QEMU refuses that reply). */
        give = sizeof(out.info);
        out.info.cap_offset = 0;
        out.info.flags &= ~VFIO_REGION_INFO_FLAG_CAPS;
    }
    out.info.argsz = (uint32_t)full;
    /* With type1, a BAR the kernel lets be mmapped is offered as the
     * device fd itself: the VMM maps it and its accesses never pass here,
     * and the fd cannot change the group's container. An iommufd device
     * fd could attach the device to any IOAS of the daemon's /dev/iommu,
     * another guest domain's or a bypass one: there every access is
     * relayed. */
    int fd = -1;
    if (out.info.flags & VFIO_REGION_INFO_FLAG_MMAP) {
        if (s->iommufd) {
            out.info.flags &= ~VFIO_REGION_INFO_FLAG_MMAP;
        } else {
            fd = s->ops->fd(d->dev);
        }
    }
    reply(c, 0, &out, give, fd);
    return 0;
}

static int cmd_irq_info(struct vfu_set *s, struct vfu_device *d,
                        struct vfu_conn *c)
{
    struct vfio_irq_info in;
    size_t len;
    const uint8_t *p = payload(c, &len);

    if (len != sizeof(in) || c->rx_nfds != 0) {
        return -EINVAL;
    }
    memcpy(&in, p, sizeof(in));
    if (in.argsz < sizeof(in) || in.index >= d->num_irqs) {
        return -EINVAL;
    }
    struct vfio_irq_info out = {.argsz = sizeof(out), .index = in.index};
    int err = s->ops->ioctl(d->dev, VFIO_DEVICE_GET_IRQ_INFO, &out);
    if (err != 0) {
        return err;
    }
    out.argsz = sizeof(out);
    reply(c, 0, &out, sizeof(out), -1);
    return 0;
}

static int cmd_set_irqs(struct vfu_set *s, struct vfu_device *d,
                        struct vfu_conn *c)
{
    struct vfio_irq_set in;
    size_t len;
    const uint8_t *p = payload(c, &len);
    const uint32_t data = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL |
                          VFIO_IRQ_SET_DATA_EVENTFD;
    const uint32_t action = VFIO_IRQ_SET_ACTION_MASK |
                            VFIO_IRQ_SET_ACTION_UNMASK |
                            VFIO_IRQ_SET_ACTION_TRIGGER;

    if (len < sizeof(in)) {
        return -EINVAL;
    }
    memcpy(&in, p, sizeof(in));
    uint32_t dt = in.flags & data, ac = in.flags & action;
    if (in.argsz != len || (in.flags & ~(data | action)) ||
        __builtin_popcount(dt) != 1 || __builtin_popcount(ac) != 1 ||
        in.index >= d->num_irqs || in.count > VFU_MAX_IRQ_SET ||
        in.start > UINT32_MAX - in.count) {
        return -EINVAL;
    }
    size_t extra = dt == VFIO_IRQ_SET_DATA_BOOL ? in.count : 0;
    if (len != sizeof(in) + extra) {
        return -EINVAL;
    }
    /* Eventfds: one per sub-index, or none to take them all away. */
    if (dt == VFIO_IRQ_SET_DATA_EVENTFD
            ? (c->rx_nfds != 0 && c->rx_nfds != in.count)
            : c->rx_nfds != 0) {
        return -EINVAL;
    }
    if (dt == VFIO_IRQ_SET_DATA_EVENTFD) {
        extra = sizeof(int32_t) * in.count;
    }
    struct vfio_irq_set *set = calloc(1, sizeof(*set) + extra);
    if (set == NULL) {
        return -ENOMEM;
    }
    *set = in;
    set->argsz = (uint32_t)(sizeof(*set) + extra);
    if (dt == VFIO_IRQ_SET_DATA_BOOL) {
        memcpy(set->data, p + sizeof(in), in.count);
    } else if (dt == VFIO_IRQ_SET_DATA_EVENTFD) {
        int32_t *fds = (int32_t *)set->data;
        for (uint32_t i = 0; i < in.count; i++) {
            fds[i] = c->rx_nfds != 0 ? c->rx_fds[i] : -1;
        }
    }
    /* VFIO holds the eventfds it was given; ours close after the call. */
    int err = s->ops->ioctl(d->dev, VFIO_DEVICE_SET_IRQS, set);
    free(set);
    if (err != 0) {
        return err;
    }
    reply(c, 0, NULL, 0, -1);
    return 0;
}

static int cmd_region_rw(struct vfu_set *s, struct vfu_device *d,
                         struct vfu_conn *c, bool write)
{
    struct vfu_rw rw;
    size_t len;
    const uint8_t *p = payload(c, &len);

    if (len < sizeof(rw) || c->rx_nfds != 0) {
        return -EINVAL;
    }
    memcpy(&rw, p, sizeof(rw));
    if (rw.count == 0 || rw.count > VFU_MAX_XFER ||
        len != sizeof(rw) + (write ? rw.count : 0) ||
        rw.region >= d->num_regions || rw.region >= VFU_MAX_REGIONS) {
        return -EINVAL;
    }
    const struct vfu_region *r = &d->regions[rw.region];
    uint32_t need =
        write ? VFIO_REGION_INFO_FLAG_WRITE : VFIO_REGION_INFO_FLAG_READ;
    if (!(r->flags & need) || rw.offset > r->size ||
        rw.count > r->size - rw.offset) {
        return -EINVAL;
    }
    uint64_t at = r->offset + rw.offset;
    ssize_t n;
    if (write) {
        n = s->ops->pwrite(d->dev, p + sizeof(rw), rw.count, at);
    } else {
        /* Read straight into the reply, after its header and echo. */
        n = s->ops->pread(d->dev, c->tx + VFU_HDR + sizeof(rw), rw.count, at);
    }
    if (n < 0) {
        return (int)n;
    }
    if ((size_t)n != rw.count) {
        return -EIO;
    }
    if (write) {
        reply(c, 0, &rw, sizeof(rw), -1);
    } else {
        memcpy(c->tx + VFU_HDR, &rw, sizeof(rw));
        reply(c, 0, c->tx + VFU_HDR, sizeof(rw) + rw.count, -1);
    }
    return 0;
}

static int cmd_reset(struct vfu_set *s, struct vfu_device *d,
                     struct vfu_conn *c)
{
    size_t len;

    (void)payload(c, &len);
    if (len != 0 || c->rx_nfds != 0) {
        return -EINVAL;
    }
    if (!(d->info_flags & VFIO_DEVICE_FLAGS_RESET)) {
        return -ENOTSUP;
    }
    int err = s->ops->ioctl(d->dev, VFIO_DEVICE_RESET, NULL);
    if (err == 0) {
        reply(c, 0, NULL, 0, -1);
    }
    return err;
}

/* Handles the whole message in c->rx. False: hang up. */
static bool handle(struct vfu_set *s, struct vfu_device *d)
{
    struct vfu_conn *c = &d->conn;
    struct vfu_hdr h;
    int err;

    memcpy(&h, c->rx, VFU_HDR);
    if (!c->versioned && h.cmd != VFU_VERSION) {
        dlog(VIOMMU_LOG_WARN, "vfio-user: %s: command %u before VERSION",
             d->bdf, h.cmd);
        return false;
    }
    switch (h.cmd) {
    case VFU_VERSION:
        err = c->versioned ? -EINVAL : cmd_version(c);
        if (err != 0) {
            reply(c, err, NULL, 0, -1);
            /* Without an agreed version there is nothing to go on with. */
            return c->versioned;
        }
        break;
    case VFU_DMA_MAP:
        err = cmd_dma_map(s, c);
        break;
    case VFU_DMA_UNMAP:
        err = cmd_dma_unmap(s, c);
        break;
    case VFU_DEVICE_GET_INFO:
        err = cmd_get_info(d, c);
        break;
    case VFU_DEVICE_GET_REGION_INFO:
        err = cmd_region_info(s, d, c);
        break;
    case VFU_DEVICE_GET_IRQ_INFO:
        err = cmd_irq_info(s, d, c);
        break;
    case VFU_DEVICE_SET_IRQS:
        err = cmd_set_irqs(s, d, c);
        break;
    case VFU_REGION_READ:
        err = cmd_region_rw(s, d, c, false);
        break;
    case VFU_REGION_WRITE:
        err = cmd_region_rw(s, d, c, true);
        break;
    case VFU_DEVICE_RESET:
        err = cmd_reset(s, d, c);
        break;
    default:
        err = -ENOSYS;
        break;
    }
    if (err != 0) {
        dlog(VIOMMU_LOG_DEBUG, "vfio-user: %s: command %u refused: %s", d->bdf,
             h.cmd, strerror(-err));
        reply(c, err, NULL, 0, -1);
    }
    return true;
}

/* Reads the rest of the current message, never past it, with the fds
 * that come with its bytes. False: hang up. */
static bool receive(struct vfu_set *s, struct vfu_device *d)
{
    struct vfu_conn *c = &d->conn;
    size_t want = VFU_HDR;

    if (c->rx_have >= VFU_HDR) {
        uint32_t size;
        memcpy(&size, c->rx + 4, 4);
        want = size;
    }
    union {
        char buf[CMSG_SPACE(sizeof(int) * VFU_MAX_FDS)];
        struct cmsghdr align;
    } control;
    struct iovec iov = {c->rx + c->rx_have, want - c->rx_have};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof(control.buf)};
    ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return true;
    }
    bool ok = n > 0;
    if (n < 0) {
        mh.msg_controllen = 0; /* not written by a failed call */
    }
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL;
         cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (c->rx_nfds < VFU_MAX_FDS) {
                c->rx_fds[c->rx_nfds++] = fd;
            } else {
                close(fd);
                ok = false;
            }
        }
    }
    if (mh.msg_flags & MSG_CTRUNC) {
        ok = false; /* more fds than max_msg_fds */
    }
    if (!ok) {
        if (n > 0) {
            dlog(VIOMMU_LOG_WARN, "vfio-user: %s: more than %d fds", d->bdf,
                 VFU_MAX_FDS);
        }
        return false;
    }
    c->rx_have += (size_t)n;
    if (c->rx_have == VFU_HDR) {
        struct vfu_hdr h;
        memcpy(&h, c->rx, VFU_HDR);
        if (h.size < VFU_HDR || h.size > VFU_MAX_MSG ||
            (h.flags & VFU_TYPE_MASK) != VFU_TYPE_COMMAND) {
            dlog(VIOMMU_LOG_WARN,
                 "vfio-user: %s: a message of %u bytes, flags %#x: hang up",
                 d->bdf, h.size, h.flags);
            return false;
        }
    }
    if (c->rx_have < VFU_HDR) {
        return true;
    }
    uint32_t size;
    memcpy(&size, c->rx + 4, 4);
    if (c->rx_have < size) {
        return true;
    }
    bool go_on = handle(s, d);
    close_fds(c->rx_fds, &c->rx_nfds);
    c->rx_have = 0;
    bool sent = flush(c); /* an error reply too, before a hang-up */
    return go_on && sent;
}

static void accept_client(struct vfu_set *s, struct vfu_device *d)
{
    int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (fd < 0) {
        return;
    }
    if (d->conn.fd >= 0) {
        /* One VMM per device. */
        dlog(VIOMMU_LOG_WARN, "vfio-user: %s: a second client refused", d->bdf);
        close(fd);
        return;
    }
    struct vfu_conn *c = &d->conn;
    c->rx = malloc(VFU_MAX_MSG);
    c->tx = malloc(VFU_MAX_MSG);
    if (c->rx == NULL || c->tx == NULL ||
        (d->dev == NULL && device_open(s, d) != 0)) {
        free(c->rx);
        free(c->tx);
        c->rx = c->tx = NULL;
        close(fd);
        return;
    }
    c->fd = fd;
    dlog(VIOMMU_LOG_INFO, "vfio-user: %s: client connected", d->bdf);
}

unsigned vfu_poll_fds(const struct vfu_set *s, struct pollfd *pfd)
{
    unsigned n = 0;

    for (unsigned i = 0; i < VFU_MAX_DEVICES; i++) {
        const struct vfu_device *d = &s->devs[i];
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

void vfu_serve(struct vfu_set *s, const struct pollfd *pfd, unsigned n)
{
    /* Clients first, then new ones: an fd a client closed and an accept
     * reused is never taken for the old one. */
    for (unsigned pass = 0; pass < 2; pass++) {
        for (unsigned k = 0; k < n; k++) {
            if (pfd[k].revents == 0) {
                continue;
            }
            for (unsigned i = 0; i < VFU_MAX_DEVICES; i++) {
                struct vfu_device *d = &s->devs[i];
                if (!d->used) {
                    continue;
                }
                if (pass == 1 && pfd[k].fd == d->listen_fd) {
                    accept_client(s, d);
                    break;
                }
                if (pass == 0 && pfd[k].fd == d->conn.fd) {
                    bool ok =
                        d->conn.tx_len > 0 ? flush(&d->conn) : receive(s, d);
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
