/* SPDX-License-Identifier: BSD-3-Clause */
#include "hostview.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attr.h"
#include "tool.h"

bool dev_exists(const struct tool *t, const char *bdf)
{
    char path[TOOL_PATH_MAX];

    dev_path(t, path, sizeof(path), bdf, NULL);
    return access(path, F_OK) == 0;
}

void dev_driver(const struct tool *t, const char *bdf, char *name, size_t len)
{
    char path[TOOL_PATH_MAX];

    dev_path(t, path, sizeof(path), bdf, "driver");
    if (!link_name(path, name, len)) {
        name[0] = '\0';
    }
}

int64_t dev_group(const struct tool *t, const char *bdf)
{
    char path[TOOL_PATH_MAX], name[32];
    uint64_t g;

    dev_path(t, path, sizeof(path), bdf, "iommu_group");
    if (!link_name(path, name, sizeof(name)) ||
        !parse_number(name, INT32_MAX, &g)) {
        return -1;
    }
    return (int64_t)g;
}

bool dev_is_bridge(struct tool *t, const char *bdf)
{
    char text[32];
    uint64_t class;

    return dev_read(t, bdf, "class", text, sizeof(text)) == 0 &&
           parse_number(text, UINT32_MAX, &class) && class >> 16 == 0x06;
}

bool member_viable(struct tool *t, const char *name)
{
    char driver[DRIVER_NAME_MAX];

    if (!dev_exists(t, name)) {
        return false; /* not PCI: its driver is not ours to judge */
    }
    dev_driver(t, name, driver, sizeof(driver));
    return driver[0] == '\0' || strcmp(driver, "vfio-pci") == 0 ||
           strcmp(driver, "pci-stub") == 0 || dev_is_bridge(t, name);
}
static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct member *)a)->name,
                  ((const struct member *)b)->name);
}

int group_members(struct tool *t, int64_t g, struct member **out, size_t *n)
{
    char path[TOOL_PATH_MAX];
    struct member *m = NULL;
    size_t cap = 0;
    struct dirent *d;

    *n = 0;
    snprintf(path, sizeof(path), "%s/kernel/iommu_groups/%" PRId64 "/devices",
             t->sysfs, g);
    DIR *dir = opendir(path);
    if (dir == NULL) {
        return set_why(t, -errno, "cannot list %s: %s", path, strerror(errno));
    }
    while ((d = readdir(dir)) != NULL) {
        if (d->d_name[0] == '.') {
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            struct member *grown = realloc(m, cap * sizeof(*m));
            if (grown == NULL) {
                free(m);
                closedir(dir);
                return set_why(t, -ENOMEM, "out of memory");
            }
            m = grown;
        }
        if (strlen(d->d_name) >= sizeof(m[*n].name)) {
            continue; /* no device name is that long */
        }
        strcpy(m[*n].name, d->d_name);
        (*n)++;
    }
    closedir(dir);
    if (*n > 0) {
        qsort(m, *n, sizeof(*m), by_name);
    }
    *out = m;
    return 0;
}

int group_regions(struct tool *t, int64_t g, struct region *r, unsigned *nr)
{
    char path[TOOL_PATH_MAX], text[8192];

    *nr = 0;
    snprintf(path, sizeof(path),
             "%s/kernel/iommu_groups/%" PRId64 "/reserved_regions", t->sysfs,
             g);
    int err = attr_read(t, path, text, sizeof(text));
    for (char *line = text; err == 0 && *line != '\0';) {
        char *nl = strchr(line, '\n');
        struct region reg;
        if (nl != NULL) {
            *nl = '\0';
        }
        if (sscanf(line, "%" SCNx64 " %" SCNx64 " %23s", &reg.start, &reg.end,
                   reg.type) != 3 ||
            reg.end < reg.start) {
            return set_why(t, -EINVAL, "%s: cannot parse \"%s\"", path, line);
        }
        /* VFIO maps through these (a USB controller's RMRR, say). */
        if (strcmp(reg.type, "direct-relaxable") != 0) {
            if (*nr == MAX_REGIONS) {
                return set_why(t, -E2BIG,
                               "%s lists more than %d reserved regions, the "
                               "most the daemon takes",
                               path, MAX_REGIONS);
            }
            r[(*nr)++] = reg;
        }
        line = nl != NULL ? nl + 1 : line + strlen(line);
    }
    return err;
}
