/* SPDX-License-Identifier: BSD-3-Clause */
/* SR-IOV: a PF's VFs declared and removed together (VF Enable). */
#include <errno.h>

#include "abi.h"
#include "endpoint.h"

/* The VF IDs of s are valid if the last, the highest, is. */
static int sriov_copy(struct viommu_sriov *dst, const struct viommu_sriov *s)
{
    uint32_t id;
    int err = copy_versioned(dst, sizeof(*dst), s,
                             ABI_FIRST_SIZE(struct viommu_sriov));

    if (err == 0 && dst->reserved != 0) {
        err = -EINVAL;
    }
    if (err != 0 || dst->num_vfs == 0) {
        return err;
    }
    return viommu_sriov_vf_id(dst, dst->num_vfs - 1, &id);
}

static uint32_t vf_id(const struct viommu_sriov *s, uint32_t vf)
{
    return (s->pf & ~0xffffu) |
           ((s->pf & 0xffff) + s->vf_offset + vf * s->vf_stride);
}

int viommu_sriov_vf_id(const struct viommu_sriov *s, uint16_t vf, uint32_t *id)
{
    struct viommu_sriov c;

    if (id == NULL ||
        copy_versioned(&c, sizeof(c), s, ABI_FIRST_SIZE(struct viommu_sriov)) !=
            0 ||
        vf >= c.num_vfs) {
        return -EINVAL;
    }
    if ((c.pf & 0xffff) + c.vf_offset + (uint32_t)vf * c.vf_stride > 0xffff) {
        return -ERANGE;
    }
    *id = vf_id(&c, vf);
    return 0;
}

static uint32_t each_vf(const void *ctx, uint32_t i)
{
    return vf_id(ctx, i);
}

int viommu_sriov_add_vfs(struct viommu *v, const struct viommu_sriov *s,
                         const struct viommu_endpoint_config *vf_template)
{
    struct viommu_endpoint_config cfg;
    struct viommu_sriov c;
    int err;

    if (v == NULL) {
        return -EINVAL;
    }
    if (v->busy) {
        return -EBUSY;
    }
    err = sriov_copy(&c, s);
    if (err == 0) {
        err = copy_versioned(&cfg, sizeof(cfg), vf_template,
                             ABI_FIRST_SIZE(struct viommu_endpoint_config));
    }
    return err != 0 ? err : endpoints_add_each(v, &cfg, c.num_vfs, each_vf, &c);
}

int viommu_sriov_remove_vfs(struct viommu *v, const struct viommu_sriov *s)
{
    struct viommu_sriov c;
    int removed = 0;

    if (v == NULL) {
        return -EINVAL;
    }
    if (v->busy) {
        return -EBUSY;
    }
    int err = sriov_copy(&c, s);
    if (err != 0) {
        return err;
    }
    for (uint32_t vf = 0; vf < c.num_vfs; vf++) {
        int ret = viommu_endpoint_remove(v, vf_id(&c, vf));
        if (ret != -ENOENT) {
            removed++;
        }
    }
    return removed;
}
