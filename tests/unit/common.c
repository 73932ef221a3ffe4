/* SPDX-License-Identifier: BSD-3-Clause */
#include "common.h"

struct viommu *new_device(void (*tweak)(struct viommu_config *c))
{
    struct viommu_config cfg = {.size = sizeof(cfg)};

    if (tweak != NULL) {
        tweak(&cfg);
    }
    struct viommu *v = viommu_new(&cfg);
    assert_non_null(v);
    for (uint32_t id = EP1; id <= EP3; id++) {
        struct viommu_endpoint_config ep = {.size = sizeof(ep), .id = id};
        assert_int_equal(viommu_endpoint_add(v, &ep), 0);
    }
    return v;
}

void add_endpoint_with(struct viommu *v, uint32_t id, uint64_t start,
                       uint64_t end, enum viommu_resv_type type)
{
    struct viommu_resv_region r = VIOMMU_RESV_REGION(start, end, type);
    struct viommu_endpoint_config ep = {
        .size = sizeof(ep), .id = id, .resv = &r, .nr_resv = 1};

    assert_int_equal(viommu_endpoint_add(v, &ep), 0);
}

static int count_one(void *opaque, uint64_t iova, uint64_t last, uint64_t gpa,
                     uint32_t flags)
{
    (*(long *)opaque)++;
    return 0;
}

long domain_mappings(struct viommu *v, uint32_t domain)
{
    long n = 0;

    if (viommu_domain_foreach_mapping(v, domain, 0, count_one, &n) != 0) {
        return -1;
    }
    return n;
}

long endpoint_domain(struct viommu *v, uint32_t ep)
{
    uint32_t d;

    return viommu_endpoint_domain(v, ep, &d, NULL) == 0 ? (long)d : -1;
}

uint8_t send_with_reserved(struct viommu *v, void *req, size_t size,
                           size_t reserved_off, size_t reserved_len,
                           uint8_t fill)
{
    uint8_t *bytes = req;
    size_t body = size - sizeof(struct virtio_iommu_req_tail);

    memset(bytes + reserved_off, fill, reserved_len);
    if (vdrv_send(VDRV_LOCAL(v), bytes, body, bytes + body, 4) == 0) {
        return VDRV_NO_REPLY;
    }
    return bytes[body];
}

int pop_fault(struct viommu *v, struct virtio_iommu_fault *f)
{
    struct iovec iov = {f, sizeof(*f)};
    uint32_t used = 0;
    int ret = viommu_event_pop(v, &iov, 1, &used);

    if (ret == 0) {
        assert_int_equal(used, sizeof(*f));
    }
    return ret;
}
