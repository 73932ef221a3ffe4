/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sriov: an SR-IOV PF's VFs created or removed, and their MSI-X vector
 * counts set before any driver binds. Returns its exit status through
 * finish().
 */
#ifndef VIOMMU_TOOLS_SRIOV_H
#define VIOMMU_TOOLS_SRIOV_H

#include <stdint.h>

struct tool;

struct sriov_args {
    const char *pf;
    int numvfs;         /* -1: keep */
    uint32_t msix[256]; /* per VF */
    unsigned nr_msix;   /* 0: no change; 1: the same for every VF */
};
int cmd_sriov(struct tool *t, const struct sriov_args *a);

#endif
