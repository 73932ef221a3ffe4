/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The state of a device: the types every module of the core shares. No
 * functions live here but the two below.
 */
#ifndef VIOMMU_STATE_H
#define VIOMMU_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "viommu/viommu.h"

#include "idtable.h"
#include "mapstore.h"

/* Recent translations of emulated DMA, direct-mapped by endpoint and page. */
#define IOTLB_SLOTS 256
struct iotlb_entry {
    uint64_t start; /* start > last: empty */
    uint64_t last;
    uint64_t gpa; /* translation of start */
    uint32_t endpoint;
    uint32_t flags; /* VIOMMU_XLATE_* */
};
struct iotlb {
    uint32_t used; /* slots not empty */
    struct iotlb_entry e[IOTLB_SLOTS];
};

struct domain;

/* A host IOMMU context, shared by the endpoints declared with it. */
struct hostctx {
    const struct viommu_host_ops *key; /* the embedder's table */
    struct viommu_host_ops ops;        /* its copy */
    void *opaque;
    uint32_t nr_endpoints; /* declared endpoints using it */
    struct hostctx *next;
};

/* Mappings of a domain pushed into a context as one host mapping. */
struct hostrun {
    uint64_t start, end, phys;
    uint32_t flags;
};

/* A host context serving a domain. The first of its endpoints to enter the
 * domain replays the domain's mappings into it, the last one to leave takes
 * them out; the link itself lives as long as the domain. */
struct hostlink {
    struct hostctx *ctx;
    uint32_t users; /* endpoints of ctx attached to the domain */
    void *table;    /* the domain's table in ctx (ops.table_new), or NULL */
    /* Runs of two or more mappings coalesced by the replay, sorted. */
    struct hostrun *runs;
    size_t nr_runs, cap_runs;
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
    struct iotlb iotlb;
    unsigned busy; /* inside an embedder callback: queries only */
};

static inline bool viommu_has(const struct viommu *v, unsigned feature)
{
    return (v->accepted >> feature) & 1;
}

/*
 * Runs `call`, an embedder callback. Until it returns, the handle serves
 * queries only: the other public functions refuse with -EBUSY.
 */
#define CALLBACK(v, call)                                                      \
    do {                                                                       \
        struct viommu *cb_v_ = (struct viommu *)(v);                           \
        cb_v_->busy++;                                                         \
        call;                                                                  \
        cb_v_->busy--;                                                         \
    } while (0)

#endif
