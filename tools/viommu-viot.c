/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * viommu-viot: writes an ACPI VIOT (Virtual I/O Translation) table for a
 * virtio-pci IOMMU and the PCI requester-ID ranges it translates, for
 * QEMU's `-acpitable file=...`. Endpoint IDs are the requester IDs, as
 * viommu-vhost-user's --endpoint options name them.
 *
 * Layout (ACPI 6.5, 5.2.32): the standard 36-byte header, then node_count,
 * node_offset and 8 reserved bytes, then the nodes: one virtio-pci IOMMU
 * node (type 3, 16 bytes) and one PCI range node (type 1, 24 bytes) per
 * range, each pointing at the IOMMU node by its offset. Little-endian; the
 * checksum makes all bytes sum to zero.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostsys/pci.h"

#define HEADER_SIZE 36
#define VIOT_HEADER_SIZE 48
#define IOMMU_NODE_SIZE 16
#define RANGE_NODE_SIZE 24
#define MAX_RANGES 64

struct range {
    struct hostsys_pci_addr first, last;
};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

static bool parse_range(const char *s, struct range *r)
{
    const char *end;

    if (!hostsys_pci_parse(s, &end, &r->first)) {
        return false;
    }
    if (*end == '\0') {
        r->last = r->first;
        return true;
    }
    return *end == '-' && hostsys_pci_parse(end + 1, &end, &r->last) &&
           *end == '\0' && r->last.segment == r->first.segment &&
           r->last.bdf >= r->first.bdf;
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: viommu-viot --iommu=[SEG:]BUS:DEV.FN "
                 "--range=FIRST[-LAST]... --output=FILE\n"
                 "\n"
                 "Writes an ACPI VIOT table: the virtio-pci IOMMU at --iommu\n"
                 "translates the PCI devices of each --range (requester IDs\n"
                 "FIRST to LAST, e.g. 00:00.0-00:1f.7). Give it to QEMU with\n"
                 "-acpitable file=FILE.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"iommu", required_argument, NULL, 'i'},
        {"range", required_argument, NULL, 'r'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct range ranges[MAX_RANGES];
    unsigned nr = 0;
    struct hostsys_pci_addr iommu;
    bool have_iommu = false;
    const char *output = NULL, *end;
    int opt;

    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'i':
            if (!hostsys_pci_parse(optarg, &end, &iommu) || *end != '\0') {
                fprintf(stderr, "invalid --iommu: %s\n", optarg);
                return 1;
            }
            have_iommu = true;
            break;
        case 'r':
            if (nr == MAX_RANGES || !parse_range(optarg, &ranges[nr])) {
                fprintf(stderr, "invalid or too many --range: %s\n", optarg);
                return 1;
            }
            nr++;
            break;
        case 'o':
            output = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (!have_iommu || nr == 0 || output == NULL || optind != argc) {
        usage(stderr);
        return 1;
    }

    size_t len = VIOT_HEADER_SIZE + IOMMU_NODE_SIZE + nr * RANGE_NODE_SIZE;
    uint8_t *t = calloc(1, len);
    if (t == NULL) {
        return 1;
    }
    memcpy(t, "VIOT", 4);
    put32(t + 4, (uint32_t)len);
    t[8] = 0;                      /* revision */
    memcpy(t + 10, "VIOMMU", 6);   /* OEM ID */
    memcpy(t + 16, "VIOMMU  ", 8); /* OEM table ID */
    put32(t + 24, 1);              /* OEM revision */
    memcpy(t + 28, "VIOM", 4);     /* creator ID */
    put32(t + 32, 1);              /* creator revision */
    put16(t + 36, (uint16_t)(1 + nr));
    put16(t + 38, VIOT_HEADER_SIZE);

    uint8_t *node = t + VIOT_HEADER_SIZE;
    node[0] = 3; /* virtio-pci IOMMU */
    put16(node + 2, IOMMU_NODE_SIZE);
    put16(node + 4, iommu.segment);
    put16(node + 6, iommu.bdf);
    node += IOMMU_NODE_SIZE;
    for (unsigned i = 0; i < nr; i++, node += RANGE_NODE_SIZE) {
        node[0] = 1; /* PCI range */
        put16(node + 2, RANGE_NODE_SIZE);
        put32(node + 4, (uint32_t)ranges[i].first.segment << 16 |
                            ranges[i].first.bdf); /* endpoint start */
        put16(node + 8, ranges[i].first.segment);
        put16(node + 10, ranges[i].last.segment);
        put16(node + 12, ranges[i].first.bdf);
        put16(node + 14, ranges[i].last.bdf);
        put16(node + 16, VIOT_HEADER_SIZE); /* output node: the IOMMU */
    }
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++) {
        sum += t[i];
    }
    t[9] = (uint8_t)-sum;

    FILE *f = fopen(output, "wb");
    int ret = 0;
    if (f == NULL || fwrite(t, 1, len, f) != len) {
        fprintf(stderr, "cannot write %s: %s\n", output, strerror(errno));
        ret = 1;
    }
    if (f != NULL && fclose(f) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", output, strerror(errno));
        ret = 1;
    }
    free(t);
    return ret;
}
