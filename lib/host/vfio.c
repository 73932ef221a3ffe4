/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The part of the host backends that type1 and iommufd share: the handle,
 * the guest RAM layout and the guest-physical -> host-virtual walk, and
 * what sysfs says of a device (its group, its driver, the group's reserved
 * regions: lib/hostsys reads them).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../abi.h"
#include "../hostsys/pci.h"
#include "../hostsys/sysfs.h"
#include "backend.h"

void backend_log(const struct viommu_vfio *h, enum viommu_log_level level,
                 const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    if (h->cfg.log == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    h->cfg.log(h->cfg.log_opaque, level, VIOMMU_LOG_SOURCE_DEVICE, msg);
}

int viommu_vfio_new(const struct viommu_vfio_config *config,
                    struct viommu_vfio **out)
{
    struct viommu_vfio *h;

    if (out == NULL) {
        return -EINVAL;
    }
    *out = NULL;
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return -ENOMEM;
    }
    int err = copy_versioned(&h->cfg, sizeof(h->cfg), config,
                             ABI_FIRST_SIZE(struct viommu_vfio_config));
    if (err == 0 && h->cfg.backend != VIOMMU_VFIO_TYPE1 &&
        h->cfg.backend != VIOMMU_VFIO_IOMMUFD) {
        err = -EINVAL;
    }
    h->iommufd = -1;
    if (err == 0 && h->cfg.backend == VIOMMU_VFIO_IOMMUFD) {
        h->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
        if (h->iommufd < 0) {
            err = -errno;
            backend_log(h, VIOMMU_LOG_ERR,
                        "/dev/iommu: %s (a kernel without CONFIG_IOMMUFD?)",
                        strerror(errno));
        }
    }
    if (err != 0) {
        free(h);
        return err;
    }
    *out = h;
    return 0;
}

int viommu_vfio_free(struct viommu_vfio *h)
{
    if (h == NULL) {
        return 0;
    }
    if (h->devices != NULL) {
        return -EBUSY;
    }
    type1_release(h);
    iommufd_release(h);
    if (h->iommufd >= 0) {
        close(h->iommufd);
    }
    free(h);
    return 0;
}

