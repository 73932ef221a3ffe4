/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iommufd: one /dev/iommu per handle, each device bound through its VFIO
 * cdev, one IOAS per guest domain (the library's tables). An ATTACH to
 * another domain is VFIO_DEVICE_ATTACH_IOMMUFD_PT on the new IOAS, which
 * the kernel does as a replace: the device never goes without a table.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "../hostsys/sysfs.h"
#include "backend.h"
#include "iommufd.h"
#include "ram.h"

/* The handle's state; its devices have none of their own. */
struct iommufd {
    int fd; /* /dev/iommu */
    /* Tables the kernel would not destroy, emptied, to retry. */
    struct ioas *stale;
};

/* The table of one guest domain. */
struct ioas {
    struct viommu_vfio *h;
    uint32_t id;
    bool identity;     /* all RAM mapped at IOVA = gpa (a bypass domain) */
    struct ioas *next; /* on the stale list */
};

static int iommufd_of(const struct viommu_vfio *h)
{
    const struct iommufd *s = h->state;

    return s->fd;
}

static int ioas_map(void *table, uint64_t iova, uint64_t hva, uint64_t length,
                    uint32_t flags)
{
    struct ioas *t = table;
    struct iommu_ioas_map m = {
        .size = sizeof(m),
        .flags = IOMMU_IOAS_MAP_FIXED_IOVA |
                 ((flags & VIOMMU_XLATE_READ) ? IOMMU_IOAS_MAP_READABLE : 0) |
                 ((flags & VIOMMU_XLATE_WRITE) ? IOMMU_IOAS_MAP_WRITEABLE : 0),
        .ioas_id = t->id,
        .user_va = hva,
        .length = length,
        .iova = iova,
    };

    return ioctl(iommufd_of(t->h), IOMMU_IOAS_MAP, &m) == 0 ? 0 : -errno;
}

static int ioas_unmap(void *table, uint64_t iova, uint64_t last)
{
    struct ioas *t = table;
    bool all = iova == 0 && last == UINT64_MAX; /* the kernel's "all" */
    struct iommu_ioas_unmap u = {
        .size = sizeof(u),
        .ioas_id = t->id,
        .iova = iova,
        .length = all ? UINT64_MAX : last - iova + 1,
    };

    if (ioctl(iommufd_of(t->h), IOMMU_IOAS_UNMAP, &u) == 0 || errno == ENOENT) {
        return 0; /* ENOENT: nothing was mapped there */
    }
    return -errno;
}

static const struct table_ops ioas_table = {ioas_map, ioas_unmap};

static int ioas_alloc(struct viommu_vfio *h, uint32_t *id)
{
    struct iommu_ioas_alloc a = {.size = sizeof(a)};

    if (ioctl(iommufd_of(h), IOMMU_IOAS_ALLOC, &a) != 0) {
        return -errno;
    }
    *id = a.out_ioas_id;
    return 0;
}

static int object_destroy(struct viommu_vfio *h, uint32_t id)
{
    struct iommu_destroy x = {.size = sizeof(x), .id = id};

    return ioctl(iommufd_of(h), IOMMU_DESTROY, &x) == 0 ? 0 : -errno;
}

static int pt_attach(struct viommu_vfio_device *d, uint32_t pt_id)
{
    struct vfio_device_attach_iommufd_pt a = {.argsz = sizeof(a),
                                              .pt_id = pt_id};

    return ioctl(d->fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a) == 0 ? 0 : -errno;
}

static int pt_detach(struct viommu_vfio_device *d)
{
    struct vfio_device_detach_iommufd_pt x = {.argsz = sizeof(x)};

    return ioctl(d->fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &x) == 0 ? 0 : -errno;
}

static int fd_table_new(void *ctx, uint32_t domain, void **table)
{
    struct ioas *t = calloc(1, sizeof(*t));

    (void)domain;
    if (t == NULL) {
        return -ENOMEM;
    }
    t->h = ctx;
    int err = ioas_alloc(t->h, &t->id);
    if (err != 0) {
        free(t);
        return err;
    }
    *table = t;
    return 0;
}

static int fd_table_free(void *ctx, void *table)
{
    struct viommu_vfio *h = ctx;
    struct iommufd *s = h->state;
    struct ioas *t = table;
    int err = object_destroy(h, t->id); /* its mappings with it */

    if (err == 0) {
        free(t);
        return 0;
    }
    /* Still in use (a device the kernel would not detach): nothing may
     * stay reachable through it; destroyed again when the handle goes. */
    ioas_unmap(t, 0, UINT64_MAX);
    t->next = s->stale;
    s->stale = t;
    return err;
}

static int fd_attach(void *table, uint32_t ep, bool identity)
{
    struct ioas *t = table;
    struct viommu_vfio_device *d = device_by_endpoint(t->h, ep);
    bool mapped = false;
    int err;

    if (d == NULL) {
        return -ENODEV;
    }
    if (identity && !t->identity) {
        err = identity_map(t->h, &ioas_table, t);
        if (err != 0) {
            return err;
        }
        mapped = t->identity = true;
    }
    err = pt_attach(d, t->id);
    if (err != 0) {
        backend_log(t->h, VIOMMU_LOG_ERR, "%s: attach to IOAS %u: %s", d->bdf,
                    t->id, strerror(-err));
        if (mapped && ioas_unmap(t, 0, UINT64_MAX) == 0) {
            t->identity = false;
        }
        return err;
    }
    d->attached = true;
    return 0;
}

static int fd_detach(void *table, uint32_t ep)
{
    struct ioas *t = table;
    struct viommu_vfio_device *d = device_by_endpoint(t->h, ep);

    if (d == NULL) {
        return -ENODEV;
    }
    int err = pt_detach(d);
    if (err == 0) {
        d->attached = false;
    }
    return err;
}

static int fd_map(void *table, uint64_t iova, uint64_t last, uint64_t gpa,
                  uint32_t flags)
{
    struct ioas *t = table;

    return ram_map(t->h, &ioas_table, t, iova, last, gpa, flags);
}

static int fd_unmap(void *table, uint64_t iova, uint64_t last)
{
    return ioas_unmap(table, iova, last);
}

static const struct viommu_host_ops host_ops = {
    .size = sizeof(struct viommu_host_ops),
    .attach = fd_attach,
    .detach = fd_detach,
    .map = fd_map,
    .unmap = fd_unmap,
    .table_new = fd_table_new,
    .table_free = fd_table_free,
};

/* Usable IOVA ranges and alignment of the device, as an IOAS it is
 * attached to reports them (its reserved regions taken out). */
static int read_ranges(struct viommu_vfio_device *d)
{
    struct iommu_iova_range ranges[VIOMMU_HOST_MAX_RANGES];
    struct viommu_host_geometry *geo = &d->geometry;
    uint32_t id = 0;

    /* A member of a group whose other member is open shares its geometry,
     * and could not be attached to a table of its own anyway. */
    for (struct viommu_vfio_device *o = d->h->devices; o != NULL;
         o = o->next) {
        if (o->group_id == d->group_id) {
            *geo = o->geometry;
            return 0;
        }
    }
    int err = ioas_alloc(d->h, &id);

    if (err != 0) {
        return err;
    }
    err = pt_attach(d, id);
    if (err == 0) {
        struct iommu_ioas_iova_ranges q = {
            .size = sizeof(q),
            .ioas_id = id,
            .num_iovas = VIOMMU_HOST_MAX_RANGES,
            .allowed_iovas = (uintptr_t)ranges,
        };
        if (ioctl(iommufd_of(d->h), IOMMU_IOAS_IOVA_RANGES, &q) != 0) {
            err = errno == EMSGSIZE ? -E2BIG : -errno;
        } else {
            geo->nr_usable = q.num_iovas;
            for (uint32_t i = 0; i < q.num_iovas; i++) {
                geo->usable[i].start = ranges[i].start;
                geo->usable[i].end = ranges[i].last;
            }
            geo->page_size_mask = ~(q.out_iova_alignment - 1);
        }
        int err2 = pt_detach(d); /* blocked until the guest attaches it */
        err = err != 0 ? err : err2;
    }
    object_destroy(d->h, id);
    if (err != 0) {
        backend_log(d->h, VIOMMU_LOG_ERR, "%s: IOVA ranges: %s", d->bdf,
                    strerror(-err));
    }
    return err;
}

static void *host_ctx(const struct viommu_vfio_device *d)
{
    return d->h; /* the context of table_new */
}

static int fd_init(struct viommu_vfio *h)
{
    struct iommufd *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return -ENOMEM;
    }
    s->fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
    if (s->fd < 0) {
        int err = -errno;
        backend_log(h, VIOMMU_LOG_ERR,
                    "/dev/iommu: %s (a kernel without CONFIG_IOMMUFD?)",
                    strerror(errno));
        free(s);
        return err;
    }
    h->state = s;
    return 0;
}

