/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libviommu's host backends: the host IOMMU contexts of assigned PCI
 * devices, over VFIO type1 (v2) or iommufd, ready to be declared as
 * endpoints. Since 0.3.
 *
 *     struct viommu_vfio *h;
 *     struct viommu_vfio_device *dev;
 *     struct viommu_endpoint_config ep;
 *     viommu_vfio_new(&(struct viommu_vfio_config){
 *         .size = sizeof(struct viommu_vfio_config),
 *         .backend = VIOMMU_VFIO_IOMMUFD}, &h);
 *     viommu_vfio_set_ram(h, ram, nr_ram);          // and on memory hotplug
 *     viommu_vfio_open(h, "0000:01:00.0", 0x100, &dev);
 *     viommu_vfio_endpoint(dev, &ep);   // ops, ctx, group, regions, geometry
 *     viommu_endpoint_add(v, &ep);      // PROBE is right from the start
 *     ... the VMM maps BARs and wires interrupts with viommu_vfio_device_fd()
 *     viommu_endpoint_remove(v, 0x100); // the device reaches nothing
 *     viommu_vfio_close(dev);
 *     viommu_vfio_free(h);
 *
 * What a VMM may rely on:
 * - The device's DMA reaches exactly the guest memory its domain maps, as
 *   the library's viommu_host_ops contract says: mappings are in the host
 *   IOMMU when ATTACH and MAP complete, and out of it when UNMAP, DETACH,
 *   a move, removal, reset and viommu_free complete. An endpoint without a
 *   domain reaches nothing (whatever the config space's bypass says).
 * - Guest-physical addresses become the VMM's virtual addresses through
 *   the RAM layout given with viommu_vfio_set_ram(). A guest mapping that
 *   covers more than RAM (an identity domain made of MAPs of the whole
 *   input range, as Linux builds one without the bypass feature) maps its
 *   RAM parts only, and a mapping of no RAM (or without READ and WRITE)
 *   maps nothing: the device's DMA there faults. A bypass domain maps all
 *   RAM at IOVA = guest-physical address.
 * - A layout change applies to the host calls after it: RAM added later
 *   reaches a device through the mappings made after the change, not
 *   through those it already has nor through a bypass domain it is already
 *   in (the guest attaches it again). Before removing RAM the VMM has the
 *   guest unmap it (the host holds the pages of every mapping pinned until
 *   it is unmapped).
 * - The devices of one IOMMU group share one table in the host: a member
 *   the guest DETACHes while another member stays attached still reaches
 *   that domain's mappings (the host cannot isolate them; that is what a
 *   group is). ATTACHing members to different domains is refused.
 * - Host refusals become statuses (viommu_host_ops): the container's
 *   DMA_AVAIL, iommufd's or type1's RLIMIT_MEMLOCK exhausted give NOMEM,
 *   and the request changes nothing, on the host either.
 * - VFIO type1: one container per IOMMU group; a group is one host
 *   context, shared by the endpoints of its devices. iommufd: one IOAS per
 *   guest domain in one /dev/iommu, so a domain's MAP is one host call
 *   however many devices are attached, and a move to another domain
 *   replaces the device's table in one step.
 *
 * A handle and its devices are used from one thread at a time, the thread
 * that drives the struct viommu whose endpoints they are.
 */
#ifndef VIOMMU_VFIO_H
#define VIOMMU_VFIO_H

#include <viommu/viommu.h>

