/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The wire format: every struct of linux/virtio_iommu.h is read or written
 * here and nowhere else. Guest bytes are decoded from little-endian once.
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <linux/virtio_iommu.h>

#include "wire.h"

_Static_assert(sizeof(struct virtio_iommu_req_head) == WIRE_HEAD_SIZE, "head");
_Static_assert(sizeof(struct virtio_iommu_req_tail) == WIRE_TAIL_SIZE, "tail");
_Static_assert(sizeof(struct virtio_iommu_probe_resv_mem) == WIRE_RESV_MEM_SIZE,
               "resv_mem");
_Static_assert(sizeof(struct virtio_iommu_req_probe) == WIRE_MAX_REQUEST,
               "probe is the largest request");

static bool any_nonzero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != 0) {
            return true;
        }
    }
    return false;
}

/* Readable size of a request: its struct without the tail. */
#define READABLE(type) (sizeof(type) - sizeof(struct virtio_iommu_req_tail))

int wire_decode_request(const uint8_t *buf, size_t len, struct request *r)
{
    struct virtio_iommu_req_attach attach;
    struct virtio_iommu_req_detach detach;
    struct virtio_iommu_req_map map;
    struct virtio_iommu_req_unmap unmap;
    struct virtio_iommu_req_probe probe;

    memset(r, 0, sizeof(*r));
    r->type = buf[0];
    switch (r->type) {
    case VIRTIO_IOMMU_T_ATTACH:
        if (len < READABLE(attach)) {
            return -EINVAL;
        }
        memcpy(&attach, buf, READABLE(attach));
        r->domain = le32toh(attach.domain);
        r->endpoint = le32toh(attach.endpoint);
        r->flags = le32toh(attach.flags);
        r->reserved_nonzero =
            any_nonzero(attach.reserved, sizeof(attach.reserved));
        return 0;
    case VIRTIO_IOMMU_T_DETACH:
        if (len < READABLE(detach)) {
            return -EINVAL;
        }
        memcpy(&detach, buf, READABLE(detach));
        r->domain = le32toh(detach.domain);
        r->endpoint = le32toh(detach.endpoint);
        r->reserved_nonzero =
            any_nonzero(detach.reserved, sizeof(detach.reserved));
        return 0;
    case VIRTIO_IOMMU_T_MAP:
        if (len < READABLE(map)) {
            return -EINVAL;
        }
        memcpy(&map, buf, READABLE(map));
        r->domain = le32toh(map.domain);
        r->virt_start = le64toh(map.virt_start);
        r->virt_end = le64toh(map.virt_end);
        r->phys_start = le64toh(map.phys_start);
        r->flags = le32toh(map.flags);
        return 0;
    case VIRTIO_IOMMU_T_UNMAP:
        if (len < READABLE(unmap)) {
            return -EINVAL;
        }
        memcpy(&unmap, buf, READABLE(unmap));
        r->domain = le32toh(unmap.domain);
        r->virt_start = le64toh(unmap.virt_start);
        r->virt_end = le64toh(unmap.virt_end);
        r->reserved_nonzero =
            any_nonzero(unmap.reserved, sizeof(unmap.reserved));
        return 0;
    case VIRTIO_IOMMU_T_PROBE:
        if (len < sizeof(probe)) {
            return -EINVAL;
        }
        memcpy(&probe, buf, sizeof(probe));
        r->endpoint = le32toh(probe.endpoint);
        r->reserved_nonzero =
            any_nonzero(probe.reserved, sizeof(probe.reserved));
        return 0;
    default:
        return -EOPNOTSUPP;
    }
}

uint8_t wire_status(int err)
{
    switch (err) {
    case 0:
        return VIRTIO_IOMMU_S_OK;
    case -EIO:
        return VIRTIO_IOMMU_S_IOERR;
    case -EOPNOTSUPP:
        return VIRTIO_IOMMU_S_UNSUPP;
    case -EINVAL:
        return VIRTIO_IOMMU_S_INVAL;
    case -ERANGE:
        return VIRTIO_IOMMU_S_RANGE;
    case -ENOENT:
        return VIRTIO_IOMMU_S_NOENT;
    case -EFAULT:
        return VIRTIO_IOMMU_S_FAULT;
    case -ENOMEM:
        return VIRTIO_IOMMU_S_NOMEM;
    default:
        return VIRTIO_IOMMU_S_DEVERR;
    }
}

void wire_encode_tail(uint8_t out[WIRE_TAIL_SIZE], int err)
{
    struct virtio_iommu_req_tail tail = {.status = wire_status(err)};

    memcpy(out, &tail, sizeof(tail));
}

void wire_encode_resv_mem(uint8_t out[WIRE_RESV_MEM_SIZE],
                          const struct viommu_resv_region *r)
{
    struct virtio_iommu_probe_resv_mem prop = {
        .head.type = htole16(VIRTIO_IOMMU_PROBE_T_RESV_MEM),
        /* R39: the length excludes the property header. */
        .head.length = htole16(sizeof(prop) - sizeof(prop.head)),
        .subtype = r->type == VIOMMU_RESV_MSI
                       ? VIRTIO_IOMMU_RESV_MEM_T_MSI
                       : VIRTIO_IOMMU_RESV_MEM_T_RESERVED,
        .start = htole64(r->start),
        .end = htole64(r->end),
    };

    memcpy(out, &prop, sizeof(prop));
}

size_t wire_fault_size(void)
{
    return sizeof(struct virtio_iommu_fault);
}

void wire_encode_fault(uint8_t *out, const struct fault *f)
{
    struct virtio_iommu_fault ev = {
        .reason = f->reason,
        .flags = htole32(f->flags),
        .endpoint = htole32(f->endpoint),
        .address = htole64(f->address),
    };

    memcpy(out, &ev, sizeof(ev));
}

size_t wire_config_size(void)
{
    return sizeof(struct virtio_iommu_config);
}

uint32_t wire_config_bypass_offset(void)
{
    return offsetof(struct virtio_iommu_config, bypass);
}

void wire_encode_config(const struct viommu *v, uint8_t *out)
{
    struct virtio_iommu_config c = {
        .page_size_mask = htole64(v->cfg.page_size_mask),
        .input_range.start = htole64(v->cfg.input_start),
        .input_range.end = htole64(v->cfg.input_end),
        .domain_range.start = htole32(v->cfg.domain_start),
        .domain_range.end = htole32(v->cfg.domain_end),
        .probe_size = htole32(v->cfg.no_probe ? 0 : v->cfg.probe_size),
        .bypass = v->bypass,
    };

    memcpy(out, &c, sizeof(c));
}
