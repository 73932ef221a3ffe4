/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The host side of the vfio-user server in the daemon: the library's VFIO
 * backend (include/viommu/vfio.h), and the VFIO device fd for everything
 * the server relays.
 */
#include <errno.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <viommu/vfio.h>

#include "log.h"
#include "vfio_user.h"

static int host_new(bool iommufd, void **host)
{
    struct viommu_vfio *h;
    struct viommu_vfio_config cfg = {
        .size = sizeof(cfg),
        .backend = iommufd ? VIOMMU_VFIO_IOMMUFD : VIOMMU_VFIO_TYPE1,
        .log = dlog_device,
    };
    int err = viommu_vfio_new(&cfg, &h);

    *host = err == 0 ? h : NULL;
    return err;
}

static void host_free(void *host)
{
    /* Only called with every device closed. */
    if (viommu_vfio_free(host) != 0) {
        dlog(VIOMMU_LOG_ERR, "vfio-user: host backend still has devices");
    }
}

static int set_ram(void *host, const struct viommu_ram_region *r, size_t n)
{
    return viommu_vfio_set_ram(host, r, n);
}

static int dev_open(void *host, const char *bdf, uint32_t endpoint, void **dev)
{
    struct viommu_vfio_device *d;
    int err = viommu_vfio_open(host, bdf, endpoint, &d);

    *dev = err == 0 ? d : NULL;
    return err;
}

static int dev_endpoint(void *dev, struct viommu_endpoint_config *ep)
{
    return viommu_vfio_endpoint(dev, ep);
}

static int dev_close(void *dev)
{
    return viommu_vfio_close(dev);
}

static int dev_ioctl(void *dev, unsigned long request, void *arg)
{
    return ioctl(viommu_vfio_device_fd(dev), request, arg) < 0 ? -errno : 0;
}

static ssize_t dev_pread(void *dev, void *buf, size_t len, uint64_t off)
{
    ssize_t n = pread(viommu_vfio_device_fd(dev), buf, len, (off_t)off);
    return n < 0 ? -errno : n;
}

static ssize_t dev_pwrite(void *dev, const void *buf, size_t len, uint64_t off)
{
    ssize_t n = pwrite(viommu_vfio_device_fd(dev), buf, len, (off_t)off);
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
