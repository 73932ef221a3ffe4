/* SPDX-License-Identifier: BSD-3-Clause */
/* Declaring ranges of endpoints, for the command line and the control
 * socket alike. */
#ifndef VIOMMU_DAEMON_ENDPOINTS_H
#define VIOMMU_DAEMON_ENDPOINTS_H

#include <stdint.h>

#include <viommu/viommu.h>

/* Most endpoints one range declares: every requester ID of a segment. */
#define ENDPOINTS_MAX_RANGE 65536u

/*
 * Declares endpoints first..last, each as *tmpl with its own ID. All or
 * nothing: -E2BIG for more than ENDPOINTS_MAX_RANGE, -EEXIST if one is
 * declared already, else the first error of
 * viommu_endpoint_add() after undoing the others (with
 * viommu_endpoint_remove(), whose notifications the caller may mute).
 */
int endpoints_add_range(struct viommu *v, uint32_t first, uint32_t last,
                        const struct viommu_endpoint_config *tmpl);

#endif
