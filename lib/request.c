/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The request queue: copy the guest's readable bytes, decode them once,
 * dispatch, and answer through the single reply path below (R8-R10).
 */
#include <errno.h>

#include <linux/virtio_iommu.h>

#include "domain.h"
#include "iov.h"
#include "log.h"
#include "map.h"
#include "probe.h"
#include "wire.h"

static const char *const type_names[] = {
    [VIRTIO_IOMMU_T_ATTACH] = "ATTACH", [VIRTIO_IOMMU_T_DETACH] = "DETACH",
    [VIRTIO_IOMMU_T_MAP] = "MAP",       [VIRTIO_IOMMU_T_UNMAP] = "UNMAP",
    [VIRTIO_IOMMU_T_PROBE] = "PROBE",
};

static int dispatch(struct viommu *v, const struct request *r,
                    const struct iovec *resp, unsigned resp_cnt,
                    size_t props_len)
{
    switch (r->type) {
    case VIRTIO_IOMMU_T_ATTACH:
        return req_attach(v, r);
    case VIRTIO_IOMMU_T_DETACH:
        return req_detach(v, r);
    case VIRTIO_IOMMU_T_MAP:
        return req_map(v, r);
    case VIRTIO_IOMMU_T_UNMAP:
        return req_unmap(v, r);
    default:
        return req_probe(v, r, resp, resp_cnt, props_len);
    }
}

int viommu_handle_request(struct viommu *v, const struct iovec *req,
                          unsigned int req_cnt, const struct iovec *resp,
                          unsigned int resp_cnt, uint32_t *used_len)
{
    uint8_t buf[WIRE_MAX_REQUEST];
    uint8_t tail[WIRE_TAIL_SIZE];
    struct request r;

    if (v == NULL || used_len == NULL || (req == NULL && req_cnt != 0) ||
        (resp == NULL && resp_cnt != 0)) {
        return -EINVAL;
    }
    if (v->busy) {
        return -EBUSY;
    }
    *used_len = 0;

    size_t req_len = iov_size(req, req_cnt);
    size_t resp_len = iov_size(resp, resp_cnt);
    if (req_len < WIRE_HEAD_SIZE || resp_len < WIRE_TAIL_SIZE ||
        resp_len > VIOMMU_MAX_WRITABLE) {
        vlog(v, VIOMMU_LOG_WARN, VIOMMU_LOG_SOURCE_GUEST,
             "request dropped: %zu driver-written, %zu device-writable bytes",
             req_len, resp_len);
        return 0;
    }
    size_t n = iov_to_buf(req, req_cnt, 0, buf, sizeof(buf));
    int err = wire_decode_request(buf, n, &r);
    if (err == -EOPNOTSUPP) { /* R9 */
        vlog(v, VIOMMU_LOG_WARN, VIOMMU_LOG_SOURCE_GUEST,
             "request type %u unknown", r.type);
        return 0;
    }
    if (r.type == VIRTIO_IOMMU_T_PROBE &&
        !viommu_has(v, VIRTIO_IOMMU_F_PROBE)) {
        vlog(v, VIOMMU_LOG_WARN, VIOMMU_LOG_SOURCE_GUEST,
             "PROBE without the PROBE feature");
        return 0; /* R37 */
    }

    size_t props_len = resp_len - WIRE_TAIL_SIZE;
    iov_memset(resp, resp_cnt, 0, 0, props_len);
    if (err == 0) {
        err = dispatch(v, &r, resp, resp_cnt, props_len);
    }
    if (err != 0) {
        vlog(v, VIOMMU_LOG_INFO, VIOMMU_LOG_SOURCE_GUEST,
             "%s domain %u endpoint %u [%#llx-%#llx]: status %u",
             type_names[r.type], r.domain, r.endpoint,
             (unsigned long long)r.virt_start, (unsigned long long)r.virt_end,
             wire_status(err));
    }
    /* R10: the tail's reserved bytes are zero. */
    wire_encode_tail(tail, err);
    iov_from_buf(resp, resp_cnt, props_len, tail, sizeof(tail));
    *used_len = (uint32_t)resp_len;
    return 0;
}
