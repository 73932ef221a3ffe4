/* SPDX-License-Identifier: BSD-3-Clause */
#include "bind.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attr.h"
#include "hostview.h"
#include "state.h"
#include "tool.h"

bool driver_loaded(const struct tool *t, const char *driver)
{
    char path[TOOL_PATH_MAX];

    snprintf(path, sizeof(path), "%s/bus/pci/drivers/%s", t->sysfs, driver);
    return access(path, F_OK) == 0;
}

int dev_override(struct tool *t, const char *bdf, char *name, size_t len)
{
    int err = dev_read(t, bdf, "driver_override", name, len);

    if (err == 0 && strcmp(name, "(null)") == 0) {
        name[0] = '\0';
    }
    return err;
}

/* Waits until the device's driver is `want` ("": none). */
static int wait_driver(struct tool *t, const char *bdf, const char *want)
{
    int64_t deadline = now_ms() + t->timeout_ms;
    char now[DRIVER_NAME_MAX];

    for (;;) {
        dev_driver(t, bdf, now, sizeof(now));
        if (strcmp(now, want) == 0) {
            return 0;
        }
        if (now_ms() >= deadline) {
            break;
        }
        sleep_ms(10);
    }
    if (want[0] == '\0') {
        return set_why(t, -ETIMEDOUT, "%s is still bound to %s", bdf, now);
    }
    return set_why(t, -ETIMEDOUT, "%s: %s did not take it (%s)", bdf, want,
                   now[0] != '\0' ? now : "it has no driver");
}

static int unbind(struct tool *t, const char *bdf, const char *driver)
{
    char path[TOOL_PATH_MAX];

    snprintf(path, sizeof(path), "%s/bus/pci/drivers/%s/unbind", t->sysfs,
             driver);
    int err = attr_write(t, path, bdf);
    return err != 0 ? err : wait_driver(t, bdf, "");
}

static int probe(struct tool *t, const char *bdf, const char *want)
{
    char path[TOOL_PATH_MAX];

    snprintf(path, sizeof(path), "%s/bus/pci/drivers_probe", t->sysfs);
    int err = attr_write(t, path, bdf);
    return err != 0 ? err : wait_driver(t, bdf, want);
}

int bind_vfio(struct tool *t, const struct entry *e)
{
    char now[DRIVER_NAME_MAX];
    int err = dev_write(t, e->bdf, "driver_override", "vfio-pci");

    dev_driver(t, e->bdf, now, sizeof(now));
    if (err == 0 && strcmp(now, "vfio-pci") == 0) {
        return 0;
    }
    if (err == 0 && now[0] != '\0') {
        err = unbind(t, e->bdf, now);
    }
    return err != 0 ? err : probe(t, e->bdf, "vfio-pci");
}

int restore_driver(struct tool *t, const struct entry *e)
{
    char now[DRIVER_NAME_MAX], override[DRIVER_NAME_MAX];
    int err = 0;

    dev_driver(t, e->bdf, now, sizeof(now));
    if (strcmp(now, e->driver) != 0 && now[0] != '\0') {
        err = unbind(t, e->bdf, now);
    }
    if (err == 0) {
        err = dev_override(t, e->bdf, override, sizeof(override));
    }
    if (err == 0 && strcmp(override, e->override) != 0) {
        err = dev_write(t, e->bdf, "driver_override", e->override);
    }
    if (err == 0 && e->driver[0] != '\0' && strcmp(now, e->driver) != 0) {
        err = probe(t, e->bdf, e->driver);
    }
    return err;
}
