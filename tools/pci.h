/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI addresses as lspci and sysfs write them, [SEGMENT:]BUS:DEV.FN in
 * hexadecimal, shared by the tools. An endpoint ID (a VIOT PCI range's
 * endpoint, the daemon's --endpoint) is segment << 16 | requester ID.
 */
#ifndef VIOMMU_TOOLS_PCI_H
#define VIOMMU_TOOLS_PCI_H

#include <stdbool.h>
#include <stdint.h>

struct pci_addr {
    uint16_t segment;
    uint16_t bdf; /* bus << 8 | device << 3 | function */
};

/* Parses an address at s; *end is where it stops. */
bool pci_parse(const char *s, const char **end, struct pci_addr *a);

/* The sysfs name, SSSS:BB:DD.F (13 characters and a NUL). */
#define PCI_NAME_LEN 16
void pci_name(struct pci_addr a, char name[PCI_NAME_LEN]);

static inline uint32_t pci_endpoint_id(struct pci_addr a)
{
    return (uint32_t)a.segment << 16 | a.bdf;
}

#endif
