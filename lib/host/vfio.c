/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The handle and its devices: which backend a handle uses (picked once,
 * at viommu_vfio_new()), and what sysfs says of a device before the
 * backend opens it (its group, its driver, the group's reserved regions).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../abi.h"
#include "../hostsys/pci.h"
#include "../hostsys/sysfs.h"
#include "backend.h"
#include "iommufd.h"
#include "type1.h"

static const struct backend_ops *const backends[] = {
    [VIOMMU_VFIO_TYPE1] = &type1_backend,
    [VIOMMU_VFIO_IOMMUFD] = &iommufd_backend,
};

int viommu_vfio_new(const struct viommu_vfio_config *config,
                    struct viommu_vfio **out)
{
    struct viommu_vfio *h;

    if (out == NULL) {
        return -EINVAL;
    }
    *out = NULL;
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return -ENOMEM;
    }
    int err = copy_versioned(&h->cfg, sizeof(h->cfg), config,
                             ABI_FIRST_SIZE(struct viommu_vfio_config));
    if (err == 0 && (h->cfg.backend >= sizeof(backends) / sizeof(backends[0]) ||
                     backends[h->cfg.backend] == NULL)) {
        err = -EINVAL;
    }
    if (err == 0) {
        h->backend = backends[h->cfg.backend];
        err = h->backend->init(h);
    }
    if (err != 0) {
        free(h);
        return err;
    }
    *out = h;
    return 0;
}

int viommu_vfio_free(struct viommu_vfio *h)
{
    if (h == NULL) {
        return 0;
    }
    if (h->devices != NULL) {
        return -EBUSY;
    }
    h->backend->release(h);
    free(h);
    return 0;
}

/* The group's reserved regions, as the kernel lists them: relaxable direct
 * mappings are left out as VFIO leaves them out of its IOVA ranges, the
 * first MSI region is the endpoint's MSI region. */
static int read_reserved(struct viommu_vfio_device *d)
{
    /* Room for relaxable regions beside the MAX_RESV others. */
    struct hostsys_resv r[4 * MAX_RESV];
    bool have_msi = false;
    size_t n;
    int err = hostsys_group_reserved(SYSFS_ROOT, d->group_id, r,
                                     sizeof(r) / sizeof(r[0]), &n);

    if (err == -ENOENT) {
        return 0; /* a kernel before 4.11 lists none */
    }
    for (size_t i = 0; err == 0 && i < n; i++) {
        if (r[i].type == HOSTSYS_RESV_DIRECT_RELAXABLE) {
            continue;
        }
        if (d->nr_resv == MAX_RESV) {
            err = -E2BIG;
            break;
        }
        bool msi = r[i].type == HOSTSYS_RESV_MSI && !have_msi;
        have_msi |= msi;
        d->resv[d->nr_resv++] = (struct viommu_resv_region)VIOMMU_RESV_REGION(
            r[i].start, r[i].end, msi ? VIOMMU_RESV_MSI : VIOMMU_RESV_RESERVED);
    }
    if (err == -E2BIG) {
        backend_log(d->h, VIOMMU_LOG_ERR,
                    "%s: group %u has more than %d reserved regions", d->bdf,
                    d->group_id, MAX_RESV);
    } else if (err != 0) {
        backend_log(d->h, VIOMMU_LOG_ERR,
                    "%s: reserved regions of group %u: %s", d->bdf, d->group_id,
                    strerror(-err));
    }
    return err;
}

/* Where sysfs says the device is: its group, bound to vfio-pci. */
static int locate(struct viommu_vfio_device *d)
{
    char driver[64];
    int err = hostsys_device_group(SYSFS_ROOT, d->bdf, &d->group_id);

    if (err == -ENODEV) {
        backend_log(d->h, VIOMMU_LOG_ERR, "%s: no such PCI device", d->bdf);
        return -ENODEV;
    }
    if (err != 0) {
        backend_log(d->h, VIOMMU_LOG_ERR,
                    "%s: no IOMMU group (no host IOMMU, or under "
                    "virtio-iommu a device no driver has bound yet)",
                    d->bdf);
        return -ENODEV;
    }
    if (hostsys_device_driver(SYSFS_ROOT, d->bdf, driver, sizeof(driver)) !=
            0 ||
        strcmp(driver, "vfio-pci") != 0) {
        backend_log(d->h, VIOMMU_LOG_ERR,
                    "%s: bound to %s, not vfio-pci (viommuctl assign %s)",
                    d->bdf, driver[0] != '\0' ? driver : "no driver", d->bdf);
        return -ENOENT;
    }
    return read_reserved(d);
}

int viommu_vfio_open(struct viommu_vfio *h, const char *bdf, uint32_t endpoint,
                     struct viommu_vfio_device **out)
{
    struct viommu_vfio_device *d;

    if (out == NULL) {
        return -EINVAL;
    }
    *out = NULL;
    if (h == NULL || bdf == NULL) {
        return -EINVAL;
    }
    if (device_by_endpoint(h, endpoint) != NULL) {
        backend_log(h, VIOMMU_LOG_ERR, "%s: endpoint %u is open already", bdf,
                    endpoint);
        return -EINVAL;
    }
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return -ENOMEM;
    }
    d->h = h;
    d->endpoint = endpoint;
    d->fd = -1;
    d->geometry.size = sizeof(d->geometry);
    int err = hostsys_pci_canonical(bdf, d->bdf) ? 0 : -EINVAL;
    if (err != 0) {
        backend_log(h, VIOMMU_LOG_ERR, "\"%s\": not a PCI address", bdf);
    }
    for (struct viommu_vfio_device *o = h->devices; err == 0 && o != NULL;
         o = o->next) {
        if (strcmp(o->bdf, d->bdf) == 0) {
            backend_log(h, VIOMMU_LOG_ERR, "%s: open already", d->bdf);
            err = -EBUSY;
        }
    }
    if (err == 0) {
        err = locate(d);
    }
    if (err == 0) {
        err = h->backend->open(d);
    }
    if (err != 0) {
        free(d);
        return err;
    }
    d->next = h->devices;
    h->devices = d;
    *out = d;
    return 0;
}

int viommu_vfio_device_fd(const struct viommu_vfio_device *d)
{
    return d != NULL ? d->fd : -EINVAL;
}

int viommu_vfio_endpoint(const struct viommu_vfio_device *d,
                         struct viommu_endpoint_config *ep)
{
    struct viommu_endpoint_config out = {
        .size = sizeof(out),
        .id = d != NULL ? d->endpoint : 0,
        .flags = VIOMMU_EP_GROUP,
    };

    if (d == NULL || ep == NULL || ep->size < ABI_FIRST_SIZE(*ep) ||
        ep->size > ABI_MAX_SIZE) {
        return -EINVAL;
    }
    out.group = d->group_id;
    out.resv = d->resv;
    out.nr_resv = d->nr_resv;
    out.geometry = &d->geometry;
    out.host_ops = d->h->backend->host_ops;
    out.host_ctx = d->h->backend->host_ctx(d);
    return fill_versioned(ep, &out, sizeof(out), ABI_FIRST_SIZE(out));
}

int viommu_vfio_close(struct viommu_vfio_device *d)
{
    if (d == NULL) {
        return 0;
    }
    if (d->attached) {
        return -EBUSY;
    }
    struct viommu_vfio *h = d->h;
    struct viommu_vfio_device **link = &h->devices;
    while (*link != d) {
        link = &(*link)->next;
    }
    *link = d->next;
    h->backend->close(d);
    free(d);
    return 0;
}
