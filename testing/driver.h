/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What a virtio-iommu driver puts on the request queue, byte for byte: each
 * call builds a request with the kernel's uapi structs, hands it to the
 * device as readable and writable iovecs, and decodes the reply as the
 * Linux driver does. Used by the tests and the demonstration.
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

/*
 * Where the driver's accesses go: by default the device in this process
 * (the struct viommu given to each call); with a transport set, somewhere
 * else, such as viommu-vhost-user through a vhost-user frontend, and the
 * struct viommu argument is ignored.
 */
struct vdrv_transport {
    uint64_t (*features)(void *opaque);
    int (*set_features)(void *opaque, uint64_t features);
    int (*config_read)(void *opaque, uint32_t offset, void *buf,
                       uint32_t len);
    uint32_t (*send)(void *opaque, const void *in, size_t in_len, void *out,
                     size_t out_len);
    void *opaque;
};
void vdrv_set_transport(const struct vdrv_transport *t); /* NULL: local */

/* Device features, the driver's accepted features, config space reads. */
uint64_t vdrv_features(struct viommu *v);
int vdrv_set_features(struct viommu *v, uint64_t features);
int vdrv_config_read(struct viommu *v, uint32_t offset, void *buf,
                     uint32_t len);

/* Called around every request sent, for tests that check the device
 * between requests; `after` gets the status (VDRV_NO_REPLY if none). */
struct vdrv_hooks {
    void (*before)(void *opaque);
    void (*after)(void *opaque, uint8_t status);
    void *opaque;
};
void vdrv_set_hooks(const struct vdrv_hooks *hooks);

/* Sends raw bytes; copies the writable bytes back to out and returns the
 * used length. */
uint32_t vdrv_send(struct viommu *v, const void *in, size_t in_len, void *out,
                   size_t out_len);

/* Request structs as the driver fills them (reserved bytes zero), for
 * callers that alter them before sending. */
struct virtio_iommu_req_attach vdrv_attach_req(uint32_t domain, uint32_t ep,
                                               uint32_t flags);
struct virtio_iommu_req_detach vdrv_detach_req(uint32_t domain, uint32_t ep);
struct virtio_iommu_req_unmap vdrv_unmap_req(uint32_t domain, uint64_t start,
                                             uint64_t end);
struct virtio_iommu_req_probe vdrv_probe_req(uint32_t ep);

uint8_t vdrv_attach(struct viommu *v, uint32_t domain, uint32_t ep,
                    uint32_t flags);
uint8_t vdrv_detach(struct viommu *v, uint32_t domain, uint32_t ep);
uint8_t vdrv_map(struct viommu *v, uint32_t domain, uint64_t start,
                 uint64_t end, uint64_t phys, uint32_t flags);
uint8_t vdrv_unmap(struct viommu *v, uint32_t domain, uint64_t start,
                   uint64_t end);
/* PROBE with a properties buffer of props_len bytes (read from the device
 * config when 0), copied to props if not NULL. */
uint8_t vdrv_probe(struct viommu *v, uint32_t ep, uint8_t *props,
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
