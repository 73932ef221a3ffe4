/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Translation of DMA from endpoints the VMM emulates, and the fault reports
 * that refused accesses leave for the event queue (R11, R29, R47-R52).
 */
#include <errno.h>

#include <linux/virtio_iommu.h>

#include "internal.h"

_Static_assert(VIOMMU_ACCESS_READ == VIRTIO_IOMMU_FAULT_F_READ &&
                   VIOMMU_ACCESS_WRITE == VIRTIO_IOMMU_FAULT_F_WRITE,
               "access kinds are reported as fault flags");

static int fault(struct viommu *v, uint8_t reason, uint32_t access,
                 uint32_t endpoint, uint64_t iova)
{
    uint32_t cap = v->cfg.max_pending_faults;

    vlog(v, VIOMMU_LOG_INFO, VIOMMU_LOG_SOURCE_GUEST,
         "fault: endpoint %u %s at %#llx, reason %u", endpoint,
         access & VIOMMU_ACCESS_WRITE ? "write" : "read",
         (unsigned long long)iova, reason);
    if (v->faults.count == cap) {
        v->faults.dropped++;
        return -EFAULT;
    }
    v->faults.ring[(v->faults.head + v->faults.count) % cap] = (struct fault){
        .reason = reason,
        /* R49: only defined flags; R51: the address is known, say so. */
        .flags = access | VIRTIO_IOMMU_FAULT_F_ADDRESS,
        .endpoint = endpoint, /* R50: a declared endpoint */
        .address = iova,
    };
    v->faults.count++;
    return -EFAULT;
}

static int identity(const struct endpoint *ep, uint64_t iova,
                    struct viommu_translation *t)
{
    /* Identity up to the next reserved region, which is not bypassed. */
    const struct viommu_resv_region *next = endpoint_resv_from(ep, iova);

    t->gpa = iova;
    t->iova_last = next != NULL ? next->start - 1 : UINT64_MAX;
    t->flags = VIOMMU_XLATE_READ | VIOMMU_XLATE_WRITE | VIOMMU_XLATE_BYPASS;
    return 0;
}

int viommu_translate(struct viommu *v, uint32_t id, uint64_t iova,
                     uint32_t access, struct viommu_translation *t)
{
    struct mapping m;

    if (v == NULL || t == NULL || access == 0 ||
        (access & ~(VIOMMU_ACCESS_READ | VIOMMU_ACCESS_WRITE)) != 0) {
        return -EINVAL;
    }
    const struct endpoint *ep = idtable_find(&v->endpoints, id);
    if (ep == NULL) {
        return -ENOENT;
    }
    const struct viommu_resv_region *resv = endpoint_resv_at(ep, iova);
    if (resv != NULL) {
        if (resv->type != VIOMMU_RESV_MSI) {
            return fault(v, VIRTIO_IOMMU_FAULT_R_MAPPING, access, id, iova);
        }
        t->gpa = iova;
        t->iova_last = resv->end;
        t->flags = VIOMMU_XLATE_READ | VIOMMU_XLATE_WRITE | VIOMMU_XLATE_MSI;
        return 0;
    }
    const struct domain *d = ep->domain;
    if (d == NULL) {
        /* R11: without a domain, only the global bypass lets DMA through,
         * and only while the driver has BYPASS_CONFIG (or has not yet
         * negotiated features: the firmware's time). */
        if (v->bypass && viommu_has(v, VIRTIO_IOMMU_F_BYPASS_CONFIG)) {
            return identity(ep, iova, t);
        }
        return fault(v, VIRTIO_IOMMU_FAULT_R_DOMAIN, access, id, iova);
    }
    if (d->bypass) {
        return identity(ep, iova, t);
    }
    if (!mapstore_find_first(&d->maps, iova, &m) || m.start > iova ||
        (access & ~m.flags) != 0) { /* R29 */
        return fault(v, VIRTIO_IOMMU_FAULT_R_MAPPING, access, id, iova);
    }
    t->gpa = m.phys + (iova - m.start);
    t->iova_last = m.end;
    t->flags = m.flags;
    return 0;
}

void faults_forget_endpoint(struct viommu *v, uint32_t endpoint)
{
    uint32_t cap = v->cfg.max_pending_faults;
    uint32_t kept = 0;

    for (uint32_t i = 0; i < v->faults.count; i++) {
        const struct fault *f = &v->faults.ring[(v->faults.head + i) % cap];
        if (f->endpoint != endpoint) {
            v->faults.ring[(v->faults.head + kept++) % cap] = *f;
        }
    }
    v->faults.count = kept;
}

void faults_clear(struct viommu *v)
{
    v->faults.head = 0;
    v->faults.count = 0;
}

size_t viommu_fault_size(void)
{
    return wire_fault_size();
}

int viommu_event_pop(struct viommu *v, const struct iovec *out,
                     unsigned int out_cnt, uint32_t *used_len)
{
    uint8_t buf[64];
    size_t size = wire_fault_size();

    if (v == NULL || used_len == NULL || (out == NULL && out_cnt != 0)) {
        return -EINVAL;
    }
    *used_len = 0;
    if (v->faults.count == 0) {
        return -EAGAIN;
    }
    if (iov_size(out, out_cnt) < size) {
        return -EMSGSIZE; /* R52: never split a report */
    }
    wire_encode_fault(buf, &v->faults.ring[v->faults.head]);
    iov_from_buf(out, out_cnt, 0, buf, size);
    v->faults.head = (v->faults.head + 1) % v->cfg.max_pending_faults;
    v->faults.count--;
    *used_len = (uint32_t)size;
    return 0;
}
