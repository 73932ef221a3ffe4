/* SPDX-License-Identifier: BSD-3-Clause */
/* Device lifecycle, features, config space and reset (R1-R7). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_iommu.h>

#include "abi.h"
#include "domain.h"
#include "endpoint.h"
#include "faults.h"
#include "iotlb.h"
#include "log.h"
#include "wire.h"

#define DEFAULT_PAGE_SIZE_MASK (~0xfffULL)
#define DEFAULT_PROBE_SIZE 512
#define MAX_PROBE_SIZE 65536
#define DEFAULT_MAX_DOMAINS 4096
#define DEFAULT_MAX_MAPPINGS_PER_DOMAIN (1u << 20)
#define DEFAULT_MAX_MAPPINGS (1u << 22)
#define DEFAULT_MAX_PENDING_FAULTS 256

static int config_normalize(struct viommu_config *c)
{
    if (c->page_size_mask == 0) {
        c->page_size_mask = DEFAULT_PAGE_SIZE_MASK;
    }
    uint64_t granule = c->page_size_mask & -c->page_size_mask;

    if (c->input_end == 0) {
        if (c->input_start != 0) {
            return -EINVAL;
        }
        c->input_end = UINT64_MAX;
    }
    if (c->input_start > c->input_end || (c->input_start & (granule - 1)) ||
        ((c->input_end + 1) & (granule - 1))) {
        return -EINVAL;
    }
    if (c->domain_end == 0) {
        if (c->domain_start != 0) {
            return -EINVAL;
        }
        c->domain_end = UINT32_MAX;
    }
    if (c->domain_start > c->domain_end) {
        return -EINVAL;
    }
    if (c->probe_size == 0) {
        c->probe_size = DEFAULT_PROBE_SIZE;
    }
    if (c->probe_size < WIRE_RESV_MEM_SIZE || c->probe_size > MAX_PROBE_SIZE ||
        c->probe_size % 8 != 0) {
        return -EINVAL;
    }
    if (c->msi_start == 0 && c->msi_end == 0) {
        c->msi_start = VIOMMU_MSI_X86_START;
        c->msi_end = VIOMMU_MSI_X86_END;
    }
    if (c->msi_start > c->msi_end) {
        return -EINVAL;
    }
    if (c->max_domains == 0) {
        c->max_domains = DEFAULT_MAX_DOMAINS;
    }
    if (c->max_mappings_per_domain == 0) {
        c->max_mappings_per_domain = DEFAULT_MAX_MAPPINGS_PER_DOMAIN;
    }
    if (c->max_mappings == 0) {
        c->max_mappings = DEFAULT_MAX_MAPPINGS;
    }
    if (c->max_pending_faults == 0) {
        c->max_pending_faults = DEFAULT_MAX_PENDING_FAULTS;
    }
    return 0;
}

struct viommu *viommu_new(const struct viommu_config *config)
{
    struct viommu *v = calloc(1, sizeof(*v));
    int err;

    if (v == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    err = copy_versioned(&v->cfg, sizeof(v->cfg), config,
                         ABI_FIRST_SIZE(struct viommu_config));
    if (err == 0) {
        err = config_normalize(&v->cfg);
    }
    if (err != 0) {
        free(v);
        errno = -err;
        return NULL;
    }
    v->faults.ring = calloc(v->cfg.max_pending_faults, sizeof(struct fault));
    if (v->faults.ring == NULL) {
        free(v);
        errno = ENOMEM;
        return NULL;
    }
    v->granule = v->cfg.page_size_mask & -v->cfg.page_size_mask;
    /* R1-R3: MAP_UNMAP always, BYPASS_CONFIG and never legacy BYPASS. */
    v->offered = VIOMMU_F_VERSION_1 | (1ULL << VIRTIO_IOMMU_F_INPUT_RANGE) |
                 (1ULL << VIRTIO_IOMMU_F_DOMAIN_RANGE) |
                 (1ULL << VIRTIO_IOMMU_F_MAP_UNMAP) |
                 (1ULL << VIRTIO_IOMMU_F_MMIO) |
                 (1ULL << VIRTIO_IOMMU_F_BYPASS_CONFIG);
    if (!v->cfg.no_probe) {
        v->offered |= 1ULL << VIRTIO_IOMMU_F_PROBE;
    }
    v->accepted = v->offered;
    v->bypass = v->cfg.boot_bypass; /* R5 */
    iotlb_init(&v->iotlb);
    return v;
}

uint32_t viommu_version(void)
{
    return VIOMMU_VERSION;
}