static void fd_release(struct viommu_vfio *h)
{
    struct iommufd *s = h->state;

    while (s->stale != NULL) {
        struct ioas *t = s->stale;
        s->stale = t->next;
        object_destroy(h, t->id);
        free(t);
    }
    close(s->fd);
    free(s);
}

static int fd_open(struct viommu_vfio_device *d)
{
    char cdev[32], path[64];

    if (hostsys_device_vfio_cdev(SYSFS_ROOT, d->bdf, cdev, sizeof(cdev)) != 0) {
        backend_log(d->h, VIOMMU_LOG_ERR,
                    "%s: no VFIO device cdev (a kernel without "
                    "CONFIG_VFIO_DEVICE_CDEV?)",
                    d->bdf);
        return -ENOENT;
    }
    snprintf(path, sizeof(path), "/dev/vfio/devices/%s", cdev);
    d->fd = open(path, O_RDWR | O_CLOEXEC);
    if (d->fd < 0) {
        int err = -errno;
        backend_log(d->h, VIOMMU_LOG_ERR, "%s: %s: %s", d->bdf, path,
                    strerror(errno));
        return err;
    }
    struct vfio_device_bind_iommufd bind = {.argsz = sizeof(bind),
                                            .iommufd = iommufd_of(d->h)};
    int err = 0;
    if (ioctl(d->fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) != 0) {
        err = -errno;
        backend_log(d->h, VIOMMU_LOG_ERR, "%s: VFIO_DEVICE_BIND_IOMMUFD: %s",
                    d->bdf, strerror(errno));
    } else {
        err = read_ranges(d);
    }
    if (err != 0) {
        close(d->fd); /* unbinds it */
        d->fd = -1;
    }
    return err;
}

static void fd_close(struct viommu_vfio_device *d)
{
    close(d->fd);
}

const struct backend_ops iommufd_backend = {
    .init = fd_init,
    .release = fd_release,
    .open = fd_open,
    .close = fd_close,
    .host_ops = &host_ops,
    .host_ctx = host_ctx,
};
