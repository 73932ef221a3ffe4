/* SPDX-License-Identifier: BSD-3-Clause */
/* Domains, ATTACH and DETACH. */
#ifndef VIOMMU_DOMAIN_H
#define VIOMMU_DOMAIN_H

#include "state.h"
#include "wire.h"

int req_attach(struct viommu *v, const struct request *r);
int req_detach(struct viommu *v, const struct request *r);
/* Detaches ep from its domain, host context included whatever it answers
 * (the first host error kept in *host_err when it is 0), destroying the
 * domain if left empty. */
void endpoint_detach_forced(struct viommu *v, struct endpoint *ep,
                            int *host_err);

#endif
