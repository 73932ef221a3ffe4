/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Endpoints and their properties: reserved regions computed once at
 * declaration (R44, R45) and reported by PROBE (R35-R43).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int cmp_start(const void *a, const void *b)
{
    const struct viommu_resv_region *x = a, *y = b;

    return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * Builds the endpoint's region list: the declared RESERVED regions merged,
 * cut around the MSI region, plus that MSI region; sorted by start.
 */
static int build_regions(const struct viommu *v,
                         const struct viommu_endpoint_config *cfg,
                         struct viommu_resv_region **out, uint32_t *nr_out)
{
    const struct viommu_resv_region *msi = NULL;
    struct viommu_resv_region dev_msi = {v->cfg.msi_start, v->cfg.msi_end,
                                         VIOMMU_RESV_MSI};
    size_t nr = 0;

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

    /* Room for every declared region, one split around the MSI region and
     * the MSI region itself. */
    struct viommu_resv_region *list = calloc(cfg->nr_resv + 2, sizeof(*list));
    if (list == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < cfg->nr_resv; i++) {
        if (cfg->resv[i].type == VIOMMU_RESV_RESERVED) {
            list[nr++] = cfg->resv[i];
        }
    }
    qsort(list, nr, sizeof(*list), cmp_start);

    /* Merge overlapping and adjacent regions (R45). */
    size_t merged = 0;
    for (size_t i = 0; i < nr; i++) {
        struct viommu_resv_region *last = merged ? &list[merged - 1] : NULL;
        if (last != NULL &&
            (last->end == UINT64_MAX || list[i].start <= last->end + 1)) {
            if (list[i].end > last->end) {
                last->end = list[i].end;
            }
        } else {
            list[merged++] = list[i];
        }
    }
    nr = merged;

    if (msi != NULL) {
        /* Regions are disjoint and sorted: at most one straddles the MSI
         * region on each side, and only one can straddle both. */
        size_t kept = 0;
        struct viommu_resv_region above = {0};
        bool has_above = false;
        for (size_t i = 0; i < nr; i++) {
            struct viommu_resv_region r = list[i];
            if (r.end < msi->start || r.start > msi->end) {
                list[kept++] = r;
                continue;
            }
            if (r.end > msi->end) {
                above = (struct viommu_resv_region){msi->end + 1, r.end,
                                                    VIOMMU_RESV_RESERVED};
                has_above = true;
            }
            if (r.start < msi->start) {
                r.end = msi->start - 1;
                list[kept++] = r;
            }
        }
        nr = kept;
        list[nr++] = *msi;
        if (has_above) {
            list[nr++] = above;
        }
        qsort(list, nr, sizeof(*list), cmp_start);
    }

    if (!v->cfg.no_probe && nr * WIRE_RESV_MEM_SIZE > v->cfg.probe_size) {
        free(list);
        return -ENOSPC;
    }
    *out = list;
    *nr_out = (uint32_t)nr;
    return 0;
}

int viommu_endpoint_add(struct viommu *v,
                        const struct viommu_endpoint_config *config)
{
    struct viommu_endpoint_config cfg;
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
    struct endpoint *ep = calloc(1, sizeof(*ep));
    if (ep == NULL) {
        return -ENOMEM;
    }
    ep->id = cfg.id;
    err = build_regions(v, &cfg, &ep->resv, &ep->nr_resv);
    if (err != 0) {
        goto err_free_ep;
    }
    err = idtable_insert(&v->endpoints, ep);
    if (err != 0) {
        goto err_free_resv;
    }
    vlog(v, VIOMMU_LOG_INFO, VIOMMU_LOG_SOURCE_DEVICE,
         "endpoint %u added with %u reserved regions", ep->id, ep->nr_resv);
    return 0;

err_free_resv:
    free(ep->resv);
err_free_ep:
    free(ep);
    return err;
}

static void endpoint_free(struct viommu *v, struct endpoint *ep)
{
    if (ep->domain != NULL) {
        endpoint_detach(v, ep);
    }
    faults_forget_endpoint(v, ep->id);
    idtable_remove(&v->endpoints, ep->id);
    free(ep->resv);
    free(ep);
}

int viommu_endpoint_remove(struct viommu *v, uint32_t id)
{
    struct endpoint *ep = idtable_find(&v->endpoints, id);

    if (ep == NULL) {
        return -ENOENT;
    }
    endpoint_free(v, ep);
    vlog(v, VIOMMU_LOG_INFO, VIOMMU_LOG_SOURCE_DEVICE, "endpoint %u removed",
         id);
    return 0;
}

void endpoints_free_all(struct viommu *v)
{
    while (v->endpoints.n > 0) {
        endpoint_free(
            v, (struct endpoint *)v->endpoints.items[v->endpoints.n - 1]);
    }
}

const struct viommu_resv_region *endpoint_resv_from(const struct endpoint *ep,
                                                    uint64_t addr)
{
    uint32_t lo = 0, hi = ep->nr_resv;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ep->resv[mid].end < addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < ep->nr_resv ? &ep->resv[lo] : NULL;
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
    /* R40: properties follow each other without padding. */
    for (uint32_t i = 0; i < ep->nr_resv; i++) {
        wire_encode_resv_mem(prop, &ep->resv[i]);
        iov_from_buf(out, out_cnt, i * sizeof(prop), prop, sizeof(prop));
    }
    return 0;
}
