/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VFIO type1 (v2): one container per IOMMU group, which is one host
 * context for the library. A container cannot block one device of its
 * group: the group's devices reach what the container maps, which is the
 * one domain the library lets the group be in (a group is never split).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "../hostsys/sysfs.h"
#include "backend.h"
#include "ram.h"
#include "type1.h"

/* The handle's state: every group opened, kept (closed) after its last
 * device so that a stale host context is never freed memory. */
struct type1 {
    struct type1_group *groups;
};

/* A device's state is its group. */
struct type1_group {
    struct viommu_vfio *h;
    uint32_t id;
    int group_fd;
    int container_fd;
    unsigned devices;  /* open devices of the group */
    unsigned attached; /* their endpoints attached to a domain */
    bool identity;     /* all RAM mapped at IOVA = gpa (a bypass domain) */
    struct viommu_host_geometry geometry;
    struct type1_group *next;
};

static int t1_map(void *table, uint64_t iova, uint64_t hva, uint64_t length,
                  uint32_t flags)
{
    struct type1_group *g = table;
    struct vfio_iommu_type1_dma_map m = {
        .argsz = sizeof(m),
        .flags = ((flags & VIOMMU_XLATE_READ) ? VFIO_DMA_MAP_FLAG_READ : 0) |
                 ((flags & VIOMMU_XLATE_WRITE) ? VFIO_DMA_MAP_FLAG_WRITE : 0),
        .vaddr = hva,
        .iova = iova,
        .size = length,
    };

    return ioctl(g->container_fd, VFIO_IOMMU_MAP_DMA, &m) == 0 ? 0 : -errno;
}

static int t1_unmap(void *table, uint64_t iova, uint64_t last)
{
    struct type1_group *g = table;
    bool all = iova == 0 && last == UINT64_MAX; /* a size has 64 bits */
    struct vfio_iommu_type1_dma_unmap u = {
        .argsz = sizeof(u),
        .flags = all ? VFIO_DMA_UNMAP_FLAG_ALL : 0,
        .iova = all ? 0 : iova,
        .size = all ? 0 : last - iova + 1,
    };

    return ioctl(g->container_fd, VFIO_IOMMU_UNMAP_DMA, &u) == 0 ? 0 : -errno;
}

static const struct table_ops container = {t1_map, t1_unmap};

/* The group's device of endpoint ep, NULL if it is not one of them. */
static struct viommu_vfio_device *member(struct type1_group *g, uint32_t ep)
{
    struct viommu_vfio_device *d = device_by_endpoint(g->h, ep);

    return d != NULL && d->state == g ? d : NULL;
}

static int t1_attach(void *ctx, uint32_t ep, bool identity)
{
    struct type1_group *g = ctx;
    struct viommu_vfio_device *d = member(g, ep);

    if (d == NULL) {
        return -ENODEV;
    }
    if (identity != g->identity) {
        int err;
        if (g->attached > (d->attached ? 1u : 0u)) {
            return -EOPNOTSUPP; /* the rest of the group stays as it is */
        }
        err = identity ? identity_map(g->h, &container, g)
                       : t1_unmap(g, 0, UINT64_MAX);
        if (err != 0) {
            return err;
        }
        g->identity = identity;
    }
    if (!d->attached) {
        d->attached = true;
        g->attached++;
    }
    return 0;
}

static int t1_detach(void *ctx, uint32_t ep)
{
    struct type1_group *g = ctx;
    struct viommu_vfio_device *d = member(g, ep);

    if (d == NULL || !d->attached) {
        return -ENODEV;
    }
    if (g->attached == 1 && g->identity) {
        int err = t1_unmap(g, 0, UINT64_MAX);
        if (err != 0) {
            return err;
        }
        g->identity = false;
    }
    d->attached = false;
    g->attached--;
    return 0;
}

static int t1_ctx_map(void *ctx, uint64_t iova, uint64_t last, uint64_t gpa,
                      uint32_t flags)
{
    struct type1_group *g = ctx;

    return ram_map(g->h, &container, g, iova, last, gpa, flags);
}

static int t1_ctx_unmap(void *ctx, uint64_t iova, uint64_t last)
{
    return t1_unmap(ctx, iova, last);
}

