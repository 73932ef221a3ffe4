/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Translation of DMA from endpoints the VMM emulates, and the fault reports
 * that refused accesses leave for the event queue (R11, R29, R47-R52). A
 * small cache keeps the translations of hot pages; iotlb.c drops them at
 * every change that can make one wrong.
 */
#include <errno.h>

#include <linux/virtio_iommu.h>

#include "abi.h"
#include "faults.h"
#include "group.h"
#include "iotlb.h"
#include "log.h"
#include "translate.h"

_Static_assert(VIOMMU_ACCESS_READ == VIRTIO_IOMMU_FAULT_F_READ &&
                   VIOMMU_ACCESS_WRITE == VIRTIO_IOMMU_FAULT_F_WRITE,
               "access kinds are reported as fault flags");

#define ACCESS_RW (VIOMMU_ACCESS_READ | VIOMMU_ACCESS_WRITE)

static int fault(struct viommu *v, uint8_t reason, uint32_t access,
                 uint32_t endpoint, uint64_t iova)
{
    if (access & VIOMMU_ACCESS_NO_REPORT) {
        return -EFAULT;
    }
    vlog(v, VIOMMU_LOG_INFO, VIOMMU_LOG_SOURCE_GUEST,
         "fault: endpoint %u %s at %#llx, reason %u", endpoint,
         access & VIOMMU_ACCESS_WRITE ? "write" : "read",
         (unsigned long long)iova, reason);
    faults_push(
        v, &(struct fault){
               .reason = reason,
               /* R49: only defined flags; R51: the address is
                * known, say so. */
               .flags = (access & ACCESS_RW) | VIRTIO_IOMMU_FAULT_F_ADDRESS,
               .endpoint = endpoint, /* R50: a declared endpoint */
               .address = iova,
           });
    return -EFAULT;
}

/* Identity up to the next reserved region, which is not bypassed. */
static int identity(const struct endpoint *ep, uint64_t iova,
                    struct iotlb_entry *out)
{
    const struct viommu_resv_region *next = endpoint_resv_from(ep, iova);

    out->start = iova;
    out->gpa = iova;
    out->last = next != NULL ? next->start - 1 : UINT64_MAX;
    out->flags = VIOMMU_XLATE_READ | VIOMMU_XLATE_WRITE | VIOMMU_XLATE_BYPASS;
    return 0;
}

int translate_uncached(struct viommu *v, uint32_t id, uint64_t iova,
                       uint32_t access, struct iotlb_entry *out)
{
    struct mapping m;

    const struct endpoint *ep = idtable_find(&v->endpoints, id);
    if (ep == NULL) {
        return -ENOENT;
    }
    const struct viommu_resv_region *resv = endpoint_resv_at(ep, iova);
    if (resv != NULL) {
        if (resv->type != VIOMMU_RESV_MSI) {
            return fault(v, VIRTIO_IOMMU_FAULT_R_MAPPING, access, id, iova);
        }
        out->start = resv->start;
        out->gpa = resv->start;
        out->last = resv->end;
        out->flags = VIOMMU_XLATE_READ | VIOMMU_XLATE_WRITE | VIOMMU_XLATE_MSI;
        return 0;
    }
    const struct domain *d = ep->domain;
    if (d == NULL) {
        if (viommu_bypass_effective(v)) { /* R11 */
            return identity(ep, iova, out);
        }
        return fault(v, VIRTIO_IOMMU_FAULT_R_DOMAIN, access, id, iova);
    }
    if (d->bypass) {
        return identity(ep, iova, out);
    }
    if (!mapstore_find_first(&d->maps, iova, &m) || m.start > iova ||
        (access & ACCESS_RW & ~m.flags) != 0) { /* R29 */
        return fault(v, VIRTIO_IOMMU_FAULT_R_MAPPING, access, id, iova);
    }
    out->start = m.start;
    out->gpa = m.phys;
    out->last = m.end;
    out->flags = m.flags;
    return 0;
}

int viommu_translate(struct viommu *v, uint32_t id, uint64_t iova,
                     uint32_t access, struct viommu_translation *t)
{
    struct iotlb_entry e;

    if (v == NULL || t == NULL || (access & ACCESS_RW) == 0 ||
        (access & ~(ACCESS_RW | VIOMMU_ACCESS_NO_REPORT)) != 0) {
        return -EINVAL;
    }
    if (v->busy) {
        return -EBUSY;
    }
    const struct iotlb_entry *hit = iotlb_lookup(&v->iotlb, id, iova);
    if (hit != NULL && (access & ACCESS_RW & ~hit->flags) == 0) {
        e = *hit;
    } else {
        int err = translate_uncached(v, id, iova, access, &e);
        if (err != 0) {
            return err;
        }
        iotlb_insert(&v->iotlb, id, iova, &e);
    }
    struct viommu_translation out = {
        .size = sizeof(out),
        .gpa = e.gpa + (iova - e.start),
        .iova_last = e.last,
        .flags = e.flags,
    };
    if (t->size == sizeof(out)) { /* the usual caller: no tail to mind */
        *t = out;
        return 0;
    }
    return fill_versioned(t, &out, sizeof(out),
                          ABI_FIRST_SIZE(struct viommu_translation));
}
