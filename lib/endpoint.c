/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Endpoints: declared with their host geometry, host context and group;
 * removed (hot-unplug, SR-IOV VF disable) as a DETACH would, host state
 * first, the embedder told last. PROBE reports their reserved regions
 * (R35-R45).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define GROUP_KEY_GROUP (1ULL << 32)
#define GROUP_KEY_ALIAS (2ULL << 32)

static uint64_t group_key(const struct viommu_endpoint_config *cfg)
{
    if (cfg->flags & VIOMMU_EP_GROUP) {
        return GROUP_KEY_GROUP | cfg->group;
    }
    if (cfg->flags & VIOMMU_EP_ALIAS) {
        return GROUP_KEY_ALIAS | cfg->alias;
    }
    return 0;
}

/* The host geometry of the endpoint: declared, asked, or none. */
static int endpoint_geometry(const struct viommu_endpoint_config *cfg,
                             struct viommu_host_geometry *g)
{
    memset(g, 0, sizeof(*g));
    if (cfg->geometry != NULL) {
        *g = *cfg->geometry;
        return 0;
    }
    if (cfg->host_ops != NULL && cfg->host_ops->geometry != NULL) {
        return cfg->host_ops->geometry(cfg->host_ctx, cfg->id, g);
    }
    return 0;
}

/*
 * The endpoint's own regions: the declared ones and the holes of the host's
 * usable ranges inside the input range, cut around one MSI region.
 */
static int build_regions(const struct viommu *v,
                         const struct viommu_endpoint_config *cfg,
                         const struct viommu_host_geometry *geo,
                         struct viommu_resv_region **out, uint32_t *nr_out)
{
    const struct viommu_resv_region *msi = NULL;
    struct viommu_resv_region dev_msi = {v->cfg.msi_start, v->cfg.msi_end,
                                         VIOMMU_RESV_MSI};
    size_t nr = 0;
    int err;

    if (cfg->nr_resv > 0 && cfg->resv == NULL) {
        return -EINVAL;
    }
    if (cfg->nr_resv > UINT16_MAX) {
        return -ENOSPC;
    }
    for (size_t i = 0; i < cfg->nr_resv; i++) {
        const struct viommu_resv_region *r = &cfg->resv[i];
        if (r->start > r->end ||
            (r->type != VIOMMU_RESV_RESERVED && r->type != VIOMMU_RESV_MSI)) {
            return -EINVAL;
        }
        if (r->type == VIOMMU_RESV_MSI) {
            if (msi != NULL) {
                return -EINVAL; /* R44 */
            }
            msi = r;
        }
    }
    if (msi == NULL && !v->cfg.no_msi_window) {
        msi = &dev_msi;
    }

    /* Room for the declared regions, the holes, and what normalizing adds. */
    struct viommu_resv_region *list =
        calloc(cfg->nr_resv + geo->nr_usable + 1 + 2, sizeof(*list));
    if (list == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < cfg->nr_resv; i++) {
        if (cfg->resv[i].type == VIOMMU_RESV_RESERVED) {
            list[nr++] = cfg->resv[i];
        }
    }
    err = regions_add_holes(list, &nr, geo->usable, geo->nr_usable,
                            v->cfg.input_start, v->cfg.input_end);
    if (err != 0) {
        free(list);
        return err;
    }
    *out = list;
    *nr_out = (uint32_t)regions_normalize(list, nr, msi);
    return 0;
}

static bool host_ops_complete(const struct viommu_host_ops *ops)
{
    return ops->attach != NULL && ops->detach != NULL && ops->map != NULL &&
           ops->unmap != NULL;
}

