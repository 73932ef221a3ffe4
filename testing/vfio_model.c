/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A device model behind the daemon's vfio-user server, linked in place of
 * the VFIO backend (daemon/vfio_host.c) into the functional tests' daemon,
 * so that the protocol, hostile clients and the DMA path run without VFIO.
 *
 * It answers the VFIO device ioctls the server relays as vfio-pci does
 * (argsz, region and irq info, SET_IRQS with eventfds, RESET), and models
 * an IOMMU-translated DMA engine shaped like QEMU's `edu`:
 *   region 0 (BAR0, 1 MiB, not mmappable): 0x04 liveness (reads ~value
 *     written), 0x10 resets seen, 0x20 status (bit 8: the last transfer
 *     faulted), 0x80 source, 0x88 destination, 0x90 count, 0x98 command
 *     (bit 0 start, bit 1 device -> RAM, bit 2 signal MSI vector 0 when
 *     done). The device side of a transfer is its 4 KiB buffer at 0x40000.
 *     A transfer runs at once, each byte through the IOMMU model.
 *   region 2 (BAR2, 4 KiB): plain memory, mmappable from the device fd.
 *   region 7: config space, 256 bytes (vendor 1234, device 11e8), whose
 *     BARs size as the regions do and which has no ROM, as vfio-pci shows
 *     a device's.
 * The IOMMU model holds exactly what the device core's host ops gave it:
 * IOVA -> the daemon's address of guest RAM, through the RAM layout, as
 * the real backend pins it (what is not RAM: nothing, the DMA faults). An
 * address it does not map faults: nothing is read or written, as with a real
 * IOMMU.
 *
 * Host devices "DDDD:BB:DD.F" exist except on bus ff (-ENODEV).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "vfio_user.h"

#define BAR0_SIZE (1u << 20)
#define BAR2_SIZE 4096u
#define CFG_SIZE 256u
/* Where each region is in the device fd: BAR2 from 0, as it is mmapped. */
#define BAR2_OFF 0ull
#define BAR0_OFF (1ull << 20)
#define CFG_OFF (2ull << 20)
#define EDU_BUF 0x40000u
#define MAX_MAPS 4096

struct model_host {
    struct viommu_ram_region ram[VIOMMU_VFIO_MAX_RAM];
    size_t nr_ram;
};

struct model_map {
    uint64_t iova, last;
    uint64_t gpa;
    uint32_t flags;
};

struct model_dev {
    struct model_host *h;
    uint32_t endpoint;
    int fd; /* memfd: BAR2 */
    bool attached, identity;
    struct model_map *maps;
    size_t nr_maps;
    uint8_t cfg[CFG_SIZE];
    uint8_t cfg_wmask[CFG_SIZE]; /* the bits a write can change */
    uint64_t regs[0x100 / 8];
    uint8_t buf[4096];
    int msi, intx; /* eventfds, -1: none */
    uint64_t resets;
};

static int host_new(bool iommufd, void **host)
{
    (void)iommufd;
    *host = calloc(1, sizeof(struct model_host));
    return *host != NULL ? 0 : -ENOMEM;
}

static void host_free(void *host)
{
    free(host);
}

static int set_ram(void *host, const struct viommu_ram_region *r, size_t n)
{
    struct model_host *h = host;

    if (n > VIOMMU_VFIO_MAX_RAM) {
        return -EINVAL;
    }
    memcpy(h->ram, r, n * sizeof(*r));
    h->nr_ram = n;
    return 0;
}

/* The daemon's address of guest-physical gpa, NULL outside RAM. */
static uint8_t *ram_at(const struct model_host *h, uint64_t gpa)
{
    for (size_t i = 0; i < h->nr_ram; i++) {
        const struct viommu_ram_region *r = &h->ram[i];
        if (gpa >= r->gpa && gpa - r->gpa < r->length) {
            return (uint8_t *)(uintptr_t)(r->hva + (gpa - r->gpa));
        }
    }
    return NULL;
}

/* ---- the IOMMU model (struct viommu_host_ops) ------------------------ */

static int iommu_attach(void *ctx, uint32_t endpoint, bool identity)
{
    struct model_dev *d = ctx;

    (void)endpoint;
    d->attached = true;
    d->identity = identity;
    return 0;
}

static int iommu_detach(void *ctx, uint32_t endpoint)
{
    struct model_dev *d = ctx;

    (void)endpoint;
    d->attached = false;
    d->identity = false;
    return 0;
}

