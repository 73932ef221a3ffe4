/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A host IOMMU context as the VMM's VFIO or iommufd backend would present
 * it to the library, kept in memory: it refuses what a real host refuses
 * (overlapping maps, IOVA outside its usable ranges, unmapping what it does
 * not hold), can be told to fail its k-th call, and can be compared with
 * what the device says it should hold.
 */
#ifndef VIOMMU_TESTING_HOSTSIM_H
#define VIOMMU_TESTING_HOSTSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <viommu/viommu.h>

#define HOSTSIM_MAX_ENDPOINTS 64

/* Failure injection shared by any number of contexts: the fail_at-th host
 * call (counting from 1, over all of them) returns err, and so does the
 * fail_also-th (to fail the undoing of the first failure, say). */
struct hostsim_faults {
    unsigned calls;
    unsigned fail_at;   /* 0: never */
    unsigned fail_also; /* a second failing call, 0: none */
    int err;
    bool fired;
};

struct hostsim_map {
    uint64_t iova, last, gpa;
    uint32_t flags;
};

struct hostsim {
    const char *name;
    /* Reported by the geometry op and enforced on map. */
    struct viommu_host_geometry geometry;
    struct hostsim_faults *faults; /* NULL: never fails */
    struct hostsim_map *maps;      /* sorted by iova */
    size_t nr_maps, cap_maps;
    struct {
        uint32_t id;
        bool identity;
    } attached[HOSTSIM_MAX_ENDPOINTS];
    size_t nr_attached;
    unsigned map_calls; /* map calls received, failed or not */
    /* A context with a table per guest domain, as iommufd's IOAS each:
     * set per_domain before declaring endpoints with it. Its tables are
     * hostsims of their own, listed here; a table knows its domain. */
    bool per_domain;
    struct hostsim *tables;
    /* A table: */
    struct hostsim *parent;
    struct hostsim *next_table;
    uint32_t domain;
};

/* hostsim_ops, or the ops with table_new/table_free when per_domain. */
extern const struct viommu_host_ops hostsim_ops;
extern const struct viommu_host_ops hostsim_table_ops;
const struct viommu_host_ops *hostsim_ops_of(const struct hostsim *h);

void hostsim_init(struct hostsim *h, const char *name);
void hostsim_destroy(struct hostsim *h);
/* Makes the context's usable IOVA space [0, 2^bits - 1] minus the x86 MSI
 * window, with 4 KiB, 2 MiB and 1 GiB pages, as VFIO reports for an
 * Intel IOMMU with that many address bits. */
void hostsim_set_address_bits(struct hostsim *h, unsigned bits);
/* Whether endpoint id is attached (to one of the tables of a per_domain
 * context), and how. */
bool hostsim_attached(const struct hostsim *h, uint32_t id, bool *identity);
/* Whether the context holds nothing: no mapping, no endpoint, no table. */
bool hostsim_empty(const struct hostsim *h);
/* Writes a readable account of the context into buf (its mappings with
 * neighbours contiguous in IOVA and gpa merged: what it translates). */
void hostsim_dump(const struct hostsim *h, char *buf, size_t len);

/* Which context the VMM declared an endpoint with (NULL: emulated). */
struct hostsim_binding {
    uint32_t endpoint;
    struct hostsim *host;
};

/*
 * The invariant: every context holds exactly the union of the mappings of
 * the domains its attached endpoints are in (a per_domain context: a table
 * for each such domain, holding its mappings, with its endpoints attached
 * there and nowhere else, and no other table), and has exactly those endpoints
 * attached, in identity mode for a bypass domain (mappings compared after
 * merging neighbours contiguous in IOVA and gpa: a replay pushes such a run
 * as one host mapping). `bindings` lists every
 * declared endpoint. Returns true, or false with the first difference
 * written into why.
 */
bool hostsim_check(struct viommu *v, const struct hostsim_binding *bindings,
                   size_t nr_bindings, struct hostsim *const *hosts,
                   size_t nr_hosts, char *why, size_t why_len);

#endif
