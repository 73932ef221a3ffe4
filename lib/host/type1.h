/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIOMMU_HOST_TYPE1_H
#define VIOMMU_HOST_TYPE1_H

#include "backend.h"

/* VFIO type1: a container per IOMMU group (VIOMMU_VFIO_TYPE1). */
extern const struct backend_ops type1_backend;

#endif
