/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What a virtio-iommu driver puts on the request queue, byte for byte: each
 * call builds a request with the kernel's uapi structs, hands it to the
 * device as readable and writable iovecs, and decodes the reply as the
 * Linux driver does. Used by the tests and the demonstrations; every call names
 * its driver (struct vdrv), so several can run side by side.
 */
#ifndef VIOMMU_TESTING_DRIVER_H
#define VIOMMU_TESTING_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_iommu.h>
#include <viommu/viommu.h>

/* Returned instead of a status when the device wrote nothing (used length
 * 0), which the Linux driver turns into -EIO. */
#define VDRV_NO_REPLY 0xffu

/* A transport that carries the driver's accesses somewhere else than a
 * device in this process: viommu-vhost-user through a vhost-user frontend,
 * say. */
struct vdrv_transport {
    uint64_t (*features)(void *opaque);
    int (*set_features)(void *opaque, uint64_t features);
    int (*config_read)(void *opaque, uint32_t offset, void *buf, uint32_t len);
    uint32_t (*send)(void *opaque, const void *req, size_t req_len, void *resp,
                     size_t resp_len);
    void *opaque;
};

/* Called around every request sent, for tests that check the device
 * between requests; `after` gets the status (VDRV_NO_REPLY if none). */
struct vdrv_hooks {
    void (*before)(void *opaque);
    void (*after)(void *opaque, uint8_t status);
    void *opaque;
};

/* A driver: where its accesses go, and what watches them. */
struct vdrv {
    struct viommu *v;                       /* the device in this process, */
    const struct vdrv_transport *transport; /* or this one (then v unused) */
    const struct vdrv_hooks *hooks;         /* optional */
};

/* A driver of the device dev in this process, for one call. */
#define VDRV_LOCAL(dev) (&(const struct vdrv){.v = (dev)})

/* Device features, the driver's accepted features, config space reads. */
uint64_t vdrv_features(const struct vdrv *d);
int vdrv_set_features(const struct vdrv *d, uint64_t features);
int vdrv_config_read(const struct vdrv *d, uint32_t offset, void *buf,
                     uint32_t len);

/* Sends raw bytes; copies the writable bytes back to resp and returns the
 * used length. */
uint32_t vdrv_send(const struct vdrv *d, const void *req, size_t req_len,
                   void *resp, size_t resp_len);

/* Request structs as the driver fills them (reserved bytes zero), for
 * callers that alter them before sending. */
struct virtio_iommu_req_attach vdrv_attach_req(uint32_t domain, uint32_t ep,
                                               uint32_t flags);
struct virtio_iommu_req_detach vdrv_detach_req(uint32_t domain, uint32_t ep);
struct virtio_iommu_req_unmap vdrv_unmap_req(uint32_t domain, uint64_t start,
                                             uint64_t end);
struct virtio_iommu_req_probe vdrv_probe_req(uint32_t ep);

uint8_t vdrv_attach(const struct vdrv *d, uint32_t domain, uint32_t ep,
                    uint32_t flags);
uint8_t vdrv_detach(const struct vdrv *d, uint32_t domain, uint32_t ep);
uint8_t vdrv_map(const struct vdrv *d, uint32_t domain, uint64_t start,
                 uint64_t end, uint64_t phys, uint32_t flags);
uint8_t vdrv_unmap(const struct vdrv *d, uint32_t domain, uint64_t start,
                   uint64_t end);
/* PROBE with a properties buffer of props_len bytes (read from the device
 * config when 0), copied to props if not NULL. */
uint8_t vdrv_probe(const struct vdrv *d, uint32_t ep, uint8_t *props,
                   size_t props_len);

/*
 * Parses PROBE properties as the Linux driver does (stops at type NONE or
 * the end of the buffer). Returns the number of RESV_MEM regions stored in
 * out (at most max), or -1 if a property is malformed.
 */
int vdrv_parse_resv(const uint8_t *props, size_t len,
                    struct viommu_resv_region *out, int max);

const char *vdrv_status_name(uint8_t status);

#endif
