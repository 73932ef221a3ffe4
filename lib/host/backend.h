/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The host backends (include/viommu/vfio.h): the handle and device that
 * vfio.c keeps, and the table through which it calls the backend it
 * picked at viommu_vfio_new(), VFIO type1 (type1.c) or iommufd
 * (iommufd.c). They sit on the public API of the device core, nothing
 * below it; each backend keeps its own state behind the opaque pointers.
 */
#ifndef VIOMMU_HOST_BACKEND_H
#define VIOMMU_HOST_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "viommu/vfio.h"

/* Where the library reads what Linux says of the host. */
#define SYSFS_ROOT "/sys"

#define MAX_RESV 16

struct viommu_vfio;
struct viommu_vfio_device;

struct backend_ops {
    /* At viommu_vfio_new(): sets h->state, or logs why not and returns
     * -errno. */
    int (*init)(struct viommu_vfio *h);
    /* At viommu_vfio_free(), with no device open: undoes init. */
    void (*release)(struct viommu_vfio *h);
    /* viommu_vfio_open()'s backend half: d has its address, group and
     * reserved regions; sets its fd, geometry and state, or undoes what
     * it did and returns -errno. */
    int (*open)(struct viommu_vfio_device *d);
    /* viommu_vfio_close()'s: d's endpoint is attached to no domain. */
    void (*close)(struct viommu_vfio_device *d);
    /* What the device's endpoint is declared with. */
    const struct viommu_host_ops *host_ops;
    void *(*host_ctx)(const struct viommu_vfio_device *d);
};

struct viommu_vfio {
    struct viommu_vfio_config cfg;
    const struct backend_ops *backend;
    void *state;                                       /* the backend's */
    struct viommu_ram_region ram[VIOMMU_VFIO_MAX_RAM]; /* sorted by gpa */
    size_t nr_ram;
    struct viommu_vfio_device *devices;
};

struct viommu_vfio_device {
    struct viommu_vfio *h;
    char bdf[16]; /* 0000:00:00.0 */
    uint32_t endpoint;
    uint32_t group_id;
    int fd;
    bool attached; /* to a guest domain: not closed until detached */
    void *state;   /* the backend's */
    struct viommu_resv_region resv[MAX_RESV];
    size_t nr_resv;
    struct viommu_host_geometry geometry;
    struct viommu_vfio_device *next;
};

void backend_log(const struct viommu_vfio *h, enum viommu_log_level level,
                 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The open device whose endpoint is `endpoint`, or NULL. */
struct viommu_vfio_device *device_by_endpoint(const struct viommu_vfio *h,
                                              uint32_t endpoint);

#endif