static int iommu_map(void *ctx, uint64_t iova, uint64_t last, uint64_t gpa,
                     uint32_t flags)
{
    struct model_dev *d = ctx;

    /* As the real backend: what is not RAM is not mapped, and the
     * device's DMA there faults (translate() finds no RAM). */
    if (d->nr_maps == MAX_MAPS) {
        return -ENOSPC;
    }
    if (d->maps == NULL) {
        d->maps = calloc(MAX_MAPS, sizeof(*d->maps));
        if (d->maps == NULL) {
            return -ENOMEM;
        }
    }
    d->maps[d->nr_maps++] = (struct model_map){iova, last, gpa, flags};
    return 0;
}

static int iommu_unmap(void *ctx, uint64_t iova, uint64_t last)
{
    struct model_dev *d = ctx;

    for (size_t i = 0; i < d->nr_maps; i++) {
        if (d->maps[i].iova == iova && d->maps[i].last == last) {
            d->maps[i] = d->maps[--d->nr_maps];
            return 0;
        }
    }
    return -ENOENT;
}

static const struct viommu_host_ops iommu_ops = {
    .size = sizeof(iommu_ops),
    .attach = iommu_attach,
    .detach = iommu_detach,
    .map = iommu_map,
    .unmap = iommu_unmap,
};

/* The daemon's address the device reaches at iova, or NULL (a fault). */
static uint8_t *translate(const struct model_dev *d, uint64_t iova, bool write)
{
    if (!d->attached) {
        return NULL;
    }
    if (d->identity) {
        return ram_at(d->h, iova);
    }
    uint32_t need = write ? VIOMMU_XLATE_WRITE : VIOMMU_XLATE_READ;
    for (size_t i = 0; i < d->nr_maps; i++) {
        const struct model_map *m = &d->maps[i];
        if (iova >= m->iova && iova <= m->last && (m->flags & need)) {
            return ram_at(d->h, m->gpa + (iova - m->iova));
        }
    }
    return NULL;
}

/* ---- the device ------------------------------------------------------- */

static int dev_open(void *host, const char *bdf, uint32_t endpoint, void **dev)
{
    unsigned dom, bus, slot, fn;

    if (sscanf(bdf, "%x:%x:%x.%x", &dom, &bus, &slot, &fn) != 4) {
        return -EINVAL;
    }
    if (bus == 0xff) {
        return -ENODEV;
    }
    struct model_dev *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return -ENOMEM;
    }
    d->h = host;
    d->endpoint = endpoint;
    d->msi = d->intx = -1;
    d->fd = memfd_create("model-bar2", MFD_CLOEXEC);
    if (d->fd < 0 || ftruncate(d->fd, BAR2_SIZE) != 0) {
        int err = -errno;
        if (d->fd >= 0) {
            close(d->fd);
        }
        free(d);
        return err;
    }
    const uint8_t ids[4] = {0x34, 0x12, 0xe8, 0x11};
    memcpy(d->cfg, ids, sizeof(ids));
    /* IDs read-only; the BARs keep their low bits clear, as sizing reads
     * them; BARs 1, 3-5 and the ROM are not there. */
    memset(d->cfg_wmask + 4, 0xff, CFG_SIZE - 4);
    memset(d->cfg_wmask + PCI_BASE_ADDRESS_0, 0, 24);
    memset(d->cfg_wmask + PCI_ROM_ADDRESS, 0, 4);
    const uint32_t bar_masks[][2] = {{PCI_BASE_ADDRESS_0, ~(BAR0_SIZE - 1)},
                                     {PCI_BASE_ADDRESS_2, ~(BAR2_SIZE - 1)}};
    for (size_t i = 0; i < 2; i++) {
        for (unsigned b = 0; b < 4; b++) {
            d->cfg_wmask[bar_masks[i][0] + b] =
                (uint8_t)(bar_masks[i][1] >> (8 * b));
        }
    }
    *dev = d;
    return 0;
}

static int dev_endpoint(void *dev, struct viommu_endpoint_config *ep)
{
    struct model_dev *d = dev;

    ep->id = d->endpoint;
    ep->host_ops = &iommu_ops;
    ep->host_ctx = d;
    ep->flags = VIOMMU_EP_GROUP;
    ep->group = 1000 + d->endpoint;
    return 0;
}

static int dev_close(void *dev)
{
    struct model_dev *d = dev;

    if (d->attached) {
        return -EBUSY;
    }
    close(d->fd);
    if (d->msi >= 0) {
        close(d->msi);
    }
    if (d->intx >= 0) {
        close(d->intx);
    }
    free(d->maps);
    free(d);
    return 0;
}

