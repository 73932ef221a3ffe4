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

/* A host IOMMU context, shared by the endpoints declared with it. */
struct hostctx {
    const struct viommu_host_ops *ops;
    void *opaque;
    uint32_t nr_endpoints; /* declared endpoints using it */
    struct hostctx *next;
};

/* A host context serving a domain. The first of its endpoints to enter the
 * domain replays the domain's mappings into it, the last one to leave takes
 * them out; the link itself lives as long as the domain. */
struct hostlink {
    struct hostctx *ctx;
    uint32_t users; /* endpoints of ctx attached to the domain */
    struct hostlink *next;
};

/*
 * Endpoints that the host cannot isolate from each other. Every endpoint
 * has one: a declared host group (or alias) is shared, else the endpoint is
 * alone in its own.
 */
struct group {
    uint64_t key; /* GROUP_KEY_*; 0 for an endpoint alone */
    struct endpoint *members;
    /* Union of the members' regions: sorted, non-overlapping, at most one
     * VIOMMU_RESV_MSI. What PROBE reports and MAP, ATTACH and translation
     * enforce for every member. */
    struct viommu_resv_region *resv;
    uint32_t nr_resv;
    struct group *next;
};

struct endpoint {
    uint32_t id; /* first: idtable key */
    struct domain *domain;
    struct endpoint *next_in_domain;
    struct group *group;
    struct endpoint *next_in_group;
    struct hostctx *host; /* NULL: emulated */
    /* Its own regions, normalized as the group's are. */
    struct viommu_resv_region *own;
    uint32_t nr_own;
};

struct domain {
    uint32_t id; /* first: idtable key */
    bool bypass;
    struct endpoint *endpoints;
    struct hostlink *links;
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
    struct hostctx *hostctxs;
    struct group *groups; /* shared groups only */
    uint64_t host_errors;
    int last_host_err; /* errno of the last host error counted */
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
/* Detaches ep from its domain, host context included whatever it answers,
 * destroying the domain if left empty. */
void endpoint_detach_forced(struct viommu *v, struct endpoint *ep);

/* map.c: MAP, UNMAP. */
int req_map(struct viommu *v, const struct request *r);
int req_unmap(struct viommu *v, const struct request *r);

/* regions.c: lists of reserved regions. */
/* Sorts and merges the RESERVED regions list[0..nr), cuts them around msi
 * (if not NULL) and adds msi. list has room for nr + 2. Returns the new
 * count. */
size_t regions_normalize(struct viommu_resv_region *list, size_t nr,
                         const struct viommu_resv_region *msi);
/* Appends to list the parts of [lo, hi] that no usable range covers, as
 * RESERVED regions (at most nr_usable + 1; none when nr_usable is 0, which
 * means no constraint). -EINVAL for an inverted range. */
int regions_add_holes(struct viommu_resv_region *list, size_t *nr,
                      const struct viommu_iova_range *usable,
                      uint32_t nr_usable, uint64_t lo, uint64_t hi);
/* The MSI region of a normalized list, or NULL. */
const struct viommu_resv_region *
regions_msi(const struct viommu_resv_region *list, uint32_t nr);
/* The first region of a normalized list that ends at or after addr. */
const struct viommu_resv_region *
regions_from(const struct viommu_resv_region *list, uint32_t nr, uint64_t addr);

/* group.c: groups of endpoints the host cannot isolate. */
/* Puts ep (with its own regions set) into the group of key, or alone.
 * -EINVAL when it does not match the group's host context or MSI region,
 * -ENOSPC when the union outgrows probe_size, -ENOMEM; no change then. */
int group_join(struct viommu *v, struct endpoint *ep, uint64_t key);
void group_leave(struct viommu *v, struct endpoint *ep);
/* True if attaching ep to domain id would put two members of its group in
 * different domains. */
bool group_would_split(const struct endpoint *ep, uint32_t domain);

/* endpoint.c: endpoint properties and PROBE. */
int req_probe(struct viommu *v, const struct request *r,
              const struct iovec *out, unsigned out_cnt, size_t props_len);
void endpoints_free_all(struct viommu *v);
/* The endpoint's (group's) first region that ends at or after addr. */
const struct viommu_resv_region *endpoint_resv_from(const struct endpoint *ep,
                                                    uint64_t addr);
/* The endpoint's reserved region containing iova, or NULL. */
const struct viommu_resv_region *endpoint_resv_at(const struct endpoint *ep,
                                                  uint64_t iova);
bool endpoint_resv_overlaps(const struct endpoint *ep, uint64_t start,
                            uint64_t end);

/* host.c: host contexts. Errors returned are already statuses' errnos. */
int hostctx_get(struct viommu *v, const struct viommu_host_ops *ops,
                void *opaque, struct hostctx **out);
void hostctx_put(struct viommu *v, struct hostctx *c);
/* Moves ep's host context from ep->domain (or none) into `to`. All or
 * nothing; the caller then updates the device's state. */
int host_enter(struct viommu *v, struct endpoint *ep, struct domain *to);
/* Takes ep's host context out of ep->domain. forced: goes on through host
 * errors (counted in host_errors), else all or nothing. */
int host_leave(struct viommu *v, struct endpoint *ep, bool forced);
/* Pushes a new mapping of d into every context serving d; all or nothing. */
int host_map(struct viommu *v, struct domain *d, const struct mapping *m);
/* Takes the mappings of d inside [start, end] out of every context serving
 * d; all or nothing. */
int host_unmap_range(struct viommu *v, struct domain *d, uint64_t start,
                     uint64_t end);
/* Frees the links of a domain that no endpoint uses any more. */
void host_links_free(struct domain *d);

/* translate.c */
void faults_clear(struct viommu *v);
/* Drops the pending reports of a removed endpoint: a report must name an
 * endpoint that exists (R50). */
void faults_forget_endpoint(struct viommu *v, uint32_t endpoint);

#endif
