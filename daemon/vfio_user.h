/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Assigned host devices served to the VMM over vfio-user (QEMU
 * docs/interop/vfio-user.rst; QEMU 10.1+ `vfio-user-pci`). One server per
 * device, each on its own listening socket and serving one client at a
 * time, all in the daemon's single poll loop. The VMM relays config space,
 * BARs (or maps them itself from the VFIO device fd it is given) and
 * interrupts (its eventfds go straight to VFIO_DEVICE_SET_IRQS), while the
 * device's DMA goes through the host IOMMU with exactly the guest's
 * virtio-iommu mappings of the device's endpoint: IOVA -> guest-physical
 * from the device core, guest-physical -> the daemon's mapping of guest
 * RAM from the DMA_MAP messages and the vhost-user memory table.
 *
 * Messages are read as they come, never past the one being read, and only
 * while no reply waits to be sent: a client that stops inside a message
 * or never reads holds only its own connection. A message that cannot be
 * framed ends the connection; one that is framed but wrong gets an error
 * reply.
 *
 * Lifecycle: declaring a device opens it and declares its endpoint. The
 * client leaving removes the endpoint as removal does and closes the
 * device (its DMA state, interrupts and fds released); only then does the
 * removal event go out. The next client opens it and declares it again.
 */
#ifndef VIOMMU_DAEMON_VFIO_USER_H
#define VIOMMU_DAEMON_VFIO_USER_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <viommu/vfio.h>
#include <viommu/viommu.h>

#include "mem.h"

#define VFU_MAX_DEVICES 8
#define VFU_MAX_FDS 8           /* max_msg_fds: fds one message may carry */
#define VFU_MAX_XFER (1u << 20) /* max_data_xfer_size, the spec's default */
#define VFU_MAX_DMA 64          /* DMA_MAP windows of one client */
#define VFU_MAX_REGIONS 16      /* device regions served */
#define VFU_MAX_IRQ_SET 2048    /* sub-indexes of one SET_IRQS */
#define VFU_HDR 16
/* The largest message either way: a REGION_READ reply or REGION_WRITE with
 * the most data, or a SET_IRQS with a boolean per sub-index. */
#define VFU_MAX_MSG (VFU_HDR + 16 + VFU_MAX_XFER)

/*
 * The host side of an assigned device, as the server needs it. In the
 * daemon it is the library's VFIO backend (vfio_host.c); the functional
 * tests link a device model instead (testing/vfio_model.c), so that the
 * protocol and hostile clients run without VFIO. `ioctl` takes the VFIO
 * device ioctls (linux/vfio.h) the server relays: GET_INFO,
 * GET_REGION_INFO, GET_IRQ_INFO, SET_IRQS, RESET.
 */
struct vfu_host_ops {
    /* A host handle for all devices: VFIO type1, or iommufd. */
    int (*host_new)(bool iommufd, void **host);
    void (*host_free)(void *host);
    /* The guest RAM layout (viommu_vfio_set_ram). */
    int (*set_ram)(void *host, const struct viommu_ram_region *r, size_t n);
    /* viommu_vfio_open, viommu_vfio_endpoint, viommu_vfio_close. */
    int (*open)(void *host, const char *bdf, uint32_t endpoint, void **dev);
    int (*endpoint)(void *dev, struct viommu_endpoint_config *ep);
    int (*close)(void *dev);
    /* The device fd a client may mmap regions of (offsets as
     * GET_REGION_INFO says). */
    int (*fd)(void *dev);
    int (*ioctl)(void *dev, unsigned long request, void *arg);
    ssize_t (*pread)(void *dev, void *buf, size_t len, uint64_t off);
    ssize_t (*pwrite)(void *dev, const void *buf, size_t len, uint64_t off);
};

/* Linked with the daemon: vfio_host.c, or a model in tests. */
extern const struct vfu_host_ops vfu_host_ops;

struct vfu_dma {
    uint64_t iova, size; /* guest-physical while the VMM has no IOMMU */
    uint8_t *base;       /* the daemon's view of it; NULL: no fd given */
    size_t skew;         /* base - the mapping's start (huge pages) */
};

struct vfu_region {
    uint32_t flags; /* VFIO_REGION_INFO_FLAG_* */
    uint64_t size, offset;
};

struct vfu_conn {
    int fd; /* -1: no client */
    bool versioned;
    /* The message being received: header, then payload, and its fds. */
    uint8_t *rx; /* VFU_MAX_MSG */
    size_t rx_have;
    int rx_fds[VFU_MAX_FDS];
    unsigned rx_nfds;
    /* The reply not sent yet, and the fd to send with its first byte. */
    uint8_t *tx; /* VFU_MAX_MSG */
    size_t tx_len, tx_off;
    int tx_fd;
    struct vfu_dma dma[VFU_MAX_DMA];
    unsigned nr_dma;
};

struct vfu_device {
    bool used;
    char path[108];
    char bdf[32];
    uint32_t endpoint;
    int listen_fd;
    void *dev;     /* open host device, NULL: closed */
    bool declared; /* its endpoint is declared in the device core */
    uint32_t num_regions, num_irqs, info_flags;
    struct vfu_region regions[VFU_MAX_REGIONS];
    struct vfu_conn conn;
};

struct vfu_set {
    const struct vfu_host_ops *ops;
    bool iommufd;
    void *host; /* created with the first device */
    struct viommu *v;
    struct vfu_device devs[VFU_MAX_DEVICES];
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

void vfu_init(struct vfu_set *s, const struct vfu_host_ops *ops, bool iommufd);
/* Closes every client and device, and frees the host. */
void vfu_fini(struct vfu_set *s);

/*
 * Declares a device: opens `bdf` on the host, declares endpoint `endpoint`
 * with its host geometry and listens on `path`. -EINVAL for bad arguments,
 * -EEXIST for an endpoint or path already used, -ENOSPC for more than
 * VFU_MAX_DEVICES, else the host's or the device core's error (logged);
 * nothing stays declared on error.
 */
int vfu_device_add(struct vfu_set *s, const char *path, const char *bdf,
                   uint32_t endpoint);
/* Ends its client, removes the endpoint, closes the device, stops
 * listening. -ENOENT when no device has this endpoint. */
int vfu_device_remove(struct vfu_set *s, uint32_t endpoint);
/* "PATH,BDF,ENDPOINT" of --vfio-user; -EINVAL with *why set. */
int vfu_device_add_text(struct vfu_set *s, const char *text, const char **why);

/* For viommu_config.endpoint_removed, with the set as opaque: passes the
 * event on to s->removed, except while the set itself removes a device's
 * endpoint (then it follows the device's release). */
void vfu_endpoint_removed(void *opaque, uint32_t id, int host_err);
/* Whether endpoint is a served device's: device-remove releases those. */
bool vfu_serves(struct vfu_set *s, uint32_t endpoint);

/* Fills pfd with what to watch (at most 2 * VFU_MAX_DEVICES); returns how
 * many. */
unsigned vfu_poll_fds(const struct vfu_set *s, struct pollfd *pfd);
/* Serves what poll reported on the fds vfu_poll_fds() gave. */
void vfu_serve(struct vfu_set *s, const struct pollfd *pfd, unsigned n);
/* Gives the host the RAM layout again if the vhost-user memory table
 * changed since it was last given. */
void vfu_sync_ram(struct vfu_set *s);

#endif
