/* SPDX-License-Identifier: BSD-3-Clause */
#include "driver.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_iommu.h>

uint64_t vdrv_features(const struct vdrv *d)
{
    const struct vdrv_transport *t = d->transport;

    return t != NULL ? t->features(t->opaque) : viommu_device_features(d->v);
}

int vdrv_set_features(const struct vdrv *d, uint64_t features)
{
    const struct vdrv_transport *t = d->transport;

    return t != NULL ? t->set_features(t->opaque, features)
                     : viommu_set_driver_features(d->v, features);
}

int vdrv_config_read(const struct vdrv *d, uint32_t offset, void *buf,
                     uint32_t len)
{
    const struct vdrv_transport *t = d->transport;

    return t != NULL ? t->config_read(t->opaque, offset, buf, len)
                     : viommu_config_read(d->v, offset, buf, len);
}

uint32_t vdrv_send(const struct vdrv *d, const void *req, size_t req_len,
                   void *resp, size_t resp_len)
{
    const struct vdrv_hooks *h = d->hooks;
    struct iovec riov = {(void *)req, req_len};
    struct iovec wiov = {resp, resp_len};
    uint32_t used = 0;

    if (h != NULL && h->before != NULL) {
        h->before(h->opaque);
    }
    if (d->transport != NULL) {
        used = d->transport->send(d->transport->opaque, req, req_len, resp,
                                  resp_len);
    } else if (viommu_handle_request(d->v, &riov, 1, &wiov, 1, &used) != 0) {
        abort(); /* only for invalid arguments: a bug in the caller */
    }
    if (h != NULL && h->after != NULL) {
        /* The tail is the last 4 bytes of the writable part. */
        h->after(h->opaque, used == 0 ? VDRV_NO_REPLY
                                      : ((const uint8_t *)resp)[resp_len - 4]);
    }
    return used;
}

/* Sends a whole request struct whose last 4 bytes are the tail. */
static uint8_t send_req(const struct vdrv *d, void *req, size_t size)
{
    uint8_t *bytes = req;
    size_t body = size - sizeof(struct virtio_iommu_req_tail);

    if (vdrv_send(d, bytes, body, bytes + body,
                  sizeof(struct virtio_iommu_req_tail)) == 0) {
        return VDRV_NO_REPLY;
    }
    return ((struct virtio_iommu_req_tail *)(bytes + body))->status;
}

struct virtio_iommu_req_attach vdrv_attach_req(uint32_t domain, uint32_t ep,
                                               uint32_t flags)
{
    return (struct virtio_iommu_req_attach){
        .head.type = VIRTIO_IOMMU_T_ATTACH,
        .domain = htole32(domain),
        .endpoint = htole32(ep),
        .flags = htole32(flags),
    };
}

struct virtio_iommu_req_detach vdrv_detach_req(uint32_t domain, uint32_t ep)
{
    return (struct virtio_iommu_req_detach){
        .head.type = VIRTIO_IOMMU_T_DETACH,
        .domain = htole32(domain),
        .endpoint = htole32(ep),
    };
}

struct virtio_iommu_req_unmap vdrv_unmap_req(uint32_t domain, uint64_t start,
                                             uint64_t end)
{
    return (struct virtio_iommu_req_unmap){
        .head.type = VIRTIO_IOMMU_T_UNMAP,
        .domain = htole32(domain),
        .virt_start = htole64(start),
        .virt_end = htole64(end),
    };
}

struct virtio_iommu_req_probe vdrv_probe_req(uint32_t ep)
{
    return (struct virtio_iommu_req_probe){
        .head.type = VIRTIO_IOMMU_T_PROBE,
        .endpoint = htole32(ep),
    };
}

uint8_t vdrv_attach(const struct vdrv *d, uint32_t domain, uint32_t ep,
                    uint32_t flags)
{
    struct virtio_iommu_req_attach req = vdrv_attach_req(domain, ep, flags);

    return send_req(d, &req, sizeof(req));
}

uint8_t vdrv_detach(const struct vdrv *d, uint32_t domain, uint32_t ep)
{
    struct virtio_iommu_req_detach req = vdrv_detach_req(domain, ep);

    return send_req(d, &req, sizeof(req));
}

