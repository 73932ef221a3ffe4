/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIOMMU_HOST_IOMMUFD_H
#define VIOMMU_HOST_IOMMUFD_H

#include "backend.h"

/* iommufd: /dev/iommu, an IOAS per guest domain (VIOMMU_VFIO_IOMMUFD). */
extern const struct backend_ops iommufd_backend;

#endif