static int cmp_ram(const void *a, const void *b)
{
    const struct viommu_ram_region *x = a, *y = b;

    return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

int viommu_vfio_set_ram(struct viommu_vfio *h,
                        const struct viommu_ram_region *regions, size_t n)
{
    struct viommu_ram_region ram[VIOMMU_VFIO_MAX_RAM];
    const size_t page = 4096;

    if (h == NULL || n > VIOMMU_VFIO_MAX_RAM || (n > 0 && regions == NULL)) {
        return -EINVAL;
    }
    size_t stride = n > 0 ? regions[0].size : 0;
    for (size_t i = 0; i < n; i++) {
        const void *r = (const char *)regions + i * stride;
        int err = copy_versioned(&ram[i], sizeof(ram[i]), r,
                                 ABI_FIRST_SIZE(struct viommu_ram_region));
        if (err != 0 || ram[i].size != stride) {
            return -EINVAL;
        }
        const struct viommu_ram_region *x = &ram[i];
        if (x->reserved != 0 || x->length == 0 ||
            (x->gpa | x->length | x->hva) % page != 0 ||
            x->gpa + x->length - 1 < x->gpa ||
            x->hva + x->length - 1 < x->hva) {
            return -EINVAL;
        }
    }
    qsort(ram, n, sizeof(ram[0]), cmp_ram);
    for (size_t i = 1; i < n; i++) {
        if (ram[i].gpa <= ram[i - 1].gpa + ram[i - 1].length - 1) {
            return -EINVAL;
        }
    }
    memcpy(h->ram, ram, n * sizeof(ram[0]));
    h->nr_ram = n;
    return 0;
}

int ram_map(const struct viommu_vfio *h, const struct table_ops *t,
            void *table, uint64_t iova, uint64_t last, uint64_t gpa,
            uint32_t flags)
{
    uint64_t gpa_last = gpa + (last - iova);

    if (gpa_last < gpa) {
        return -ERANGE; /* wraps around the guest-physical space */
    }
    /* The host maps nothing without access, nor where there is no RAM:
     * there the device's DMA faults, as it would on real hardware. */
    if ((flags & (VIOMMU_XLATE_READ | VIOMMU_XLATE_WRITE)) == 0) {
        return 0;
    }
    for (size_t i = 0; i < h->nr_ram; i++) {
        const struct viommu_ram_region *r = &h->ram[i];
        uint64_t r_last = r->gpa + r->length - 1;
        if (r_last < gpa || r->gpa > gpa_last) {
            continue;
        }
        uint64_t first = r->gpa > gpa ? r->gpa : gpa;
        uint64_t end = r_last < gpa_last ? r_last : gpa_last;
        uint64_t at = iova + (first - gpa);
        int err = t->map(table, at, r->hva + (first - r->gpa),
                         end - first + 1, flags);
        if (err != 0) {
            if (at > iova && t->unmap(table, iova, at - 1) != 0) {
                backend_log(h, VIOMMU_LOG_ERR,
                            "undoing a partial map at %#llx failed: the "
                            "host may keep part of it",
                            (unsigned long long)iova);
            }
            return err;
        }
    }
    return 0;
}

int identity_map(const struct viommu_vfio *h, const struct table_ops *t,
                 void *table)
{
    return ram_map(h, t, table, 0, UINT64_MAX, 0,
                   VIOMMU_XLATE_READ | VIOMMU_XLATE_WRITE);
}

struct viommu_vfio_device *device_by_endpoint(const struct viommu_vfio *h,
                                              uint32_t endpoint)
{
    for (struct viommu_vfio_device *d = h->devices; d != NULL; d = d->next) {
        if (d->endpoint == endpoint) {
            return d;
        }
    }
    return NULL;
}

/* The group's reserved regions, as the kernel lists them: relaxable direct
 * mappings are left out as VFIO leaves them out of its IOVA ranges, the
 * first MSI region is the endpoint's MSI region. */
static int read_reserved(struct viommu_vfio_device *d)
{
    /* Room for relaxable regions beside the MAX_RESV others. */
    struct hostsys_resv r[4 * MAX_RESV];
    bool have_msi = false;
    size_t n;
    int err = hostsys_group_reserved(SYSFS_ROOT, d->group_id, r,
                                     sizeof(r) / sizeof(r[0]), &n);

    if (err == -ENOENT) {
        return 0; /* a kernel before 4.11 lists none */
    }
    for (size_t i = 0; err == 0 && i < n; i++) {
        if (r[i].type == HOSTSYS_RESV_DIRECT_RELAXABLE) {
            continue;
        }
        if (d->nr_resv == MAX_RESV) {
            err = -E2BIG;
            break;
        }
        bool msi = r[i].type == HOSTSYS_RESV_MSI && !have_msi;
        have_msi |= msi;
        d->resv[d->nr_resv++] = (struct viommu_resv_region)VIOMMU_RESV_REGION(
            r[i].start, r[i].end, msi ? VIOMMU_RESV_MSI : VIOMMU_RESV_RESERVED);
    }
    if (err == -E2BIG) {
        backend_log(d->h, VIOMMU_LOG_ERR,
                    "%s: group %u has more than %d reserved regions", d->bdf,
                    d->group_id, MAX_RESV);
    } else if (err != 0) {
        backend_log(d->h, VIOMMU_LOG_ERR, "%s: reserved regions of group %u: %s",
                    d->bdf, d->group_id, strerror(-err));
    }
    return err;
}

/* Where sysfs says the device is: its group, bound to vfio-pci. */
static int locate(struct viommu_vfio_device *d)
{
    char driver[64];
    int err = hostsys_device_group(SYSFS_ROOT, d->bdf, &d->group_id);

    if (err == -ENODEV) {
        backend_log(d->h, VIOMMU_LOG_ERR, "%s: no such PCI device", d->bdf);
        return -ENODEV;
    }
    if (err != 0) {
        backend_log(d->h, VIOMMU_LOG_ERR,
                    "%s: no IOMMU group (no host IOMMU, or under "
                    "virtio-iommu a device no driver has bound yet)",
                    d->bdf);
        return -ENODEV;
    }
    if (hostsys_device_driver(SYSFS_ROOT, d->bdf, driver, sizeof(driver)) !=
            0 ||
        strcmp(driver, "vfio-pci") != 0) {
        backend_log(d->h, VIOMMU_LOG_ERR,
                    "%s: bound to %s, not vfio-pci (viommuctl assign %s)",
                    d->bdf, driver[0] != '\0' ? driver : "no driver", d->bdf);
        return -ENOENT;
    }
    return read_reserved(d);
}

int viommu_vfio_open(struct viommu_vfio *h, const char *bdf, uint32_t endpoint,
                     struct viommu_vfio_device **out)
{
    struct viommu_vfio_device *d;

    if (out == NULL) {
        return -EINVAL;
    }
    *out = NULL;
    if (h == NULL || bdf == NULL) {
        return -EINVAL;
    }
    if (device_by_endpoint(h, endpoint) != NULL) {
        backend_log(h, VIOMMU_LOG_ERR, "%s: endpoint %u is open already", bdf,
                    endpoint);
        return -EINVAL;
    }
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return -ENOMEM;
    }
    d->h = h;
    d->endpoint = endpoint;
    d->fd = -1;
    d->geometry.size = sizeof(d->geometry);
    int err = hostsys_pci_canonical(bdf, d->bdf) ? 0 : -EINVAL;
    if (err != 0) {
        backend_log(h, VIOMMU_LOG_ERR, "\"%s\": not a PCI address", bdf);
    }
    for (struct viommu_vfio_device *o = h->devices; err == 0 && o != NULL;
         o = o->next) {
        if (strcmp(o->bdf, d->bdf) == 0) {
            backend_log(h, VIOMMU_LOG_ERR, "%s: open already", d->bdf);
            err = -EBUSY;
        }
    }
    if (err == 0) {
        err = locate(d);
    }
    if (err == 0) {
        err = h->cfg.backend == VIOMMU_VFIO_TYPE1 ? type1_open(d)
                                                  : iommufd_open(d);
    }
    if (err != 0) {
        free(d);
        return err;
    }
    d->next = h->devices;
    h->devices = d;
    *out = d;
    return 0;
}

