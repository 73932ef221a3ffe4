/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared by the unit tests: cmocka, the guest driver and device set-up. */
#ifndef VIOMMU_TESTS_UNIT_COMMON_H
#define VIOMMU_TESTS_UNIT_COMMON_H

#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <linux/virtio_iommu.h>

#include "driver.h"
#include "hostsim.h"

#define G 0x1000ull /* the default granule */
#define RW (VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE)
#define EP1 1u
#define EP2 2u
#define EP3 3u

/* A device with default config (changed by `tweak` if not NULL) and
 * endpoints EP1, EP2 and EP3 declared without regions of their own. */
struct viommu *new_device(void (*tweak)(struct viommu_config *c));

/* Declares endpoint id with one region. */
void add_endpoint_with(struct viommu *v, uint32_t id, uint64_t start,
                       uint64_t end, enum viommu_resv_type type);

/* Number of mappings of a domain, -1 if it does not exist. */
long domain_mappings(struct viommu *v, uint32_t domain);

/* Domain of an endpoint, or -1 when not attached. */
long endpoint_domain(struct viommu *v, uint32_t ep);

/* Sends a request given as its whole struct (tail last) with the body's
 * reserved bytes set to `fill`; returns the status. */
uint8_t send_with_reserved(struct viommu *v, void *req, size_t size,
                           size_t reserved_off, size_t reserved_len,
                           uint8_t fill);

/* Pops one fault report into *f; returns viommu_event_pop's result. */
int pop_fault(struct viommu *v, struct virtio_iommu_fault *f);

#endif
