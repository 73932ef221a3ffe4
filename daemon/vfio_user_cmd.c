/* SPDX-License-Identifier: BSD-3-Clause */
#include "vfio_user_cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <json-c/json.h>
#include <linux/vfio.h>

#include "log.h"
#include "vfio_user_conn.h"
#include "vfio_user_ram.h"

#define VFIO_USER_REGION_INFO_MAX                                              \
    4096u /* region info with its capabilities                                 \
           */

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

static int cmd_version(struct vfio_user_set *s, struct vfio_user_device *d,
                       struct vfio_user_conn *c)
{
    (void)s;
    (void)d;
    size_t len;
    const uint8_t *p = vfio_user_payload(c, &len);
    uint16_t major, minor;

    if (len < 4) {
        return -EINVAL;
    }
    memcpy(&major, p, 2);
    memcpy(&minor, p + 2, 2);
    if (major != VFIO_USER_MAJOR || check_client_caps(p + 4, len - 4) != 0) {
        return -ENOTSUP;
    }
    uint8_t out[256];
    uint16_t v[2] = {VFIO_USER_MAJOR,
                     minor < VFIO_USER_MINOR ? minor : VFIO_USER_MINOR};
    /* No migration capability: this device does not migrate. */
    int n = snprintf((char *)out + 4, sizeof(out) - 4,
                     "{\"capabilities\":{\"max_msg_fds\":%d,"
                     "\"max_data_xfer_size\":%u,\"max_dma_maps\":%d,"
                     "\"pgsizes\":4096}}",
                     VFIO_USER_MAX_FDS, VFIO_USER_MAX_XFER, VFIO_USER_MAX_DMA);
    memcpy(out, v, 4);
    vfio_user_reply(c, 0, out, 4 + (size_t)n + 1);
    c->versioned = true;
    return 0;
}

static int cmd_dma_map(struct vfio_user_set *s, struct vfio_user_device *d,
                       struct vfio_user_conn *c)
{
    struct vfio_user_dma_map m;
    size_t len;
    const uint8_t *p = vfio_user_payload(c, &len);
    const uint64_t page = 4096;

    (void)d;
    if (len != sizeof(m) || c->rx_nfds > 1) {
        return -EINVAL;
    }
    memcpy(&m, p, sizeof(m));
    if (m.argsz != sizeof(m) ||
        (m.flags & ~(VFIO_USER_DMA_READ | VFIO_USER_DMA_WRITE)) ||
        m.size == 0 || (m.addr | m.size | m.offset) % page != 0 ||
        m.addr + m.size - 1 < m.addr || m.offset + m.size < m.offset) {
        return -EINVAL;
    }
    int prot = ((m.flags & VFIO_USER_DMA_READ) ? PROT_READ : 0) |
               ((m.flags & VFIO_USER_DMA_WRITE) ? PROT_WRITE : 0);
    int err =
        vfio_user_dma_add(s, c, m.addr, m.size,
                          c->rx_nfds == 1 ? c->rx_fds[0] : -1, m.offset, prot);
    if (err == 0) {
        vfio_user_reply(c, 0, NULL, 0);
    }
    return err;
}

static int cmd_dma_unmap(struct vfio_user_set *s, struct vfio_user_device *d,
                         struct vfio_user_conn *c)
{
    struct vfio_user_dma_unmap u;
    size_t len;
    const uint8_t *p = vfio_user_payload(c, &len);

    (void)d;
    if (len != sizeof(u) || c->rx_nfds != 0) {
        return -EINVAL;
    }
    memcpy(&u, p, sizeof(u));
    bool all = u.flags & VFIO_USER_UNMAP_ALL;
    if (u.argsz < sizeof(u) || (u.flags & ~VFIO_USER_UNMAP_ALL) ||
        (all && (u.addr != 0 || u.size != 0))) {
        return -EINVAL;
    }
    /* The host keeps pinned what the guest still maps there: the VMM has
     * the guest unmap it first, as for any RAM it takes away. */
    int err = vfio_user_dma_remove(s, c, u.addr, u.size, all);
    if (err == 0) {
        u.argsz = sizeof(u);
        vfio_user_reply(c, 0, &u, sizeof(u));
    }
    return err;
}

static int cmd_get_info(struct vfio_user_set *s, struct vfio_user_device *d,
                        struct vfio_user_conn *c)
{
    (void)s;
    struct vfio_device_info in, out = {.argsz = 16};
    size_t len;
    const uint8_t *p = vfio_user_payload(c, &len);

    if (len != 16 || c->rx_nfds != 0) {
        return -EINVAL;
    }
    memcpy(&in, p, 16);
    if (in.argsz < 16) {
        return -EINVAL;
    }
    out.flags =
        d->info_flags & (VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI);
    out.num_regions = d->num_regions < VFIO_USER_MAX_REGIONS
                          ? d->num_regions
                          : VFIO_USER_MAX_REGIONS;
    out.num_irqs = d->num_irqs;
    vfio_user_reply(c, 0, &out, 16);
    return 0;
}

static int cmd_region_info(struct vfio_user_set *s, struct vfio_user_device *d,
                           struct vfio_user_conn *c)
{
    struct vfio_region_info in;
    union {
        struct vfio_region_info info;
        uint8_t raw[VFIO_USER_REGION_INFO_MAX];
    } out;
    size_t len;
    const uint8_t *p = vfio_user_payload(c, &len);