#ifdef __cplusplus
extern "C" {
#endif

/** viommu_vfio_config.backend */
enum viommu_vfio_backend {
    /** /dev/vfio/N groups, a VFIO_TYPE1v2_IOMMU container per group. */
    VIOMMU_VFIO_TYPE1 = 1,
    /** /dev/iommu and the devices' VFIO cdevs (CONFIG_IOMMUFD,
     *  CONFIG_VFIO_DEVICE_CDEV). */
    VIOMMU_VFIO_IOMMUFD = 2,
};

struct viommu_vfio_config {
    /** sizeof(struct viommu_vfio_config). Required. */
    uint32_t size;
    /** enum viommu_vfio_backend. Required. */
    uint32_t backend;
    /** Log sink for why a device cannot be opened or a host call failed,
     *  as in struct viommu_config (source VIOMMU_LOG_SOURCE_DEVICE). NULL:
     *  silent. */
    void (*log)(void *opaque, enum viommu_log_level level,
                enum viommu_log_source source, const char *msg);
    void *log_opaque;
};

/** A region of guest RAM: guest-physical [gpa, gpa + length) is the VMM's
 *  memory at hva. In an array, every element has the size of the first. */
struct viommu_ram_region {
    uint32_t size;
    uint32_t reserved; /* zero */
    uint64_t gpa;
    uint64_t length;
    uint64_t hva;
};

/** Most RAM regions a layout holds. */
#define VIOMMU_VFIO_MAX_RAM 64

/** A VMM's host side: its guest RAM layout, its groups or /dev/iommu. */
struct viommu_vfio;
/** An assigned PCI device, open in a host IOMMU context. */
struct viommu_vfio_device;

/**
 * Creates a backend handle. Errors: -EINVAL for a bad config; for iommufd,
 * the errno of opening /dev/iommu (-ENOENT: a kernel without
 * CONFIG_IOMMUFD); -ENOMEM.
 */
VIOMMU_MUST_CHECK VIOMMU_API int
viommu_vfio_new(const struct viommu_vfio_config *config,
                struct viommu_vfio **out);

/** Frees the handle. -EBUSY (and nothing done) while a device is open. */
VIOMMU_MUST_CHECK VIOMMU_API int viommu_vfio_free(struct viommu_vfio *h);

/**
 * Replaces the guest RAM layout (see above for what it applies to).
 * -EINVAL for more than VIOMMU_VFIO_MAX_RAM regions, an empty, unaligned
 * (4 KiB) or wrapping region, regions that overlap, or reserved bits set.
 */
VIOMMU_MUST_CHECK VIOMMU_API int
viommu_vfio_set_ram(struct viommu_vfio *h,
                    const struct viommu_ram_region *regions, size_t n);

/**
 * Opens the PCI device `bdf` ("0000:01:00.0" or "01:00.0"), which must be
 * bound to vfio-pci, for the guest to see as endpoint `endpoint`, and reads
 * its host geometry: the group's reserved regions from sysfs, the usable
 * IOVA ranges and page sizes from VFIO_IOMMU_GET_INFO (type1) or
 * IOMMU_IOAS_IOVA_RANGES (iommufd). The device starts blocked: it reaches
 * nothing until its endpoint is attached. Errors (logged with the reason):
 * -EINVAL for a malformed address or an endpoint ID already open; -ENODEV
 * for no such device or a device without an IOMMU group; -EBUSY for a group
 * that is not viable (a member bound to a host driver) or a device another
 * process holds; -ENOENT for a device not bound to vfio-pci (iommufd: no
 * VFIO cdev); else the errno of the failing call.
 */
VIOMMU_MUST_CHECK VIOMMU_API int
viommu_vfio_open(struct viommu_vfio *h, const char *bdf, uint32_t endpoint,
                 struct viommu_vfio_device **out);

/** The VFIO device fd, for the VMM's BARs, config space and interrupts.
 *  Owned by the device: valid until viommu_vfio_close(). */
VIOMMU_API int viommu_vfio_device_fd(const struct viommu_vfio_device *d);

/**
 * Fills `ep` (its size set by the caller, 0.2 or later) to declare the
 * device's endpoint with viommu_endpoint_add(): ID, host ops and context,
 * IOMMU group, reserved regions and geometry. The pointers in it stay
 * valid until viommu_vfio_close().
 */
VIOMMU_MUST_CHECK VIOMMU_API int
viommu_vfio_endpoint(const struct viommu_vfio_device *d,
                     struct viommu_endpoint_config *ep);

/**
 * Closes the device: its fds, and its group's container when it was the
 * last device open in it. -EBUSY (and nothing done) while its endpoint is
 * attached: remove the endpoint (viommu_endpoint_remove) first.
 */
VIOMMU_MUST_CHECK VIOMMU_API int
viommu_vfio_close(struct viommu_vfio_device *d);

#ifdef __cplusplus
}
#endif

#endif