static int region_info(struct vfio_region_info *r)
{
    const uint32_t rw =
        VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;

    if (r->argsz < sizeof(*r) || r->index >= VFIO_PCI_NUM_REGIONS) {
        return -EINVAL;
    }
    r->argsz = sizeof(*r);
    r->cap_offset = 0;
    r->flags = 0;
    r->size = 0;
    r->offset = (uint64_t)r->index << 40;
    switch (r->index) {
    case VFIO_PCI_BAR0_REGION_INDEX:
        r->flags = rw;
        r->size = BAR0_SIZE;
        r->offset = BAR0_OFF;
        break;
    case VFIO_PCI_BAR2_REGION_INDEX:
        r->flags = rw | VFIO_REGION_INFO_FLAG_MMAP;
        r->size = BAR2_SIZE;
        r->offset = BAR2_OFF;
        break;
    case VFIO_PCI_CONFIG_REGION_INDEX:
        r->flags = rw;
        r->size = CFG_SIZE;
        r->offset = CFG_OFF;
        break;
    default:
        break;
    }
    return 0;
}

static int set_irqs(struct model_dev *d, const struct vfio_irq_set *s)
{
    if (s->index != VFIO_PCI_INTX_IRQ_INDEX &&
        s->index != VFIO_PCI_MSI_IRQ_INDEX) {
        return -EINVAL;
    }
    int *slot = s->index == VFIO_PCI_MSI_IRQ_INDEX ? &d->msi : &d->intx;
    uint32_t dt = s->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
    if ((s->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) !=
        VFIO_IRQ_SET_ACTION_TRIGGER) {
        return s->index == VFIO_PCI_INTX_IRQ_INDEX ? 0 : -EINVAL;
    }
    if (dt == VFIO_IRQ_SET_DATA_NONE && s->count == 0) {
        if (*slot >= 0) {
            close(*slot);
            *slot = -1;
        }
        return 0;
    }
    if (s->start != 0 || s->count != 1) {
        return -EINVAL;
    }
    if (dt == VFIO_IRQ_SET_DATA_EVENTFD) {
        int32_t fd;
        memcpy(&fd, s->data, sizeof(fd));
        int mine = fd >= 0 ? dup(fd) : -1;
        if (fd >= 0 && mine < 0) {
            return -errno;
        }
        if (*slot >= 0) {
            close(*slot);
        }
        *slot = mine;
        return 0;
    }
    /* DATA_NONE or DATA_BOOL: trigger it now. */
    if (*slot >= 0 && (dt == VFIO_IRQ_SET_DATA_NONE || s->data[0])) {
        uint64_t one = 1;
        if (write(*slot, &one, sizeof(one)) != sizeof(one)) {
            return -EIO;
        }
    }
    return 0;
}

static int dev_ioctl(void *dev, unsigned long request, void *arg)
{
    struct model_dev *d = dev;

    switch (request) {
    case VFIO_DEVICE_GET_INFO: {
        struct vfio_device_info *i = arg;
        if (i->argsz < 16) {
            return -EINVAL;
        }
        i->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
        i->num_regions = VFIO_PCI_NUM_REGIONS;
        i->num_irqs = VFIO_PCI_NUM_IRQS;
        return 0;
    }
    case VFIO_DEVICE_GET_REGION_INFO:
        return region_info(arg);
    case VFIO_DEVICE_GET_IRQ_INFO: {
        struct vfio_irq_info *i = arg;
        if (i->argsz < sizeof(*i) || i->index >= VFIO_PCI_NUM_IRQS) {
            return -EINVAL;
        }
        i->flags = 0;
        i->count = 0;
        if (i->index == VFIO_PCI_INTX_IRQ_INDEX ||
            i->index == VFIO_PCI_MSI_IRQ_INDEX) {
            i->flags = VFIO_IRQ_INFO_EVENTFD;
            i->count = 1;
        }
        return 0;
    }
    case VFIO_DEVICE_SET_IRQS:
        return set_irqs(d, arg);
    case VFIO_DEVICE_RESET:
        memset(d->regs, 0, sizeof(d->regs));
        memset(d->buf, 0, sizeof(d->buf));
        d->resets++;
        return 0;
    default:
        return -ENOTTY;
    }
}

/* A transfer, byte by byte through the IOMMU model: the bytes before a
 * fault have moved, as a real device's would. */
