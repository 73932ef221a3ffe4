/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The host backends (include/viommu/vfio.h): what VFIO type1 and iommufd
 * share. They sit on the public API of the device core, nothing below it.
 */
#ifndef VIOMMU_HOST_BACKEND_H
#define VIOMMU_HOST_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "viommu/vfio.h"

/* Where the library reads what Linux says of the host. */
#define SYSFS_ROOT "/sys"

#define MAX_RESV 16

struct type1_group;
struct ioas;

struct viommu_vfio {
    struct viommu_vfio_config cfg;
    int iommufd; /* iommufd: /dev/iommu; type1: -1 */
    struct viommu_ram_region ram[VIOMMU_VFIO_MAX_RAM]; /* sorted by gpa */
    size_t nr_ram;
    struct viommu_vfio_device *devices;
    /* type1: every group opened, kept (closed) after its last device so
     * that a stale host context is never freed memory. */
    struct type1_group *groups;
    /* iommufd: tables the kernel would not destroy, emptied, to retry. */
    struct ioas *stale;
};

struct viommu_vfio_device {
    struct viommu_vfio *h;
    char bdf[16]; /* 0000:00:00.0 */
    uint32_t endpoint;
    uint32_t group_id;
    int fd;
    bool attached;
    uint32_t devid;            /* iommufd: the bound device's ID */
    struct type1_group *group; /* type1: its group's container */
    struct viommu_resv_region resv[MAX_RESV];
    size_t nr_resv;
    struct viommu_host_geometry geometry;
    struct viommu_vfio_device *next;
};

/* A table of IOVA -> guest RAM in the host: a type1 container or an IOAS,
 * and how to map one contiguous piece of host memory into it and take
 * every host mapping inside [iova, last] out of it (nothing there is no
 * error; [0, UINT64_MAX] is one call). */
struct table_ops {
    int (*map)(void *table, uint64_t iova, uint64_t hva, uint64_t length,
               uint32_t flags);
    int (*unmap)(void *table, uint64_t iova, uint64_t last);
};

void backend_log(const struct viommu_vfio *h, enum viommu_log_level level,
                 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Maps guest [iova, last] -> gpa: its RAM parts, one host call each (none
 * without RAM or without access). All or nothing. */
int ram_map(const struct viommu_vfio *h, const struct table_ops *t,
            void *table, uint64_t iova, uint64_t last, uint64_t gpa,
            uint32_t flags);
/* All RAM at IOVA = gpa (a bypass domain); its table holds nothing else,
 * so it goes with an unmap of everything. */
int identity_map(const struct viommu_vfio *h, const struct table_ops *t,
                 void *table);

/* The open device whose endpoint is `endpoint`, or NULL. */
struct viommu_vfio_device *device_by_endpoint(const struct viommu_vfio *h,
                                              uint32_t endpoint);

/* Backend halves of viommu_vfio_open()/close(): d has its address, group
 * and reserved regions; they set fd and geometry, or undo what they did. */
int type1_open(struct viommu_vfio_device *d);
void type1_close(struct viommu_vfio_device *d);
void type1_release(struct viommu_vfio *h); /* at viommu_vfio_free */
extern const struct viommu_host_ops type1_ops;
int iommufd_open(struct viommu_vfio_device *d);
void iommufd_close(struct viommu_vfio_device *d);
void iommufd_release(struct viommu_vfio *h); /* at viommu_vfio_free */
extern const struct viommu_host_ops iommufd_ops;

/* The host context the device's endpoint is declared with. */
void *type1_ctx(const struct viommu_vfio_device *d);

#endif