void viommu_free(struct viommu *v)
{
    if (v == NULL || v->busy) {
        return;
    }
    v->cfg.invalidate = NULL; /* the embedder is letting go of it all */
    endpoints_free_all(v);
    idtable_free(&v->domains);
    idtable_free(&v->endpoints);
    free(v->faults.ring);
    free(v);
}

uint64_t viommu_device_features(const struct viommu *v)
{
    return v != NULL ? v->offered : 0;
}

int viommu_set_driver_features(struct viommu *v, uint64_t features)
{
    if (v == NULL) {
        return -EINVAL;
    }
    if (v->busy) {
        return -EBUSY;
    }
    if ((features & ~v->offered) != 0 || !(features & VIOMMU_F_VERSION_1)) {
        return -EINVAL;
    }
    /* The domains were made under the accepted features: new ones could
     * leave a bypass domain without BYPASS_CONFIG or an MMIO mapping
     * without MMIO, which the device would serve against the negotiation
     * and a restore refuses. Only a reset frees the choice. */
    if (features != v->accepted && v->domains.n > 0) {
        return -EBUSY;
    }
    bool bypassed = viommu_bypass_effective(v);
    v->accepted = features;
    invalidate_unattached(v, bypassed);
    return 0;
}

size_t viommu_config_size(void)
{
    return wire_config_size();
}

int viommu_config_read(const struct viommu *v, uint32_t offset, void *buf,
                       uint32_t len)
{
    uint8_t cfg[64];
    size_t size = wire_config_size();

    _Static_assert(sizeof(struct virtio_iommu_config) <= sizeof(cfg), "cfg");
    if (v == NULL || buf == NULL || offset > size || len > size - offset) {
        return -EINVAL;
    }
    wire_encode_config(v, cfg);
    memcpy(buf, cfg + offset, len);
    return 0;
}

int viommu_config_write(struct viommu *v, uint32_t offset, const void *buf,
                        uint32_t len)
{
    size_t size = wire_config_size();
    uint8_t value;

    if (v == NULL || buf == NULL || len == 0 || offset > size ||
        len > size - offset) {
        return -EINVAL;
    }
    if (v->busy) {
        return -EBUSY;
    }
    /* Only `bypass` is writable; the reserved bytes after it are ignored. */
    if (offset != wire_config_bypass_offset()) {
        return -EPERM;
    }
    if (!viommu_has(v, VIRTIO_IOMMU_F_BYPASS_CONFIG)) {
        return -EPERM;
    }
    value = *(const uint8_t *)buf;
    if (value > 1) { /* R7 */
        vlog(v, VIOMMU_LOG_WARN, VIOMMU_LOG_SOURCE_GUEST,
             "bypass write of %u ignored", value);
        return -EINVAL;
    }
    bool bypassed = viommu_bypass_effective(v);
    v->bypass = value;
    invalidate_unattached(v, bypassed);
    return 0;
}

int viommu_reset(struct viommu *v, enum viommu_reset_kind kind)
{
    int ignored = 0;

    if (v == NULL ||
        (kind != VIOMMU_RESET_DEVICE && kind != VIOMMU_RESET_SYSTEM)) {
        return -EINVAL;
    }
    if (v->busy) {
        return -EBUSY;
    }
    /* Domains exist while endpoints are attached: detaching every endpoint
     * destroys them all, host contexts included, and invalidates what they
     * translated; the others may have bypassed. */
    for (uint32_t i = 0; i < v->endpoints.n; i++) {
        struct endpoint *ep = (struct endpoint *)v->endpoints.items[i];
        if (ep->domain != NULL) {
            endpoint_detach_forced(v, ep, &ignored);
        } else {
            invalidate(v, ep->id, 0, UINT64_MAX);
        }
    }
    faults_clear(v);
    v->accepted = v->offered;
    /* R6: bypass survives a device reset, not a system reset. */
    if (kind == VIOMMU_RESET_SYSTEM) {
        v->bypass = v->cfg.boot_bypass;
    }
    return 0;
}

int viommu_get_stats(const struct viommu *v, struct viommu_stats *stats)
{
    struct viommu_stats out = {.size = sizeof(out)};

    if (v == NULL) {
        return -EINVAL;
    }
    out.endpoints = v->endpoints.n;
    out.domains = v->domains.n;
    out.mappings = v->nr_mappings;
    out.pending_faults = v->faults.count;
    out.dropped_faults = v->faults.dropped;
    for (const struct hostctx *c = v->hostctxs; c != NULL; c = c->next) {
        out.host_contexts++;
    }
    out.host_errors = v->host_errors;
    return fill_versioned(stats, &out, sizeof(out),
                          ABI_FIRST_SIZE(struct viommu_stats));
}

bool viommu_bypass(const struct viommu *v)
{
    return v != NULL && v->bypass != 0;
}