static void dma(struct model_dev *d)
{
    uint64_t cmd = d->regs[0x98 / 8], src = d->regs[0x80 / 8];
    uint64_t dst = d->regs[0x88 / 8], count = d->regs[0x90 / 8];
    bool to_ram = cmd & 2;
    bool fault = false;

    if (count > sizeof(d->buf)) {
        count = sizeof(d->buf);
    }
    for (uint64_t i = 0; i < count && !fault; i++) {
        if (to_ram) {
            uint8_t *p = translate(d, dst + i, true);
            uint64_t at = src - EDU_BUF + i;
            if (p == NULL || at >= sizeof(d->buf)) {
                fault = true;
            } else {
                *p = d->buf[at];
            }
        } else {
            const uint8_t *p = translate(d, src + i, false);
            uint64_t at = dst - EDU_BUF + i;
            if (p == NULL || at >= sizeof(d->buf)) {
                fault = true;
            } else {
                d->buf[at] = *p;
            }
        }
    }
    d->regs[0x20 / 8] = fault ? 0x100 : 0;
    d->regs[0x98 / 8] = cmd & ~1ull;
    if ((cmd & 4) && d->msi >= 0) {
        uint64_t one = 1;
        if (write(d->msi, &one, sizeof(one)) != sizeof(one)) {
            d->regs[0x20 / 8] |= 0x200;
        }
    }
}

static ssize_t dev_pread(void *dev, void *buf, size_t len, uint64_t off)
{
    struct model_dev *d = dev;

    if (off >= CFG_OFF && off - CFG_OFF <= CFG_SIZE &&
        len <= CFG_SIZE - (off - CFG_OFF)) {
        memcpy(buf, d->cfg + (off - CFG_OFF), len);
        return (ssize_t)len;
    }
    if (off >= BAR0_OFF && off - BAR0_OFF < BAR0_SIZE &&
        len <= BAR0_SIZE - (off - BAR0_OFF)) {
        uint64_t at = off - BAR0_OFF;
        memset(buf, 0, len);
        if (at < sizeof(d->regs)) {
            d->regs[0x10 / 8] = d->resets;
            size_t n = len < sizeof(d->regs) - at ? len : sizeof(d->regs) - at;
            memcpy(buf, (uint8_t *)d->regs + at, n);
        }
        return (ssize_t)len;
    }
    ssize_t n = pread(d->fd, buf, len, (off_t)off);
    return n < 0 ? -errno : n;
}

static ssize_t dev_pwrite(void *dev, const void *buf, size_t len, uint64_t off)
{
    struct model_dev *d = dev;

    if (off >= CFG_OFF && off - CFG_OFF <= CFG_SIZE &&
        len <= CFG_SIZE - (off - CFG_OFF)) {
        const uint8_t *in = buf;
        for (size_t i = 0, at = off - CFG_OFF; i < len; i++, at++) {
            d->cfg[at] = (uint8_t)((d->cfg[at] & ~d->cfg_wmask[at]) |
                                   (in[i] & d->cfg_wmask[at]));
        }
        return (ssize_t)len;
    }
    if (off >= BAR0_OFF && off - BAR0_OFF < BAR0_SIZE &&
        len <= BAR0_SIZE - (off - BAR0_OFF)) {
        uint64_t at = off - BAR0_OFF;
        if (at < sizeof(d->regs)) {
            size_t n = len < sizeof(d->regs) - at ? len : sizeof(d->regs) - at;
            memcpy((uint8_t *)d->regs + at, buf, n);
            if (at <= 4 && at + n >= 8) {
                uint32_t v;
                memcpy(&v, (uint8_t *)d->regs + 4, 4);
                v = ~v;
                memcpy((uint8_t *)d->regs + 4, &v, 4);
            }
            if (at <= 0x98 && at + n > 0x98 && (d->regs[0x98 / 8] & 1)) {
                dma(d);
            }
        }
        return (ssize_t)len;
    }
    ssize_t n = pwrite(d->fd, buf, len, (off_t)off);
    return n < 0 ? -errno : n;
}

const struct vfio_user_host_ops vfio_user_host_ops = {
    .host_new = host_new,
    .host_free = host_free,
    .set_ram = set_ram,
    .open = dev_open,
    .endpoint = dev_endpoint,
    .close = dev_close,
    .ioctl = dev_ioctl,
    .pread = dev_pread,
    .pwrite = dev_pwrite,
};
