/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Plays a Linux guest against the device through the public API and prints
 * what the device answered: config, PROBE, ATTACH, MAP, DMA translation,
 * a fault report, UNMAP and DETACH.
 */
#include <endian.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_iommu.h>

#include "driver.h"

#define NIC 0x0008u
#define GPU 0x0010u

static void say(const char *what, uint8_t status)
{
    printf("  guest: %-52s -> %s\n", what, vdrv_status_name(status));
}

static void show_probe(struct viommu *v, uint32_t ep)
{
    uint8_t props[512];
    struct viommu_resv_region r[16];
    char what[64];

    snprintf(what, sizeof(what), "PROBE endpoint %#x", ep);
    say(what, vdrv_probe(VDRV_LOCAL(v), ep, props, sizeof(props)));
    int n = vdrv_parse_resv(props, sizeof(props), r, 16);
    for (int i = 0; i < n; i++) {
        printf("         %-8s [%#018" PRIx64 " - %#018" PRIx64 "]\n",
               r[i].type == VIOMMU_RESV_MSI ? "MSI" : "RESERVED", r[i].start,
               r[i].end);
    }
}

static void show_dma(struct viommu *v, uint32_t ep, uint64_t iova,
                     uint32_t access)
{
    struct viommu_translation t = {.size = sizeof(t)};
    const char *kind = access == VIOMMU_ACCESS_WRITE ? "write" : "read";

    if (viommu_translate(v, ep, iova, access, &t) == 0) {
        printf("  dma:   endpoint %#x %-5s iova %#" PRIx64 " -> gpa %#" PRIx64
               " (contiguous to iova %#" PRIx64 ")\n",
               ep, kind, iova, t.gpa, t.iova_last);
    } else {
        printf("  dma:   endpoint %#x %-5s iova %#" PRIx64 " -> refused\n", ep,
               kind, iova);
    }
}

static void show_events(struct viommu *v)
{
    struct virtio_iommu_fault f;
    struct iovec iov = {&f, sizeof(f)};
    uint32_t used;

    while (viommu_event_pop(v, &iov, 1, &used) == 0) {
        printf(
            "  event: fault reason %u flags %#x endpoint %#x address %#" PRIx64
            "\n",
            f.reason, le32toh(f.flags), le32toh(f.endpoint),
            (uint64_t)le64toh(f.address));
    }
}

int main(void)
{
    struct viommu_config cfg = {.size = sizeof(cfg)};
    struct viommu_resv_region gpu_resv =
        VIOMMU_RESV_REGION(0x80000000, 0x8fffffff, VIOMMU_RESV_RESERVED);
    struct viommu_endpoint_config nic = {.size = sizeof(nic), .id = NIC};
    struct viommu_endpoint_config gpu = {
        .size = sizeof(gpu), .id = GPU, .resv = &gpu_resv, .nr_resv = 1};
    struct virtio_iommu_config c;
    char what[96];

    struct viommu *v = viommu_new(&cfg);
    if (v == NULL || viommu_endpoint_add(v, &nic) != 0 ||
        viommu_endpoint_add(v, &gpu) != 0 ||
        viommu_config_read(v, 0, &c, sizeof(c)) != 0 ||
        viommu_set_driver_features(v, viommu_device_features(v)) != 0) {
        fprintf(stderr, "viommu-demo: cannot set up the device\n");
        return 1;
    }

    printf("viommu demo: a guest driver talks to the device core\n\n");
    printf("device: features %#" PRIx64 ", page sizes %#" PRIx64
           ", input range [%#" PRIx64 ", %#" PRIx64 "], probe size %u\n\n",
           viommu_device_features(v), (uint64_t)le64toh(c.page_size_mask),
           (uint64_t)le64toh(c.input_range.start),
           (uint64_t)le64toh(c.input_range.end), le32toh(c.probe_size));

    printf("1. The driver probes each endpoint before using it:\n");
    show_probe(v, NIC);
    show_probe(v, GPU);

    printf("\n2. A DMA domain for the NIC, with three buffers:\n");
    say("ATTACH domain 1 endpoint 0x8", vdrv_attach(VDRV_LOCAL(v), 1, NIC, 0));
    say("MAP domain 1 [0x100000-0x10ffff] -> 0x40000000 RW",
        vdrv_map(VDRV_LOCAL(v), 1, 0x100000, 0x10ffff, 0x40000000,
                 VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE));
    say("MAP domain 1 [0x200000-0x200fff] -> 0x50000000 R",
        vdrv_map(VDRV_LOCAL(v), 1, 0x200000, 0x200fff, 0x50000000,
                 VIRTIO_IOMMU_MAP_F_READ));
    say("MAP domain 1 [0x80000000-0x80000fff] -> 0x60000000 RW",
        vdrv_map(VDRV_LOCAL(v), 1, 0x80000000, 0x80000fff, 0x60000000,
                 VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE));
    show_dma(v, NIC, 0x104321, VIOMMU_ACCESS_WRITE);
    show_dma(v, NIC, 0x200010, VIOMMU_ACCESS_READ);

    printf("\n3. Mistakes the device refuses without changing anything:\n");
    say("MAP domain 1 [0x108000-0x118fff] (overlaps)",
        vdrv_map(VDRV_LOCAL(v), 1, 0x108000, 0x118fff, 0,
                 VIRTIO_IOMMU_MAP_F_READ));
    say("MAP domain 1 [0xfee00000-0xfee00fff] (MSI window)",
        vdrv_map(VDRV_LOCAL(v), 1, 0xfee00000, 0xfee00fff, 0,
                 VIRTIO_IOMMU_MAP_F_READ));
    say("MAP domain 1 [0x300800-0x3017ff] (misaligned)",
        vdrv_map(VDRV_LOCAL(v), 1, 0x300800, 0x3017ff, 0,
                 VIRTIO_IOMMU_MAP_F_READ));
    say("ATTACH domain 1 endpoint 0x10 (mapped over its reserved)",
        vdrv_attach(VDRV_LOCAL(v), 1, GPU, 0));
    say("UNMAP domain 1 [0x100000-0x107fff] (splits a mapping)",
        vdrv_unmap(VDRV_LOCAL(v), 1, 0x100000, 0x107fff));
    say("ATTACH domain 7 endpoint 0x99 (no such endpoint)",
        vdrv_attach(VDRV_LOCAL(v), 7, 0x99, 0));

    printf("\n4. The NIC writes where it may only read: a fault report\n");
    show_dma(v, NIC, 0x200010, VIOMMU_ACCESS_WRITE);
    show_events(v);

    printf("\n5. Teardown:\n");
    say("UNMAP domain 1 [0x0-0xffffffff]",
        vdrv_unmap(VDRV_LOCAL(v), 1, 0, 0xffffffff));
    say("DETACH domain 1 endpoint 0x8", vdrv_detach(VDRV_LOCAL(v), 1, NIC));
    show_dma(v, NIC, 0x104321, VIOMMU_ACCESS_READ);
    show_events(v);

    struct viommu_stats st = {.size = sizeof(st)};
    if (viommu_get_stats(v, &st) != 0) {
        return 1;
    }
    snprintf(what, sizeof(what),
             "%u endpoints, %u domains, %" PRIu64 " mappings left",
             st.endpoints, st.domains, st.mappings);
    printf("\ndevice: %s\n", what);
    viommu_free(v);
    return 0;
}
