/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>

#include "pci.h"

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* 1 to max hex digits at *s, then `sep` unless it is '\0'. */
static bool field(const char **s, int max, char sep, unsigned *out)
{
    const char *p = *s;
    unsigned v = 0;
    int n = 0;

    for (int d; n < max && (d = hex_digit(*p)) >= 0; n++, p++) {
        v = v << 4 | (unsigned)d;
    }
    if (n == 0 || (sep != '\0' && *p++ != sep)) {
        return false;
    }
    *out = v;
    *s = p;
    return true;
}

bool hostsys_pci_parse(const char *s, const char **end,
                       struct hostsys_pci_addr *a)
{
    unsigned seg = 0, bus, dev, fn;
    const char *p = s;

    if (!field(&p, 4, ':', &seg) || !field(&p, 2, ':', &bus) ||
        !field(&p, 2, '.', &dev) || !field(&p, 1, '\0', &fn)) {
        seg = 0;
        p = s;
        if (!field(&p, 2, ':', &bus) || !field(&p, 2, '.', &dev) ||
            !field(&p, 1, '\0', &fn)) {
            return false;
        }
    }
    if (dev > 0x1f || fn > 7) {
        return false;
    }
    a->segment = (uint16_t)seg;
    a->bdf = (uint16_t)(bus << 8 | dev << 3 | fn);
    *end = p;
    return true;
}

void hostsys_pci_name(struct hostsys_pci_addr a,
                      char name[HOSTSYS_PCI_NAME_LEN])
{
    snprintf(name, HOSTSYS_PCI_NAME_LEN, "%04x:%02x:%02x.%x", a.segment,
             a.bdf >> 8, (a.bdf >> 3) & 0x1f, a.bdf & 7);
}

bool hostsys_pci_canonical(const char *s, char name[HOSTSYS_PCI_NAME_LEN])
{
    struct hostsys_pci_addr a;
    const char *end;

    if (!hostsys_pci_parse(s, &end, &a) || *end != '\0') {
        return false;
    }
    hostsys_pci_name(a, name);
    return true;
}
