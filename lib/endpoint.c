/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Endpoints: declared with their host geometry, host context and group;
 * removed (hot-unplug, SR-IOV VF disable) as a DETACH would, host state
 * first, the embedder told last.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "domain.h"
#include "endpoint.h"
#include "faults.h"
#include "group.h"
#include "host.h"
#include "iotlb.h"
#include "log.h"
#include "regions.h"

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
static int endpoint_geometry(struct viommu *v,
                             const struct viommu_endpoint_config *cfg,
                             const struct hostctx *host,
                             struct viommu_host_geometry *g)
{
    if (cfg->geometry != NULL) {
        return copy_versioned(g, sizeof(*g), cfg->geometry,
                              ABI_FIRST_SIZE(struct viommu_host_geometry));
    }
    return hostctx_geometry(v, host, cfg->id, g);
}

/* The declared regions, each copied with the array's element size. */
static int copy_declared(const struct viommu_endpoint_config *cfg,
                         struct viommu_resv_region *list)
{
    if (cfg->nr_resv == 0) {
        return 0;
    }
    if (cfg->resv == NULL) {
        return -EINVAL;
    }
    uint32_t stride = cfg->resv[0].size;
    for (size_t i = 0; i < cfg->nr_resv; i++) {
        const void *r = (const uint8_t *)cfg->resv + i * stride;
        uint32_t size;
        memcpy(&size, r, sizeof(size));
        if (size != stride) {
            return -EINVAL;
        }
        int err = copy_versioned(&list[i], sizeof(list[i]), r,
                                 ABI_FIRST_SIZE(struct viommu_resv_region));
        if (err != 0) {
            return err;
        }
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
    struct viommu_resv_region msi =
        VIOMMU_RESV_REGION(v->cfg.msi_start, v->cfg.msi_end, VIOMMU_RESV_MSI);
    bool has_msi = !v->cfg.no_msi_window, declared_msi = false;
    size_t nr = 0;
    int err;

    if (cfg->nr_resv > UINT16_MAX) {
        return -ENOSPC;
    }
    /* Room for the declared regions, the holes, and what normalizing adds. */
    struct viommu_resv_region *list =
        calloc(cfg->nr_resv + geo->nr_usable + 1 + 2, sizeof(*list));
    if (list == NULL) {
        return -ENOMEM;
    }
    err = copy_declared(cfg, list);
    for (size_t i = 0; err == 0 && i < cfg->nr_resv; i++) {
        const struct viommu_resv_region *r = &list[i];
        if (r->start > r->end ||
            (r->type != VIOMMU_RESV_RESERVED && r->type != VIOMMU_RESV_MSI)) {
            err = -EINVAL;
        } else if (r->type == VIOMMU_RESV_MSI) {
            if (declared_msi) {
                err = -EINVAL; /* R44 */
            }
            declared_msi = has_msi = true;
            msi = *r;
        } else {
            list[nr++] = *r; /* RESERVED ones first, in place */
        }
    }
    if (err == 0) {
        err = regions_add_holes(list, &nr, geo->usable, geo->nr_usable,
                                v->cfg.input_start, v->cfg.input_end);
    }
    if (err != 0) {
        free(list);
        return err;
    }
    *out = list;
    *nr_out = (uint32_t)regions_normalize(list, nr, has_msi ? &msi : NULL);
    return 0;
}

/* Declares an endpoint from this library's version of the struct. */
static int endpoint_add(struct viommu *v,
                        const struct viommu_endpoint_config *cfg)
{
    struct viommu_host_geometry geo;
    struct hostctx *host = NULL;
    int err;

    if (idtable_find(&v->endpoints, cfg->id) != NULL) {
        return -EEXIST;
    }
    if (cfg->host_ops != NULL) {
        err = hostctx_get(v, cfg->host_ops, cfg->host_ctx, &host);
        if (err != 0) {
            return err;
        }
    }
    err = endpoint_geometry(v, cfg, host, &geo);
    if (err == 0 && geo.nr_usable > VIOMMU_HOST_MAX_RANGES) {
        err = -EINVAL;
    }
    /* Every mapping the guest can make is granule-aligned: the host's
     * smallest page must divide the granule (both are powers of two). */
    if (err == 0 && geo.page_size_mask != 0 &&
        (geo.page_size_mask & -geo.page_size_mask) > v->granule) {
        vlog(v, VIOMMU_LOG_ERR, VIOMMU_LOG_SOURCE_DEVICE,
             "endpoint %u refused: the host's smallest page (sizes %#llx) "
             "exceeds the device granule %#llx",
             cfg->id, (unsigned long long)geo.page_size_mask,
             (unsigned long long)v->granule);
        err = -EINVAL;
    }
    if (err != 0) {
        goto err_put_host;
    }
    struct endpoint *ep = calloc(1, sizeof(*ep));
    if (ep == NULL) {
        err = -ENOMEM;
        goto err_put_host;
    }
    ep->id = cfg->id;
    ep->host = host;
    err = build_regions(v, cfg, &geo, &ep->own, &ep->nr_own);
    if (err != 0) {
        goto err_free_ep;
    }
    err = group_join(v, ep, group_key(cfg));
    if (err != 0) {
        goto err_free_own;
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
err_free_own:
    free(ep->own);
err_free_ep:
    free(ep);
err_put_host:
    if (host != NULL) {
        hostctx_put(v, host);
    }
    return err;
}

int viommu_endpoint_add(struct viommu *v,
                        const struct viommu_endpoint_config *config)
{
    struct viommu_endpoint_config cfg;

    if (v == NULL) {
        return -EINVAL;
    }
    if (v->busy) {
        return -EBUSY;
    }
    int err = copy_versioned(&cfg, sizeof(cfg), config,
                             ABI_FIRST_SIZE(struct viommu_endpoint_config));
    return err != 0 ? err : endpoint_add(v, &cfg);
}

int endpoints_add_each(struct viommu *v,
                       const struct viommu_endpoint_config *tmpl, uint32_t n,
                       uint32_t (*id_of)(const void *ctx, uint32_t i),
                       const void *ctx)
{
    struct viommu_endpoint_config cfg = *tmpl;
    uint32_t i;
    int err = 0;

    for (i = 0; i < n; i++) {
        if (idtable_find(&v->endpoints, id_of(ctx, i)) != NULL) {
            return -EEXIST;
        }
    }
    for (i = 0; i < n && err == 0; i++) {
        cfg.id = id_of(ctx, i);
        err = endpoint_add(v, &cfg);
    }
    if (err == 0) {
        return 0;
    }
    /* Never attached, never translated: nothing to tell anyone. */
    for (i--; i-- > 0;) {
        endpoint_destroy(v, idtable_find(&v->endpoints, id_of(ctx, i)));
    }
    return err;
}

static uint32_t range_id(const void *ctx, uint32_t i)
{
    return *(const uint32_t *)ctx + i;
}

int viommu_endpoint_add_range(struct viommu *v, uint32_t first, uint32_t last,
                              const struct viommu_endpoint_config *tmpl)
{
    struct viommu_endpoint_config cfg;

    if (v == NULL || last < first) {
        return -EINVAL;
    }
    if (v->busy) {
        return -EBUSY;
    }
    if (last - first >= VIOMMU_MAX_RANGE) {
        return -E2BIG;
    }
    int err = copy_versioned(&cfg, sizeof(cfg), tmpl,
                             ABI_FIRST_SIZE(struct viommu_endpoint_config));
    if (err != 0) {
        return err;
    }
    return endpoints_add_each(v, &cfg, last - first + 1, range_id, &first);
}

void endpoint_free(struct viommu *v, struct endpoint *ep, int *host_err)
{
    if (ep->domain != NULL) {
        endpoint_detach_forced(v, ep, host_err);
    } else {
        invalidate(v, ep->id, 0, UINT64_MAX); /* it may have bypassed */
    }
    endpoint_destroy(v, ep);
}

void endpoint_destroy(struct viommu *v, struct endpoint *ep)
{
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
    int host_err = 0;

    if (v == NULL) {
        return -EINVAL;
    }
    if (v->busy) {
        return -EBUSY;
    }
    struct endpoint *ep = idtable_find(&v->endpoints, id);
    if (ep == NULL) {
        return -ENOENT;
    }
    endpoint_free(v, ep, &host_err);
    vlog(v, VIOMMU_LOG_INFO, VIOMMU_LOG_SOURCE_DEVICE, "endpoint %u removed",
         id);
    if (v->cfg.endpoint_removed != NULL) {
        CALLBACK(v, v->cfg.endpoint_removed(v->cfg.endpoint_removed_opaque, id,
                                            host_err));
    }
    /* Keep the errors that say "nothing was done" for that meaning. */
    if (host_err == -ENOENT || host_err == -EINVAL || host_err == -EBUSY) {
        return -EIO;
    }
    return host_err;
}

void endpoints_free_all(struct viommu *v)
{
    int ignored = 0;

    while (v->endpoints.n > 0) {
        endpoint_free(v,
                      (struct endpoint *)v->endpoints.items[v->endpoints.n - 1],
                      &ignored);
    }
}
