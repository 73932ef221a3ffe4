/* SPDX-License-Identifier: BSD-3-Clause */
/* PROBE. */
#ifndef VIOMMU_PROBE_H
#define VIOMMU_PROBE_H

#include <sys/uio.h>

#include "state.h"
#include "wire.h"

/* Writes the properties into resp, whose first props_len bytes the caller
 * zeroed. */
int req_probe(struct viommu *v, const struct request *r,
              const struct iovec *resp, unsigned resp_cnt, size_t props_len);

#endif