static const struct viommu_host_ops host_ops = {
    .size = sizeof(struct viommu_host_ops),
    .attach = t1_attach,
    .detach = t1_detach,
    .map = t1_ctx_map,
    .unmap = t1_ctx_unmap,
};

static void *host_ctx(const struct viommu_vfio_device *d)
{
    return d->state;
}

/* Names the members of a group that keep it from being viable. */
static void log_not_viable(const struct viommu_vfio_device *d)
{
    char in_the_way[160] = "";
    struct hostsys_member *m;
    size_t n;

    if (hostsys_group_members(SYSFS_ROOT, d->group_id, &m, &n) != 0) {
        n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        char drv[64];
        if (hostsys_member_driver(SYSFS_ROOT, d->group_id, m[i].name, drv,
                                  sizeof(drv)) == 0 &&
            !hostsys_driver_viable(drv)) {
            size_t used = strlen(in_the_way);
            snprintf(in_the_way + used, sizeof(in_the_way) - used,
                     " %.16s (%.32s)", m[i].name, drv);
        }
    }
    free(m);
    backend_log(d->h, VIOMMU_LOG_ERR,
                "%s: IOMMU group %u is not viable: bound to host drivers:%s",
                d->bdf, d->group_id, in_the_way[0] ? in_the_way : " (unknown)");
}

/* The container's geometry: page sizes and usable IOVA ranges. */
static int read_info(struct type1_group *g, const struct viommu_vfio_device *d)
{
    struct vfio_iommu_type1_info probe = {.argsz = sizeof(probe)};

    if (ioctl(g->container_fd, VFIO_IOMMU_GET_INFO, &probe) != 0) {
        return -errno;
    }
    uint32_t size = probe.argsz;
    struct vfio_iommu_type1_info *info = calloc(1, size);
    if (info == NULL) {
        return -ENOMEM;
    }
    info->argsz = size;
    if (ioctl(g->container_fd, VFIO_IOMMU_GET_INFO, info) != 0) {
        int err = -errno;
        free(info);
        return err;
    }
    struct viommu_host_geometry *geo = &g->geometry;
    geo->size = sizeof(*geo);
    if (info->flags & VFIO_IOMMU_INFO_PGSIZES) {
        geo->page_size_mask = info->iova_pgsizes;
    }
    uint32_t off = (info->flags & VFIO_IOMMU_INFO_CAPS) ? info->cap_offset : 0;
    int err = 0;
    /* Each capability must lie inside the buffer, before it is read. */
    while (err == 0 && off >= sizeof(*info) &&
           off <= size - sizeof(struct vfio_iommu_type1_info_cap_iova_range)) {
        const struct vfio_info_cap_header *cap =
            (const void *)((const char *)info + off);
        if (cap->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
            const struct vfio_iommu_type1_info_cap_iova_range *r =
                (const void *)cap;
            if (r->nr_iovas > VIOMMU_HOST_MAX_RANGES ||
                off + sizeof(*r) + r->nr_iovas * sizeof(r->iova_ranges[0]) >
                    size) {
                backend_log(g->h, VIOMMU_LOG_ERR,
                            "%s: %u IOVA ranges, more than %d", d->bdf,
                            r->nr_iovas, VIOMMU_HOST_MAX_RANGES);
                err = -E2BIG;
                break;
            }
            geo->nr_usable = r->nr_iovas;
            for (uint32_t i = 0; i < r->nr_iovas; i++) {
                geo->usable[i].start = r->iova_ranges[i].start;
                geo->usable[i].end = r->iova_ranges[i].end;
            }
        } else if (cap->id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) {
            const struct vfio_iommu_type1_info_dma_avail *a = (const void *)cap;
            backend_log(g->h, VIOMMU_LOG_INFO,
                        "%s: group %u container: %u DMA mappings available",
                        d->bdf, g->id, a->avail);
        }
        if (cap->next <= off) {
            break;
        }
        off = cap->next;
    }
    free(info);
    return err;
}

