/* SPDX-License-Identifier: BSD-3-Clause */
/* Fault reports waiting for the event queue (R48-R52). */
#include <errno.h>

#include "faults.h"
#include "iov.h"
#include "wire.h"

void faults_push(struct viommu *v, const struct fault *f)
{
    uint32_t cap = v->cfg.max_pending_faults;

    if (v->faults.count == cap) {
        v->faults.dropped++;
        return;
    }
    v->faults.ring[(v->faults.head + v->faults.count) % cap] = *f;
    v->faults.count++;
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

bool viommu_event_pending(const struct viommu *v)
{
    return v != NULL && v->faults.count > 0;
}

int viommu_event_pop(struct viommu *v, const struct iovec *resp,
                     unsigned int resp_cnt, uint32_t *used_len)
{
    uint8_t buf[64];
    size_t size = wire_fault_size();

    if (v == NULL || used_len == NULL || (resp == NULL && resp_cnt != 0)) {
        return -EINVAL;
    }
    if (v->busy) {
        return -EBUSY;
    }
    *used_len = 0;
    if (v->faults.count == 0) {
        return -EAGAIN;
    }
    if (iov_size(resp, resp_cnt) < size) {
        return -EMSGSIZE; /* R52: never split a report */
    }
    wire_encode_fault(buf, &v->faults.ring[v->faults.head]);
    iov_from_buf(resp, resp_cnt, 0, buf, size);
    v->faults.head = (v->faults.head + 1) % v->cfg.max_pending_faults;
    v->faults.count--;
    *used_len = (uint32_t)size;
    return 0;
}
