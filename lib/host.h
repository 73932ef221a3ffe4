/* SPDX-License-Identifier: BSD-3-Clause */
/* Host IOMMU contexts kept in step with the domains. Errors returned are
 * already the errnos of the statuses the guest gets. */
#ifndef VIOMMU_HOST_H
#define VIOMMU_HOST_H

#include "state.h"

int hostctx_get(struct viommu *v, const struct viommu_host_ops *ops,
                void *opaque, struct hostctx **out);
void hostctx_put(struct viommu *v, struct hostctx *c);
/* The context's geometry for endpoint ep (none when it has no geometry op),
 * as its geometry op fills it. */
int hostctx_geometry(struct viommu *v, const struct hostctx *c, uint32_t ep,
                     struct viommu_host_geometry *g);
/* Moves ep's host context from ep->domain (or none) into `to`. All or
 * nothing; the caller then updates the device's state. */
int host_enter(struct viommu *v, struct endpoint *ep, struct domain *to);
/* Takes ep's host context out of ep->domain. forced NULL: all or nothing;
 * else goes on through host errors (counted in host_errors), keeping the
 * first in *forced. */
int host_leave(struct viommu *v, struct endpoint *ep, int *forced);
/* Pushes a new mapping of d into every context serving d; all or nothing. */
int host_map(struct viommu *v, struct domain *d, const struct mapping *m);
/* Takes the mappings of d inside [start, end] out of every context serving
 * d; all or nothing. */
int host_unmap_range(struct viommu *v, struct domain *d, uint64_t start,
                     uint64_t end);
/* Frees the links of a domain that no endpoint uses any more. */
void host_links_free(struct domain *d);

#endif