/* Opens group d->group_id in a new container of its own. */
static int group_open(struct viommu_vfio_device *d, struct type1_group **out)
{
    struct vfio_group_status status = {.argsz = sizeof(status)};
    char path[64];
    int err;
    struct type1_group *g = calloc(1, sizeof(*g));

    if (g == NULL) {
        return -ENOMEM;
    }
    g->h = d->h;
    g->id = d->group_id;
    snprintf(path, sizeof(path), "/dev/vfio/%u", d->group_id);
    g->group_fd = open(path, O_RDWR | O_CLOEXEC);
    if (g->group_fd < 0) {
        err = -errno;
        backend_log(d->h, VIOMMU_LOG_ERR, "%s: %s: %s", d->bdf, path,
                    strerror(errno));
        goto free_group;
    }
    if (ioctl(g->group_fd, VFIO_GROUP_GET_STATUS, &status) != 0) {
        err = -errno;
        goto close_group;
    }
    if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
        log_not_viable(d);
        err = -EBUSY;
        goto close_group;
    }
    g->container_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
    if (g->container_fd < 0) {
        err = -errno;
        goto close_group;
    }
    if (ioctl(g->container_fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1) {
        backend_log(d->h, VIOMMU_LOG_ERR, "%s: no VFIO type1v2 IOMMU (is "
                    "vfio_iommu_type1 loaded?)", d->bdf);
        err = -EOPNOTSUPP;
        goto close_container;
    }
    if (ioctl(g->group_fd, VFIO_GROUP_SET_CONTAINER, &g->container_fd) != 0) {
        err = -errno;
        backend_log(d->h, VIOMMU_LOG_ERR, "%s: group %u: %s", d->bdf, g->id,
                    errno == EBUSY ? "in use by another process"
                                   : strerror(errno));
        goto close_container;
    }
    if (ioctl(g->container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) != 0) {
        err = -errno;
        backend_log(d->h, VIOMMU_LOG_ERR,
                    "%s: VFIO_SET_IOMMU: %s%s", d->bdf, strerror(errno),
                    errno == EPERM ? " (no interrupt remapping: "
                                     "vfio_iommu_type1 "
                                     "allow_unsafe_interrupts=1)"
                                   : "");
        goto close_container;
    }
    err = read_info(g, d);
    if (err != 0) {
        goto close_container;
    }
    *out = g;
    return 0;

close_container:
    close(g->container_fd); /* also takes the group out of it */
close_group:
    close(g->group_fd);
free_group:
    free(g);
    return err;
}

/* The group's container goes, its mappings with it; the struct stays
 * until viommu_vfio_free(), so that a host context the library may still
 * hold is never freed memory (its calls then find no device: ENODEV). */
static void group_close(struct type1_group *g)
{
    close(g->container_fd);
    close(g->group_fd);
    g->container_fd = g->group_fd = -1;
    g->identity = false;
}

static int t1_init(struct viommu_vfio *h)
{
    h->state = calloc(1, sizeof(struct type1));
    return h->state != NULL ? 0 : -ENOMEM;
}

static void t1_release(struct viommu_vfio *h)
{
    struct type1 *t1 = h->state;

    while (t1->groups != NULL) {
        struct type1_group *g = t1->groups;
        t1->groups = g->next;
        free(g);
    }
    free(t1);
}

static int t1_open(struct viommu_vfio_device *d)
{
    struct viommu_vfio *h = d->h;
    struct type1 *t1 = h->state;
    struct type1_group *g;
    int err;

    for (g = t1->groups; g != NULL; g = g->next) {
        if (g->id == d->group_id && g->group_fd >= 0) {
            break;
        }
    }
    if (g == NULL) {
        err = group_open(d, &g);
        if (err != 0) {
            return err;
        }
        g->next = t1->groups;
        t1->groups = g;
    }
    d->fd = ioctl(g->group_fd, VFIO_GROUP_GET_DEVICE_FD, d->bdf);
    if (d->fd < 0) {
        err = -errno;
        backend_log(h, VIOMMU_LOG_ERR, "%s: VFIO_GROUP_GET_DEVICE_FD: %s",
                    d->bdf, strerror(errno));
        if (g->devices == 0) {
            group_close(g);
        }
        return err;
    }
    g->devices++;
    d->state = g;
    d->geometry = g->geometry;
    return 0;
}

static void t1_close(struct viommu_vfio_device *d)
{
    struct type1_group *g = d->state;

    close(d->fd);
    if (--g->devices == 0) {
        group_close(g);
    }
}

const struct backend_ops type1_backend = {
    .init = t1_init,
    .release = t1_release,
    .open = t1_open,
    .close = t1_close,
    .host_ops = &host_ops,
    .host_ctx = host_ctx,
};