    if (len != sizeof(in) || c->rx_nfds != 0) {
        return -EINVAL;
    }
    memcpy(&in, p, sizeof(in));
    if (in.argsz < sizeof(in) || in.index >= d->num_regions ||
        in.index >= VFIO_USER_MAX_REGIONS) {
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
    /* No region is offered for mmap: every access is relayed. The device
     * fd a client could map a BAR from would keep the device open after
     * the client hangs up (the daemon's close then frees nothing, and its
     * unbind from vfio-pci waits), and an iommufd device fd could attach
     * the device to any IOAS of the daemon's /dev/iommu. */
    out.info.flags &= ~VFIO_REGION_INFO_FLAG_MMAP;
    vfio_user_reply(c, 0, &out, give);
    return 0;
}

static int cmd_irq_info(struct vfio_user_set *s, struct vfio_user_device *d,
                        struct vfio_user_conn *c)
{
    struct vfio_irq_info in;
    size_t len;
    const uint8_t *p = vfio_user_payload(c, &len);

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
    vfio_user_reply(c, 0, &out, sizeof(out));
    return 0;
}

static int cmd_set_irqs(struct vfio_user_set *s, struct vfio_user_device *d,
                        struct vfio_user_conn *c)
{
    struct vfio_irq_set in;
    size_t len;
    const uint8_t *p = vfio_user_payload(c, &len);
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
        in.index >= d->num_irqs || in.count > VFIO_USER_MAX_IRQ_SET ||
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
    vfio_user_reply(c, 0, NULL, 0);
    return 0;
}

static int cmd_region_rw(struct vfio_user_set *s, struct vfio_user_device *d,
                         struct vfio_user_conn *c, bool write)
{
    struct vfio_user_rw rw;
    size_t len;
    const uint8_t *p = vfio_user_payload(c, &len);

    if (len < sizeof(rw) || c->rx_nfds != 0) {
        return -EINVAL;
    }
    memcpy(&rw, p, sizeof(rw));
    if (rw.count == 0 || rw.count > VFIO_USER_MAX_XFER ||
        len != sizeof(rw) + (write ? rw.count : 0) ||
        rw.region >= d->num_regions || rw.region >= VFIO_USER_MAX_REGIONS) {
        return -EINVAL;
    }
    const struct vfio_user_region *r = &d->regions[rw.region];
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
        n = s->ops->pread(d->dev, c->tx + VFIO_USER_HDR + sizeof(rw), rw.count,
                          at);
    }
    if (n < 0) {
        return (int)n;
    }
    if ((size_t)n != rw.count) {
        return -EIO;
    }
    if (write) {
        vfio_user_reply(c, 0, &rw, sizeof(rw));
    } else {
        memcpy(c->tx + VFIO_USER_HDR, &rw, sizeof(rw));
        vfio_user_reply(c, 0, c->tx + VFIO_USER_HDR, sizeof(rw) + rw.count);
    }
    return 0;
}

static int cmd_region_read(struct vfio_user_set *s, struct vfio_user_device *d,
                           struct vfio_user_conn *c)
{
    return cmd_region_rw(s, d, c, false);
}

static int cmd_region_write(struct vfio_user_set *s, struct vfio_user_device *d,
                            struct vfio_user_conn *c)
{
    return cmd_region_rw(s, d, c, true);
}

static int cmd_reset(struct vfio_user_set *s, struct vfio_user_device *d,
                     struct vfio_user_conn *c)
{
    size_t len;

    (void)vfio_user_payload(c, &len);
    if (len != 0 || c->rx_nfds != 0) {
        return -EINVAL;
    }
    if (!(d->info_flags & VFIO_DEVICE_FLAGS_RESET)) {
        return -ENOTSUP;
    }
    int err = s->ops->ioctl(d->dev, VFIO_DEVICE_RESET, NULL);
    if (err == 0) {
        vfio_user_reply(c, 0, NULL, 0);
    }
    return err;
}

typedef int cmd_fn(struct vfio_user_set *s, struct vfio_user_device *d,
                   struct vfio_user_conn *c);

static cmd_fn *const commands[] = {
    [VFIO_USER_DMA_MAP] = cmd_dma_map,
    [VFIO_USER_DMA_UNMAP] = cmd_dma_unmap,
    [VFIO_USER_DEVICE_GET_INFO] = cmd_get_info,
    [VFIO_USER_DEVICE_GET_REGION_INFO] = cmd_region_info,
    [VFIO_USER_DEVICE_GET_IRQ_INFO] = cmd_irq_info,
    [VFIO_USER_DEVICE_SET_IRQS] = cmd_set_irqs,
    [VFIO_USER_REGION_READ] = cmd_region_read,
    [VFIO_USER_REGION_WRITE] = cmd_region_write,
    [VFIO_USER_DEVICE_RESET] = cmd_reset,
};

bool vfio_user_handle(struct vfio_user_set *s, struct vfio_user_device *d)
{
    struct vfio_user_conn *c = &d->conn;
    struct vfio_user_hdr h;
    int err;

    memcpy(&h, c->rx, VFIO_USER_HDR);
    if (!c->versioned && h.cmd != VFIO_USER_VERSION) {
        dlog(VIOMMU_LOG_WARN, "vfio-user: %s: command %u before VERSION",
             d->bdf, h.cmd);
        return false;
    }
    if (h.cmd == VFIO_USER_VERSION) {
        err = c->versioned ? -EINVAL : cmd_version(s, d, c);
        if (err != 0) {
            vfio_user_reply(c, err, NULL, 0);
            /* Without an agreed version there is nothing to go on with. */
            return c->versioned;
        }
        return true;
    }
    cmd_fn *fn =
        h.cmd < sizeof(commands) / sizeof(commands[0]) ? commands[h.cmd] : NULL;
    err = fn != NULL ? fn(s, d, c) : -ENOSYS;
    if (err != 0) {
        dlog(VIOMMU_LOG_DEBUG, "vfio-user: %s: command %u refused: %s", d->bdf,
             h.cmd, strerror(-err));
        vfio_user_reply(c, err, NULL, 0);
    }
    return true;
}