int viommu_endpoint_add(struct viommu *v,
                        const struct viommu_endpoint_config *config)
{
    struct viommu_endpoint_config cfg;
    struct viommu_host_geometry geo;
    int err;

    if (v == NULL) {
        return -EINVAL;
    }
    err = copy_versioned(&cfg, sizeof(cfg), config,
                         config != NULL ? config->size : 0);
    if (err != 0) {
        return err;
    }
    if (idtable_find(&v->endpoints, cfg.id) != NULL) {
        return -EEXIST;
    }
    if (cfg.host_ops != NULL && !host_ops_complete(cfg.host_ops)) {
        return -EINVAL;
    }
    err = endpoint_geometry(&cfg, &geo);
    if (err != 0) {
        return err;
    }
    if (geo.nr_usable > VIOMMU_HOST_MAX_RANGES) {
        return -EINVAL;
    }
    /* Every mapping the guest can make is granule-aligned: the host's
     * smallest page must divide the granule (both are powers of two). */
    if (geo.page_size_mask != 0 &&
        (geo.page_size_mask & -geo.page_size_mask) > v->granule) {
        vlog(v, VIOMMU_LOG_ERR, VIOMMU_LOG_SOURCE_DEVICE,
             "endpoint %u refused: the host's smallest page (sizes %#llx) "
             "exceeds the device granule %#llx",
             cfg.id, (unsigned long long)geo.page_size_mask,
             (unsigned long long)v->granule);
        return -EINVAL;
    }
    struct endpoint *ep = calloc(1, sizeof(*ep));
    if (ep == NULL) {
        return -ENOMEM;
    }
    ep->id = cfg.id;
    err = build_regions(v, &cfg, &geo, &ep->own, &ep->nr_own);
    if (err != 0) {
        goto err_free_ep;
    }
    if (cfg.host_ops != NULL) {
        err = hostctx_get(v, cfg.host_ops, cfg.host_ctx, &ep->host);
        if (err != 0) {
            goto err_free_own;
        }
    }
    err = group_join(v, ep, group_key(&cfg));
    if (err != 0) {
        goto err_put_host;
    }
    err = idtable_insert(&v->endpoints, ep);
    if (err != 0) {
        goto err_leave_group;
    }
    vlog(v, VIOMMU_LOG_DEBUG, VIOMMU_LOG_SOURCE_DEVICE,
         "endpoint %u added with %u reserved regions", ep->id,
         ep->group->nr_resv);
    return 0;

err_leave_group:
    group_leave(v, ep);
err_put_host:
    if (ep->host != NULL) {
        hostctx_put(v, ep->host);
    }
err_free_own:
    free(ep->own);
err_free_ep:
    free(ep);
    return err;
}

static void endpoint_free(struct viommu *v, struct endpoint *ep)
{
    if (ep->domain != NULL) {
        endpoint_detach_forced(v, ep);
    }
    if (ep->host != NULL) {
        hostctx_put(v, ep->host);
    }
    group_leave(v, ep);
    faults_forget_endpoint(v, ep->id);
    idtable_remove(&v->endpoints, ep->id);
    free(ep->own);
    free(ep);
}

int viommu_endpoint_remove(struct viommu *v, uint32_t id)
{
    struct endpoint *ep = idtable_find(&v->endpoints, id);

    if (ep == NULL) {
        return -ENOENT;
    }
    v->last_host_err = 0;
    endpoint_free(v, ep);
    vlog(v, VIOMMU_LOG_INFO, VIOMMU_LOG_SOURCE_DEVICE, "endpoint %u removed",
         id);
    if (v->cfg.endpoint_removed != NULL) {
        v->cfg.endpoint_removed(v->cfg.endpoint_removed_opaque, id,
                                v->last_host_err);
    }
    return 0;
}

void endpoints_free_all(struct viommu *v)
{
    while (v->endpoints.n > 0) {
        endpoint_free(
            v, (struct endpoint *)v->endpoints.items[v->endpoints.n - 1]);
    }
}

int viommu_sriov_vf_id(const struct viommu_sriov *s, uint16_t vf, uint32_t *id)
{
    if (s == NULL || id == NULL || vf >= s->num_vfs) {
        return -EINVAL;
    }
    uint32_t rid =
        (s->pf & 0xffff) + s->vf_offset + (uint32_t)vf * s->vf_stride;
    if (rid > 0xffff) {
        return -ERANGE;
    }
    *id = (s->pf & ~0xffffu) | rid;
    return 0;
}

