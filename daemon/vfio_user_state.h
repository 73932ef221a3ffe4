/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vfio-user server's state, shared by its modules (vfio_user.c and the
 * vfio_user_*.c below it): the set of served devices, each with its
 * connection. Its limits are the capabilities VERSION announces.
 */
#ifndef VIOMMU_DAEMON_VFIO_USER_STATE_H
#define VIOMMU_DAEMON_VFIO_USER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <viommu/vfio.h>
#include <viommu/viommu.h>

#include "mem.h"
#include "vfio_user_proto.h"

#define VFIO_USER_MAX_DEVICES 8
#define VFIO_USER_MAX_FDS 8 /* max_msg_fds: fds one message may carry */
#define VFIO_USER_MAX_XFER                                                     \
    (1u << 20)                     /* max_data_xfer_size, the spec's default */
#define VFIO_USER_MAX_DMA 64       /* DMA_MAP windows of one client */
#define VFIO_USER_MAX_REGIONS 16   /* device regions served */
#define VFIO_USER_MAX_IRQ_SET 2048 /* sub-indexes of one SET_IRQS */
/* The largest message either way: a REGION_READ reply or REGION_WRITE with
 * the most data, or a SET_IRQS with a boolean per sub-index. */
#define VFIO_USER_MAX_MSG (VFIO_USER_HDR + 16 + VFIO_USER_MAX_XFER)

/*
 * The host side of an assigned device, as the server needs it. In the
 * daemon it is the library's VFIO backend (vfio_host.c); the functional
 * tests link a device model instead (testing/vfio_model.c), so that the
 * protocol and hostile clients run without VFIO. `ioctl` takes the VFIO
 * device ioctls (linux/vfio.h) the server relays: GET_INFO,
 * GET_REGION_INFO, GET_IRQ_INFO, SET_IRQS, RESET.
 */
struct vfio_user_host_ops {
    /* A host handle for all devices: VFIO type1, or iommufd. */
    int (*host_new)(bool iommufd, void **host);
    void (*host_free)(void *host);
    /* The guest RAM layout (viommu_vfio_set_ram). */
    int (*set_ram)(void *host, const struct viommu_ram_region *r, size_t n);
    /* viommu_vfio_open, viommu_vfio_endpoint, viommu_vfio_close. */
    int (*open)(void *host, const char *bdf, uint32_t endpoint, void **dev);
    int (*endpoint)(void *dev, struct viommu_endpoint_config *ep);
    int (*close)(void *dev);
    int (*ioctl)(void *dev, unsigned long request, void *arg);
    ssize_t (*pread)(void *dev, void *buf, size_t len, uint64_t off);
    ssize_t (*pwrite)(void *dev, const void *buf, size_t len, uint64_t off);
};

/* Linked with the daemon: vfio_host.c, or a model in tests. */
extern const struct vfio_user_host_ops vfio_user_host_ops;

struct vfio_user_dma {
    uint64_t iova, size; /* guest-physical while the VMM has no IOMMU */
    uint8_t *base;       /* the daemon's view of it; NULL: no fd given */
    size_t skew;         /* base - the mapping's start (huge pages) */
    size_t mapped;       /* the mapping's length: whole huge pages */
};

struct vfio_user_region {
    uint32_t flags; /* VFIO_REGION_INFO_FLAG_* */
    uint64_t size, offset;
};

struct vfio_user_conn {
    int fd; /* -1: no client */
    bool versioned;
    /* The message being received: header, then payload, and its fds. */
    uint8_t *rx; /* VFIO_USER_MAX_MSG */
    size_t rx_have;
    int rx_fds[VFIO_USER_MAX_FDS];
    unsigned rx_nfds;
    /* The reply not sent yet. */
    uint8_t *tx; /* VFIO_USER_MAX_MSG */
    size_t tx_len, tx_off;
    struct vfio_user_dma dma[VFIO_USER_MAX_DMA];
    unsigned nr_dma;
};

struct vfio_user_device {
    bool used;
    char path[108];
    char bdf[32];
    uint32_t endpoint;
    int listen_fd;
    void *dev;     /* open host device, NULL: closed */
    bool declared; /* its endpoint is declared in the device core */
    uint32_t num_regions, num_irqs, info_flags;
    struct vfio_user_region regions[VFIO_USER_MAX_REGIONS];
    struct vfio_user_conn conn;
};

struct vfio_user_set {
    const struct vfio_user_host_ops *ops;
    bool iommufd;
    void *host; /* created with the first device */
    struct viommu *v;
    struct vfio_user_device devs[VFIO_USER_MAX_DEVICES];
    /* The vhost-user memory table, part of the RAM layout; and the layout
     * last given to the host. */
    const struct mem_table *vu_mem;
    struct mem_region_desc vu_seen[MEM_MAX_REGIONS];
    uint8_t *vu_seen_base[MEM_MAX_REGIONS];
    unsigned vu_seen_n;
    /* Removal events, sent once a device's host state is released. */
    void (*removed)(void *opaque, uint32_t id, int host_err);
    void *removed_opaque;
    bool deferring;
    uint32_t deferred_id;
    int deferred_err;
};

#endif
