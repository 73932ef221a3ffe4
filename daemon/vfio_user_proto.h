/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vfio-user protocol's header, numbers and message layouts (QEMU
 * docs/interop/vfio-user.rst), the ones this server speaks: said once,
 * for the server and for the test kit's client that plays QEMU. The
 * device structs inside messages are linux/vfio.h's.
 */
#ifndef VIOMMU_DAEMON_VFIO_USER_PROTO_H
#define VIOMMU_DAEMON_VFIO_USER_PROTO_H

#include <stdint.h>

/* Commands. */
enum {
    VFIO_USER_VERSION = 1,
    VFIO_USER_DMA_MAP = 2,
    VFIO_USER_DMA_UNMAP = 3,
    VFIO_USER_DEVICE_GET_INFO = 4,
    VFIO_USER_DEVICE_GET_REGION_INFO = 5,
    VFIO_USER_DEVICE_GET_IRQ_INFO = 7,
    VFIO_USER_DEVICE_SET_IRQS = 8,
    VFIO_USER_REGION_READ = 9,
    VFIO_USER_REGION_WRITE = 10,
    VFIO_USER_DEVICE_RESET = 13,
};

/* Every message starts with it; size counts the header too. */
struct vfio_user_hdr {
    uint16_t id;
    uint16_t cmd;
    uint32_t size;
    uint32_t flags;
    uint32_t error; /* an error reply's errno */
};
#define VFIO_USER_HDR 16

#define VFIO_USER_TYPE_MASK 0xfu
#define VFIO_USER_TYPE_COMMAND 0u
#define VFIO_USER_TYPE_REPLY 1u
#define VFIO_USER_NO_REPLY (1u << 4)
#define VFIO_USER_ERROR (1u << 5)

/* VERSION: the one major version, and the minor this side speaks. */
#define VFIO_USER_MAJOR 0
#define VFIO_USER_MINOR 1

struct vfio_user_dma_map {
    uint32_t argsz, flags;
    uint64_t offset, addr, size;
};
#define VFIO_USER_DMA_READ (1u << 0)
#define VFIO_USER_DMA_WRITE (1u << 1)

struct vfio_user_dma_unmap {
    uint32_t argsz, flags;
    uint64_t addr, size;
};
#define VFIO_USER_UNMAP_ALL (1u << 1) /* VFIO_DMA_UNMAP_FLAG_ALL */

/* REGION_READ and REGION_WRITE, before their data. */
struct vfio_user_rw {
    uint64_t offset;
    uint32_t region, count;
};

_Static_assert(sizeof(struct vfio_user_hdr) == VFIO_USER_HDR, "header");
_Static_assert(sizeof(struct vfio_user_dma_map) == 32, "dma map");
_Static_assert(sizeof(struct vfio_user_dma_unmap) == 24, "dma unmap");
_Static_assert(sizeof(struct vfio_user_rw) == 16, "region rw");

#endif
