/* SPDX-License-Identifier: BSD-3-Clause */
/* The wire format: the only code that knows the structs of
 * linux/virtio_iommu.h. */
#ifndef VIOMMU_WIRE_H
#define VIOMMU_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "state.h"

/* A request as decoded from the guest's little-endian bytes. */
struct request {
    uint8_t type;
    bool reserved_nonzero; /* body reserved bytes (head ones are ignored) */
    uint32_t domain;
    uint32_t endpoint;
    uint32_t flags;
    uint64_t virt_start;
    uint64_t virt_end;
    uint64_t phys_start;
};

#define WIRE_HEAD_SIZE 4u
#define WIRE_TAIL_SIZE 4u
#define WIRE_RESV_MEM_SIZE 24u
#define WIRE_MAX_REQUEST 72u /* readable bytes of the largest request */
/* Decodes the readable bytes of a request. -EOPNOTSUPP for an unknown type,
 * -EINVAL when the body is too short. */
int wire_decode_request(const uint8_t *buf, size_t len, struct request *r);
uint8_t wire_status(int err);
void wire_encode_tail(uint8_t out[WIRE_TAIL_SIZE], int err);
void wire_encode_resv_mem(uint8_t out[WIRE_RESV_MEM_SIZE],
                          const struct viommu_resv_region *r);
size_t wire_fault_size(void);
void wire_encode_fault(uint8_t *out, const struct fault *f);
size_t wire_config_size(void);
void wire_encode_config(const struct viommu *v, uint8_t *out);
uint32_t wire_config_bypass_offset(void);

#endif
