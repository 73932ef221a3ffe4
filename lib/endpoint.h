/* SPDX-License-Identifier: BSD-3-Clause */
/* Endpoints: declaration with host geometry, removal as DETACH would. */
#ifndef VIOMMU_ENDPOINT_H
#define VIOMMU_ENDPOINT_H

#include "state.h"

/*
 * Declares n endpoints as *tmpl (this library's version of the struct),
 * the i-th with ID id_of(ctx, i). All or nothing: -EEXIST when one is
 * declared already, else the first error of a declaration, none declared.
 */
int endpoints_add_each(struct viommu *v,
                       const struct viommu_endpoint_config *tmpl, uint32_t n,
                       uint32_t (*id_of)(const void *ctx, uint32_t i),
                       const void *ctx);
/* Removes ep as viommu_endpoint_remove() does, without telling the
 * embedder; the first host error goes to *host_err when it is 0. */
void endpoint_free(struct viommu *v, struct endpoint *ep, int *host_err);
/* The same for an endpoint never attached, whose translations nobody can
 * hold: nothing is invalidated. */
void endpoint_destroy(struct viommu *v, struct endpoint *ep);
void endpoints_free_all(struct viommu *v);

#endif
