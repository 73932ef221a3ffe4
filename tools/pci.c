/* SPDX-License-Identifier: BSD-3-Clause */
#include "pci.h"

#include <stdio.h>

bool pci_parse(const char *s, const char **end, struct pci_addr *a)
{
    unsigned seg = 0, bus, dev, fn;
    int n = 0;

    if (sscanf(s, "%x:%x:%x.%x%n", &seg, &bus, &dev, &fn, &n) != 4) {
        seg = 0;
        if (sscanf(s, "%x:%x.%x%n", &bus, &dev, &fn, &n) != 3) {
            return false;
        }
    }
    if (seg > 0xffff || bus > 0xff || dev > 0x1f || fn > 7) {
        return false;
    }
    a->segment = (uint16_t)seg;
    a->bdf = (uint16_t)(bus << 8 | dev << 3 | fn);
    *end = s + n;
    return true;
}

void pci_name(struct pci_addr a, char name[PCI_NAME_LEN])
{
    snprintf(name, PCI_NAME_LEN, "%04x:%02x:%02x.%x", a.segment, a.bdf >> 8,
             (a.bdf >> 3) & 0x1f, a.bdf & 7);
}