int viommu_vfio_device_fd(const struct viommu_vfio_device *d)
{
    return d != NULL ? d->fd : -EINVAL;
}

int viommu_vfio_endpoint(const struct viommu_vfio_device *d,
                         struct viommu_endpoint_config *ep)
{
    struct viommu_endpoint_config out = {
        .size = sizeof(out),
        .id = d != NULL ? d->endpoint : 0,
        .flags = VIOMMU_EP_GROUP,
    };

    if (d == NULL || ep == NULL || ep->size < ABI_FIRST_SIZE(*ep) ||
        ep->size > ABI_MAX_SIZE) {
        return -EINVAL;
    }
    out.group = d->group_id;
    out.resv = d->resv;
    out.nr_resv = d->nr_resv;
    out.geometry = &d->geometry;
    if (d->h->cfg.backend == VIOMMU_VFIO_TYPE1) {
        out.host_ops = &type1_ops;
        out.host_ctx = type1_ctx(d);
    } else {
        out.host_ops = &iommufd_ops;
        out.host_ctx = d->h;
    }
    return fill_versioned(ep, &out, sizeof(out), ABI_FIRST_SIZE(out));
}

int viommu_vfio_close(struct viommu_vfio_device *d)
{
    if (d == NULL) {
        return 0;
    }
    if (d->attached) {
        return -EBUSY;
    }
    struct viommu_vfio *h = d->h;
    struct viommu_vfio_device **link = &h->devices;
    while (*link != d) {
        link = &(*link)->next;
    }
    *link = d->next;
    if (h->cfg.backend == VIOMMU_VFIO_TYPE1) {
        type1_close(d);
    } else {
        iommufd_close(d);
    }
    free(d);
    return 0;
}
