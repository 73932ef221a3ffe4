/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A world for lifecycle scenarios: one device, the VMM's host contexts
 * (hostsim), the endpoints the VMM declared with them, and a Linux guest
 * driving the device (linux.h). world_check() asserts, after every step,
 * that the host contexts hold exactly what the device's domains say and
 * that the guest's view of endpoints, domains and mappings is the device's.
 */
#ifndef VIOMMU_TESTS_SCENARIO_WORLD_H
#define VIOMMU_TESTS_SCENARIO_WORLD_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <linux/virtio_iommu.h>

#include "driver.h"
#include "hostsim.h"
#include "linux.h"

#define WORLD_MAX_HOSTS 8
#define WORLD_MAX_ENDPOINTS 64
#define OK VIRTIO_IOMMU_S_OK
#define RW (VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE)

struct world {
    struct viommu *v;
    struct lnx guest;
    struct hostsim hosts[WORLD_MAX_HOSTS];
    struct hostsim_faults faults; /* shared by every host */
    struct hostsim_binding bindings[WORLD_MAX_ENDPOINTS];
    size_t nr_bindings;
    /* endpoint_removed notifications, in order */
    uint32_t removed[WORLD_MAX_ENDPOINTS];
    int removed_err[WORLD_MAX_ENDPOINTS];
    size_t nr_removed;
    /* false once a failed request left the guest's view behind on
     * purpose (fault injection): only the host invariant is checked. */
    bool guest_view_checked;
};

/* A device with default config, WORLD_MAX_HOSTS host contexts ("host0"...)
 * without constraints, and a guest of the given release behaviour with DMA
 * default domains. */
struct world *world_new(enum lnx_release release);
void world_free(struct world *w);

/* Declares endpoint id with host context h (NULL: emulated) and the rest
 * of *tmpl (may be NULL); returns viommu_endpoint_add's result. */
int world_add(struct world *w, uint32_t id, struct hostsim *h,
              const struct viommu_endpoint_config *tmpl);
/* The VMM enables or disables a PF's VFs, all behind host context h. */
int world_add_vfs(struct world *w, const struct viommu_sriov *s,
                  struct hostsim *h);
int world_remove_vfs(struct world *w, const struct viommu_sriov *s);
/* The VMM removes an endpoint (after the guest released it, or not). */
int world_remove(struct world *w, uint32_t id);
/* Forgets the bindings of endpoints the device no longer has. */
void world_forget_removed(struct world *w);

/* Asserts the invariants; see above. */
void world_check(struct world *w);

/* Number of mappings of a domain in the device, -1 if it does not exist. */
long world_domain_mappings(struct world *w, uint32_t domain);
/* Domain of an endpoint in the device, -1 when not attached. */
long world_endpoint_domain(struct world *w, uint32_t ep);

/* Runs a guest step, asserts its status, then the invariants. */
#define STEP(w, expected, call)                                                \
    do {                                                                       \
        uint8_t status_ = (call);                                              \
        if (status_ != (expected)) {                                           \
            fail_msg("%s: %s, expected %s", #call, vdrv_status_name(status_),  \
                     vdrv_status_name(expected));                              \
        }                                                                      \
        world_check(w);                                                        \
    } while (0)

#endif