int viommu_sriov_add_vfs(struct viommu *v, const struct viommu_sriov *s,
                         const struct viommu_endpoint_config *vf_template)
{
    struct viommu_endpoint_config cfg;
    uint16_t vf;
    int err = 0;

    if (v == NULL || s == NULL) {
        return -EINVAL;
    }
    err = copy_versioned(&cfg, sizeof(cfg), vf_template,
                         vf_template != NULL ? vf_template->size : 0);
    if (err != 0) {
        return err;
    }
    cfg.size = sizeof(cfg); /* the copy is this version's struct */
    if (s->num_vfs > 0 &&
        (err = viommu_sriov_vf_id(s, s->num_vfs - 1, &cfg.id)) != 0) {
        return err; /* the last VF has the highest ID */
    }
    for (vf = 0; vf < s->num_vfs; vf++) {
        if (viommu_sriov_vf_id(s, vf, &cfg.id) != 0 ||
            (err = viommu_endpoint_add(v, &cfg)) != 0) {
            break;
        }
    }
    if (err == 0) {
        return 0;
    }
    /* Never attached: nothing to tell anyone. */
    while (vf-- > 0) {
        if (viommu_sriov_vf_id(s, vf, &cfg.id) == 0) {
            endpoint_free(v, idtable_find(&v->endpoints, cfg.id));
        }
    }
    return err;
}

int viommu_sriov_remove_vfs(struct viommu *v, const struct viommu_sriov *s)
{
    int removed = 0;

    uint32_t id;

    if (v == NULL || s == NULL) {
        return -EINVAL;
    }
    /* All IDs are valid if the last one is: none is removed otherwise. */
    if (s->num_vfs > 0) {
        int err = viommu_sriov_vf_id(s, s->num_vfs - 1, &id);
        if (err != 0) {
            return err;
        }
    }
    for (uint16_t vf = 0; vf < s->num_vfs; vf++) {
        if (viommu_sriov_vf_id(s, vf, &id) == 0 &&
            viommu_endpoint_remove(v, id) == 0) {
            removed++;
        }
    }
    return removed;
}

const struct viommu_resv_region *endpoint_resv_from(const struct endpoint *ep,
                                                    uint64_t addr)
{
    return regions_from(ep->group->resv, ep->group->nr_resv, addr);
}

const struct viommu_resv_region *endpoint_resv_at(const struct endpoint *ep,
                                                  uint64_t iova)
{
    const struct viommu_resv_region *r = endpoint_resv_from(ep, iova);

    return r != NULL && r->start <= iova ? r : NULL;
}

bool endpoint_resv_overlaps(const struct endpoint *ep, uint64_t start,
                            uint64_t end)
{
    const struct viommu_resv_region *r = endpoint_resv_from(ep, start);

    return r != NULL && r->start <= end;
}

int req_probe(struct viommu *v, const struct request *r,
              const struct iovec *out, unsigned out_cnt, size_t props_len)
{
    uint8_t prop[WIRE_RESV_MEM_SIZE];

    /* R35: reserved bytes are ignored. R42: the caller zeroed the buffer. */
    if (props_len < v->cfg.probe_size) {
        return -EINVAL; /* R41: no property written */
    }
    const struct endpoint *ep = idtable_find(&v->endpoints, r->endpoint);
    if (ep == NULL) {
        return -ENOENT; /* R36 */
    }
    /* R40: properties follow each other without padding; the group's
     * union fits probe_size, checked when each member was declared. */
    const struct group *g = ep->group;
    for (uint32_t i = 0; i < g->nr_resv; i++) {
        wire_encode_resv_mem(prop, &g->resv[i]);
        iov_from_buf(out, out_cnt, i * sizeof(prop), prop, sizeof(prop));
    }
    return 0;
}