uint8_t vdrv_map(const struct vdrv *d, uint32_t domain, uint64_t start,
                 uint64_t end, uint64_t phys, uint32_t flags)
{
    struct virtio_iommu_req_map req = {
        .head.type = VIRTIO_IOMMU_T_MAP,
        .domain = htole32(domain),
        .virt_start = htole64(start),
        .virt_end = htole64(end),
        .phys_start = htole64(phys),
        .flags = htole32(flags),
    };

    return send_req(d, &req, sizeof(req));
}

uint8_t vdrv_unmap(const struct vdrv *d, uint32_t domain, uint64_t start,
                   uint64_t end)
{
    struct virtio_iommu_req_unmap req = vdrv_unmap_req(domain, start, end);

    return send_req(d, &req, sizeof(req));
}

uint8_t vdrv_probe(const struct vdrv *d, uint32_t ep, uint8_t *props,
                   size_t props_len)
{
    struct virtio_iommu_req_probe req = vdrv_probe_req(ep);
    uint32_t probe_size;

    if (props_len == 0) {
        if (vdrv_config_read(d,
                             offsetof(struct virtio_iommu_config, probe_size),
                             &probe_size, sizeof(probe_size)) != 0) {
            abort();
        }
        props_len = le32toh(probe_size);
    }
    size_t out_len = props_len + sizeof(struct virtio_iommu_req_tail);
    uint8_t *out = calloc(1, out_len);
    if (out == NULL) {
        abort();
    }
    uint8_t status = VDRV_NO_REPLY;
    if (vdrv_send(d, &req, sizeof(req), out, out_len) != 0) {
        status = ((struct virtio_iommu_req_tail *)(out + props_len))->status;
        if (props != NULL) {
            memcpy(props, out, props_len);
        }
    }
    free(out);
    return status;
}

int vdrv_parse_resv(const uint8_t *props, size_t len,
                    struct viommu_resv_region *out, int max)
{
    size_t cur = 0;
    int n = 0;

    while (cur + sizeof(struct virtio_iommu_probe_property) <= len) {
        struct virtio_iommu_probe_property hdr;
        memcpy(&hdr, props + cur, sizeof(hdr));
        uint16_t type = le16toh(hdr.type) & VIRTIO_IOMMU_PROBE_T_MASK;
        size_t plen = le16toh(hdr.length);
        if (type == VIRTIO_IOMMU_PROBE_T_NONE) {
            break;
        }
        if (cur + sizeof(hdr) + plen > len) {
            return -1;
        }
        if (type == VIRTIO_IOMMU_PROBE_T_RESV_MEM) {
            struct virtio_iommu_probe_resv_mem resv;
            if (plen + sizeof(hdr) < sizeof(resv) || n == max) {
                return -1;
            }
            memcpy(&resv, props + cur, sizeof(resv));
            out[n].start = le64toh(resv.start);
            out[n].end = le64toh(resv.end);
            out[n].type = resv.subtype == VIRTIO_IOMMU_RESV_MEM_T_MSI
                              ? VIOMMU_RESV_MSI
                              : VIOMMU_RESV_RESERVED;
            n++;
        }
        cur += sizeof(hdr) + plen;
    }
    return n;
}

const char *vdrv_status_name(uint8_t status)
{
    static const char *const names[] = {
        [VIRTIO_IOMMU_S_OK] = "OK",         [VIRTIO_IOMMU_S_IOERR] = "IOERR",
        [VIRTIO_IOMMU_S_UNSUPP] = "UNSUPP", [VIRTIO_IOMMU_S_DEVERR] = "DEVERR",
        [VIRTIO_IOMMU_S_INVAL] = "INVAL",   [VIRTIO_IOMMU_S_RANGE] = "RANGE",
        [VIRTIO_IOMMU_S_NOENT] = "NOENT",   [VIRTIO_IOMMU_S_FAULT] = "FAULT",
        [VIRTIO_IOMMU_S_NOMEM] = "NOMEM",
    };

    if (status == VDRV_NO_REPLY) {
        return "no reply";
    }
    return status < sizeof(names) / sizeof(names[0]) ? names[status] : "?";
}
