/* SPDX-License-Identifier: BSD-3-Clause */
/* State of a device, shared by the files of the core. */
#ifndef VIOMMU_INTERNAL_H
#define VIOMMU_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "viommu/viommu.h"

#include "idtable.h"
#include "mapstore.h"

struct domain;

struct endpoint {
    uint32_t id; /* first: idtable key */
    struct domain *domain;
    struct endpoint *next_in_domain;
    /* Sorted, non-overlapping, at most one VIOMMU_RESV_MSI. */
    struct viommu_resv_region *resv;
    uint32_t nr_resv;
};

struct domain {
    uint32_t id; /* first: idtable key */
    bool bypass;
    struct endpoint *endpoints;
    struct mapstore maps;
};

/* A fault report, decoded. */
struct fault {
    uint8_t reason;
    uint32_t flags;
    uint32_t endpoint;
    uint64_t address;
};

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

struct ratelimit {
    struct timespec window_start;
    unsigned printed;
    unsigned suppressed;
};

struct viommu {
    struct viommu_config cfg; /* defaults filled in */
    uint64_t granule;
    uint64_t offered;
    uint64_t accepted;
    uint8_t bypass;
    struct idtable endpoints;
    struct idtable domains;
    uint64_t nr_mappings;
    struct {
        struct fault *ring;
        uint32_t head;
        uint32_t count;
        uint64_t dropped;
    } faults;
    struct ratelimit guest_rl;
};

static inline bool viommu_has(const struct viommu *v, unsigned feature)
{
    return (v->accepted >> feature) & 1;
}

/* device.c */
/*
 * Copies a struct that starts with its own uint32_t size, whether the
 * caller's version of it is older (shorter: missing fields read as zero) or
 * newer (longer: accepted only if the fields unknown here are zero).
 */
int copy_versioned(void *dst, size_t dst_size, const void *src,
                   uint32_t src_size);

/* log.c */
void vlog(struct viommu *v, enum viommu_log_level level,
          enum viommu_log_source source, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* iov.c: byte copies between flat buffers and iovec arrays. */
size_t iov_size(const struct iovec *iov, unsigned cnt);
size_t iov_to_buf(const struct iovec *iov, unsigned cnt, size_t offset,
                  void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned cnt, size_t offset,
                    const void *buf, size_t len);
void iov_memset(const struct iovec *iov, unsigned cnt, size_t offset, int c,
                size_t len);

/* wire.c: the only code that knows the wire structs. */
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

/* domain.c: ATTACH, DETACH, domains. */
int req_attach(struct viommu *v, const struct request *r);
int req_detach(struct viommu *v, const struct request *r);
/* Detaches ep from its domain, destroying the domain if left empty. */
void endpoint_detach(struct viommu *v, struct endpoint *ep);
void domains_destroy_all(struct viommu *v);

/* map.c: MAP, UNMAP. */
int req_map(struct viommu *v, const struct request *r);
int req_unmap(struct viommu *v, const struct request *r);

/* endpoint.c: endpoint properties and PROBE. */
/* Writes the PROBE properties of the endpoint into props (zeroed, at least
 * probe_size long). */
int req_probe(struct viommu *v, const struct request *r,
              const struct iovec *out, unsigned out_cnt, size_t props_len);
void endpoints_free_all(struct viommu *v);
/* The endpoint's first reserved region that ends at or after addr. */
const struct viommu_resv_region *endpoint_resv_from(const struct endpoint *ep,
                                                    uint64_t addr);
/* The endpoint's reserved region containing iova, or NULL. */
const struct viommu_resv_region *endpoint_resv_at(const struct endpoint *ep,
                                                  uint64_t iova);
bool endpoint_resv_overlaps(const struct endpoint *ep, uint64_t start,
                            uint64_t end);

/* translate.c */
void faults_clear(struct viommu *v);
/* Drops the pending reports of a removed endpoint: a report must name an
 * endpoint that exists (R50). */
void faults_forget_endpoint(struct viommu *v, uint32_t endpoint);

#endif
