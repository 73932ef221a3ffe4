/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An SR-IOV PF's VFs as sysfs (under t->sysfs) shows them: their names,
 * and the MSI-X table size in each one's config space.
 */
#ifndef VIOMMU_TOOLS_VF_H
#define VIOMMU_TOOLS_VF_H

#include "hostsys/pci.h"

struct tool;

/* The PF's VF number i (virtfnI) into bdf; -ENOENT when there is none. */
int vf_name(const struct tool *t, const char *pf, unsigned i,
            char bdf[HOSTSYS_PCI_NAME_LEN]);
/* The MSI-X table size in the device's config space; -ENOENT: no MSI-X. */
int msix_table_size(struct tool *t, const char *bdf, unsigned *size);

#endif
