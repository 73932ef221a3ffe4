/* SPDX-License-Identifier: BSD-3-Clause */
#include "vf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "attr.h"
#include "tool.h"

int vf_name(const struct tool *t, const char *pf, unsigned i,
            char bdf[HOSTSYS_PCI_NAME_LEN])
{
    char path[TOOL_PATH_MAX], attr[32];

    snprintf(attr, sizeof(attr), "virtfn%u", i);
    dev_path(t, path, sizeof(path), pf, attr);
    return link_name(path, bdf, HOSTSYS_PCI_NAME_LEN) ? 0 : -ENOENT;
}

int msix_table_size(struct tool *t, const char *bdf, unsigned *size)
{
    char path[TOOL_PATH_MAX];
    uint8_t cfg[256];

    dev_path(t, path, sizeof(path), bdf, "config");
    ssize_t n = attr_read_bytes(path, cfg, sizeof(cfg));
    if (n < 0) {
        return set_why(t, (int)n, "cannot read %s: %s", path,
                       strerror((int)-n));
    }
    if (n < 64 || !(cfg[6] & 0x10)) { /* no capability list */
        return set_why(t, -ENOENT, "%s: no MSI-X capability", bdf);
    }
    /* The capability list, at most 48 hops (it could loop). */
    unsigned pos = cfg[0x34] & 0xfc;
    for (int hops = 0; hops < 48 && pos >= 0x40 && pos + 4 <= (size_t)n;
         hops++) {
        if (cfg[pos] == 0x11) { /* MSI-X: Message Control, bits 10:0 */
            *size = ((cfg[pos + 2] | cfg[pos + 3] << 8) & 0x7ff) + 1u;
            return 0;
        }
        pos = cfg[pos + 1] & 0xfc;
    }
    return set_why(t, -ENOENT, "%s: no MSI-X capability", bdf);
}
