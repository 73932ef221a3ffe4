/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A vfio-user client for tests, playing QEMU's vfio-user-pci: the version
 * handshake, DMA_MAP of guest RAM with its fd, region and irq queries,
 * region accesses, SET_IRQS with eventfds, reset. It can also send any
 * bytes and fds, to misbehave on purpose.
 */
#ifndef VIOMMU_TESTING_VFIO_USER_CLIENT_H
#define VIOMMU_TESTING_VFIO_USER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/vfio.h>

#include "sockmsg.h"
#include "vfio_user_proto.h"

#define VFUC_MAX_FDS SOCKMSG_MAX_FDS
#define VFUC_MAX_MSG (2u << 20)

struct vfuc {
    int sock; /* -1: not connected */
    uint16_t next_id;
    /* The last reply: header, payload (VFUC_MAX_MSG), the fds it carried
     * (owned by the caller once read). */
    struct vfio_user_hdr hdr;
    uint8_t *payload;
    size_t len;
    int fds[VFUC_MAX_FDS];
    unsigned nfds;
    char caps[512]; /* the server's VERSION JSON */
};

/* Connects to the server's socket (waiting up to 2 s for it to appear);
 * false if it cannot. */
bool vfuc_connect(struct vfuc *c, const char *path);
void vfuc_close(struct vfuc *c);

/* Sends a message: header with a fresh id and `size` (0: the real size),
 * payload, fds. False if the server hung up. */
bool vfuc_send(struct vfuc *c, uint16_t cmd, uint32_t flags, uint32_t size,
               const void *payload, size_t len, const int *fds, unsigned nfds);
/* Raw bytes with fds, as one sendmsg. */
bool vfuc_send_raw(struct vfuc *c, const void *buf, size_t len, const int *fds,
                   unsigned nfds);
/* Receives one reply (up to 2 s): 0 with c->hdr, c->payload, c->len;
 * -EPIPE when the server hung up; -ETIMEDOUT. Fds of an earlier reply
 * still unread are closed. */
int vfuc_recv(struct vfuc *c);
/* True when the server hangs up within ms (nothing else arriving). */
bool vfuc_hung_up(struct vfuc *c, int ms);

/* Sends a command and waits for its reply: 0, -errno of an error reply,
 * -EPIPE (hang up) or -ETIMEDOUT; also -EPROTO for a reply that does not
 * match the command. The reply payload is in c->payload. */
int vfuc_call(struct vfuc *c, uint16_t cmd, const void *payload, size_t len,
              const int *fds, unsigned nfds);

/* VERSION 0.1 with QEMU's capabilities. */
int vfuc_version(struct vfuc *c);
int vfuc_dma_map(struct vfuc *c, uint64_t iova, uint64_t size, int fd,
                 uint64_t offset, uint32_t flags);
int vfuc_dma_unmap(struct vfuc *c, uint64_t iova, uint64_t size,
                   uint32_t flags);
int vfuc_device_info(struct vfuc *c, struct vfio_device_info *info);
/* Region info (without capabilities); *fd the fd that came with it, or
 * -1 (the caller closes it). */
int vfuc_region_info(struct vfuc *c, uint32_t index,
                     struct vfio_region_info *info, int *fd);
int vfuc_irq_info(struct vfuc *c, uint32_t index, struct vfio_irq_info *info);
/* DATA_EVENTFD | ACTION_TRIGGER for sub-indexes [start, start + n). */
int vfuc_set_irq_eventfds(struct vfuc *c, uint32_t index, uint32_t start,
                          const int *fds, unsigned n);
int vfuc_region_read(struct vfuc *c, uint32_t region, uint64_t offset,
                     void *buf, uint32_t count);
int vfuc_region_write(struct vfuc *c, uint32_t region, uint64_t offset,
                      const void *buf, uint32_t count);
int vfuc_reset(struct vfuc *c);

#endif
