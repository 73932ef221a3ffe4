/* SPDX-License-Identifier: BSD-3-Clause */
/* MAP and UNMAP. */
#ifndef VIOMMU_MAP_H
#define VIOMMU_MAP_H

#include "state.h"
#include "wire.h"

int req_map(struct viommu *v, const struct request *r);
int req_unmap(struct viommu *v, const struct request *r);

#endif
