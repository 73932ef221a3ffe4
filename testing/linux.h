/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A model of the Linux virtio-iommu driver (drivers/iommu/virtio-iommu.c)
 * and of the parts of the IOMMU core and VFIO that decide which requests it
 * sends, as ../shared/spec/conformance.md describes them:
 *  - PROBE once when an endpoint appears; a non-OK status fails the device;
 *  - a default domain per endpoint, DMA (translated) or identity (ATTACH
 *    with BYPASS when BYPASS_CONFIG is offered, else identity MAPs over the
 *    input range minus the reserved regions);
 *  - domain IDs from an allocator over domain_range handing out the lowest
 *    free ID when the domain is first attached, freed with the domain;
 *  - ATTACH to a new domain without a DETACH first;
 *  - MAPs of a domain without endpoints kept in the driver and replayed to
 *    the domain's FIRST endpoint only;
 *  - release of an endpoint with DETACH (v6.5 and later) or without it
 *    (before v6.5, 6.1.y before 6.1.39); freeing a domain sends nothing;
 *  - a VFIO user: allocate a domain, move the endpoint there, map; on close
 *    unmap everything, move back to the default domain, free the domain.
 * Requests are the bytes a real guest puts on the queue (driver.h).
 */
#ifndef VIOMMU_TESTING_LINUX_H
#define VIOMMU_TESTING_LINUX_H

#include <stdbool.h>
#include <stdint.h>

#include <viommu/viommu.h>

#include "driver.h"

#define LNX_MAX_DOMAINS 64
#define LNX_MAX_MAPS 512
#define LNX_MAX_ENDPOINTS 64
#define LNX_MAX_RESV 32

enum lnx_release {
    LNX_RELEASE_NO_DETACH, /* before v6.5 */
    LNX_RELEASE_DETACH,    /* v6.5 and later */
};

enum lnx_default {
    LNX_DEFAULT_DMA,      /* iommu.passthrough=0 */
    LNX_DEFAULT_IDENTITY, /* iommu.passthrough=1 */
};

struct lnx_map {
    uint64_t iova, last, gpa;
    uint32_t prot;
};

struct lnx_domain {
    bool allocated;
    bool finalised; /* has an ID: attached at least once */
    bool identity;
    bool bypass; /* identity through ATTACH_F_BYPASS */
    uint32_t id;
    unsigned nr_endpoints;
    struct lnx_map maps[LNX_MAX_MAPS];
    unsigned nr_maps;
};

struct lnx_endpoint {
    bool present;
    uint32_t id;
    int domain;         /* index into domains, -1: none */
    int default_domain; /* index, -1: none */
    struct viommu_resv_region resv[LNX_MAX_RESV];
    int nr_resv;
};

struct lnx {
    struct vdrv drv;
    enum lnx_release release;
    enum lnx_default def;
    uint64_t page_size_mask;
    uint64_t input_start, input_end;
    uint32_t domain_start, domain_end;
    bool bypass_config;
    bool failed; /* a PROBE failed: the device is unusable */
    struct lnx_domain domains[LNX_MAX_DOMAINS];
    struct lnx_endpoint endpoints[LNX_MAX_ENDPOINTS];
    unsigned requests; /* sent so far */
};

/* Binds the driver to the device: reads the config space and negotiates the
 * features Linux accepts. Returns false if Linux would refuse the device. */
bool lnx_init(struct lnx *l, const struct vdrv *drv, enum lnx_release release,
              enum lnx_default def);

/*
 * An endpoint appears (boot, hot-plug, VF enable): PROBE, then its default
 * domain. Returns the first non-OK status (VIRTIO_IOMMU_S_OK if none);
 * a failed PROBE marks the driver failed.
 */
uint8_t lnx_endpoint_appear(struct lnx *l, uint32_t ep);
/* The same for an endpoint that the guest puts into the IOMMU group (and
 * so the default domain) of another: group_domain is that domain. */
uint8_t lnx_endpoint_appear_in(struct lnx *l, uint32_t ep, int group_domain);
/* An endpoint goes away (hot-unplug, VF disable): release as the kernel
 * version does, then free its default domain if no endpoint is left in it. */
uint8_t lnx_endpoint_release(struct lnx *l, uint32_t ep);

/* Domain life. lnx_domain_alloc returns an index (-1 when full). */
int lnx_domain_alloc(struct lnx *l, bool identity);
uint8_t lnx_attach(struct lnx *l, int domain, uint32_t ep);
uint8_t lnx_map(struct lnx *l, int domain, uint64_t iova, uint64_t size,
                uint64_t gpa, uint32_t prot);
uint8_t lnx_unmap(struct lnx *l, int domain, uint64_t iova, uint64_t size);
void lnx_domain_free(struct lnx *l, int domain);

/* A VFIO user of an endpoint (QEMU in the guest, DPDK): opens a domain and
 * moves the endpoint into it; closing unmaps, moves back, frees. */
uint8_t lnx_vfio_open(struct lnx *l, uint32_t ep, int *domain);
uint8_t lnx_vfio_close(struct lnx *l, uint32_t ep, int domain);

/* The guest's view, for assertions. */
const struct lnx_endpoint *lnx_endpoint(const struct lnx *l, uint32_t ep);
/* ID of a domain index, which must be finalised. */
uint32_t lnx_domain_id(const struct lnx *l, int domain);

#endif
