/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI addresses as lspci and sysfs write them, [SEGMENT:]BUS:DEV.FN in
 * hexadecimal: 1-4 segment digits, 1-2 bus, 1-2 device, 1 function
 * digits, nothing else (no sign, no 0x, no space). PCI domains beyond
 * 0xffff (VMD) are not assigned.
 */
#ifndef VIOMMU_HOSTSYS_PCI_H
#define VIOMMU_HOSTSYS_PCI_H

#include <stdbool.h>
#include <stdint.h>

struct hostsys_pci_addr {
    uint16_t segment;
    uint16_t bdf; /* bus << 8 | device << 3 | function */
};

/* Parses an address at the start of s; *end is where it stops. */
bool hostsys_pci_parse(const char *s, const char **end,
                       struct hostsys_pci_addr *a);

/* The sysfs name, SSSS:BB:DD.F (12 characters and a NUL). */
#define HOSTSYS_PCI_NAME_LEN 16
void hostsys_pci_name(struct hostsys_pci_addr a,
                      char name[HOSTSYS_PCI_NAME_LEN]);

/* The sysfs name of s, which must be an address and nothing more. */
bool hostsys_pci_canonical(const char *s, char name[HOSTSYS_PCI_NAME_LEN]);

#endif
