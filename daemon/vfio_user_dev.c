/* SPDX-License-Identifier: BSD-3-Clause */
#include "vfio_user_dev.h"

#include <errno.h>
#include <string.h>

#include <linux/vfio.h>

#include "log.h"
#include "vfio_user_ram.h"

struct vfio_user_device *vfio_user_by_endpoint(struct vfio_user_set *s,
                                               uint32_t endpoint)
{
    for (unsigned i = 0; i < VFIO_USER_MAX_DEVICES; i++) {
        if (s->devs[i].used && s->devs[i].endpoint == endpoint) {
            return &s->devs[i];
        }
    }
    return NULL;
}

bool vfio_user_serves(struct vfio_user_set *s, uint32_t endpoint)
{
    return vfio_user_by_endpoint(s, endpoint) != NULL;
}

void vfio_user_endpoint_removed(void *opaque, uint32_t id, int host_err)
{
    struct vfio_user_set *s = opaque;

    if (s->deferring && id == s->deferred_id) {
        s->deferred_err = host_err;
        return;
    }
    /* A device's endpoint removed by someone else (endpoint-remove): the
     * device stays blocked until its client goes, and is not removed
     * twice. */
    struct vfio_user_device *d = vfio_user_by_endpoint(s, id);
    if (d != NULL && d->declared) {
        d->declared = false;
    }
    if (s->removed != NULL) {
        s->removed(s->removed_opaque, id, host_err);
    }
}

/* Reads what the device offers once, when it is opened: the server
 * checks every access against it. */
static int read_regions(struct vfio_user_set *s, struct vfio_user_device *d)
{
    struct vfio_device_info info = {.argsz = sizeof(info)};

    int err = s->ops->ioctl(d->dev, VFIO_DEVICE_GET_INFO, &info);
    if (err != 0) {
        return err;
    }
    d->info_flags = info.flags;
    d->num_regions = info.num_regions;
    d->num_irqs = info.num_irqs;
    memset(d->regions, 0, sizeof(d->regions));
    for (uint32_t i = 0; i < info.num_regions && i < VFIO_USER_MAX_REGIONS;
         i++) {
        struct vfio_region_info r = {.argsz = sizeof(r), .index = i};
        if (s->ops->ioctl(d->dev, VFIO_DEVICE_GET_REGION_INFO, &r) == 0) {
            d->regions[i] =
                (struct vfio_user_region){r.flags, r.size, r.offset};
        }
    }
    return 0;
}

int vfio_user_dev_open(struct vfio_user_set *s, struct vfio_user_device *d)
{
    struct viommu_endpoint_config ep = {.size = sizeof(ep)};
    int err;

    if (s->host == NULL) {
        err = s->ops->host_new(s->iommufd, &s->host);
        if (err != 0) {
            dlog(VIOMMU_LOG_ERR, "vfio-user: no VFIO host backend: %s",
                 strerror(-err));
            s->host = NULL;
            return err;
        }
        (void)vfio_user_ram_update(s);
    }
    err = s->ops->open(s->host, d->bdf, d->endpoint, &d->dev);
    if (err != 0) {
        dlog(VIOMMU_LOG_ERR, "vfio-user: cannot open %s: %s", d->bdf,
             strerror(-err));
        d->dev = NULL;
        return err;
    }
    err = read_regions(s, d);
    if (err == 0) {
        err = s->ops->endpoint(d->dev, &ep);
    }
    if (err == 0) {
        err = viommu_endpoint_add(s->v, &ep);
    }
    if (err != 0) {
        dlog(VIOMMU_LOG_ERR, "vfio-user: cannot declare %s as endpoint %u: %s",
             d->bdf, d->endpoint, strerror(-err));
        (void)s->ops->close(d->dev);
        d->dev = NULL;
        return err;
    }
    d->declared = true;
    return 0;
}

void vfio_user_dev_release(struct vfio_user_set *s, struct vfio_user_device *d)
{
    int host_err = 0;
    bool was_declared = d->declared;

    if (d->declared) {
        s->deferring = true;
        s->deferred_id = d->endpoint;
        s->deferred_err = 0;
        if (viommu_endpoint_remove(s->v, d->endpoint) == -ENOENT) {
            was_declared = false; /* removed already (endpoint-remove) */
        }
        host_err = s->deferred_err;
        s->deferring = false;
        d->declared = false;
    }
    if (d->dev != NULL) {
        int err = s->ops->close(d->dev);
        if (err != 0) {
            dlog(VIOMMU_LOG_ERR, "vfio-user: %s: close: %s", d->bdf,
                 strerror(-err));
            if (host_err == 0) {
                host_err = err;
            }
        }
        d->dev = NULL;
    }
    if (was_declared && s->removed != NULL) {
        s->removed(s->removed_opaque, d->endpoint, host_err);
    }
}
