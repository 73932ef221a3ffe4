/* SPDX-License-Identifier: BSD-3-Clause */
#include "assign.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bind.h"
#include "endpoint.h"
#include "holders.h"
#include "hostview.h"
#include "state.h"
#include "tool.h"
#include "undo.h"

/* The members of a group that keep VFIO from using it (all but `self`):
 * an array of {"device", "driver"}, and their text into buf. */
static struct json_object *in_the_way(struct tool *t, const struct member *m,
                                      size_t n, const char *self, char *buf,
                                      size_t len)
{
    struct json_object *way = json_object_new_array();
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char driver[DRIVER_NAME_MAX];
        if (strcmp(m[i].name, self) == 0 || member_viable(t, m[i].name)) {
            continue;
        }
        bool pci = dev_exists(t, m[i].name);
        if (pci) {
            dev_driver(t, m[i].name, driver, sizeof(driver));
        }
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "device", json_object_new_string(m[i].name));
        json_object_object_add(o, "driver",
                               pci ? json_object_new_string(driver) : NULL);
        json_object_array_add(way, o);
        int k = snprintf(buf + used, len - used, "%s%s (%s)", used ? ", " : "",
                         m[i].name, pci ? driver : "not a PCI device");
        used += k > 0 && (size_t)k < len - used ? (size_t)k : 0;
    }
    return way;
}

/* ---- groups ---- */

static int by_number(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* The assignment of a member: its entry, and what the daemon says of its
 * endpoint ("declared": null when the daemon was not asked). */
static struct json_object *assignment(struct tool *t, const struct entry *e,
                                      bool *unreachable, char *text, size_t len)
{
    struct json_object *o = json_object_new_object();
    bool declared = false;
    int64_t domain = -1;
    int err = -1;

    json_object_object_add(o, "endpoint", int_or_null(e->endpoint));
    json_object_object_add(o, "qemu-id", string_or_null(e->qemu_id));
    json_object_object_add(o, "host-driver", string_or_null(e->driver));
    if (e->endpoint < 0) {
        snprintf(text, len, "assigned, no endpoint (had %s)",
                 e->driver[0] ? e->driver : "no driver");
        return o;
    }
    if (t->control != NULL && !*unreachable) {
        err = endpoint_query(t, (uint32_t)e->endpoint, &declared, &domain);
        *unreachable = err == -EHOSTUNREACH;
    }
    json_object_object_add(o, "declared",
                           err == 0 ? json_object_new_boolean(declared) : NULL);
    json_object_object_add(o, "domain", int_or_null(domain));
    char dom[32] = "";
    if (domain >= 0) {
        snprintf(dom, sizeof(dom), ", in domain %" PRId64, domain);
    }
    snprintf(text, len, "assigned as endpoint 0x%04" PRIx64 " (%s%s; had %s)",
             e->endpoint,
             err != 0   ? "daemon not asked"
             : declared ? "declared"
                        : "NOT declared",
             dom, e->driver[0] ? e->driver : "no driver");
    return o;
}

static struct json_object *describe_group(struct tool *t, int64_t g,
                                          bool *unreachable)
{
    struct json_object *o = json_object_new_object();
    struct json_object *devices = json_object_new_array();
    struct member *m = NULL;
    size_t n = 0;
    char way_text[1024], path[TOOL_PATH_MAX];

    /* A group whose members cannot be listed is not called viable. */
    bool listed = group_members(t, g, &m, &n) == 0;
    struct json_object *way =
        in_the_way(t, m, n, "", way_text, sizeof(way_text));
    bool viable = listed && json_object_array_length(way) == 0;
    if (!listed) {
        snprintf(way_text, sizeof(way_text), "(%s)", t->why);
    }
    snprintf(path, sizeof(path), "%s/vfio/%" PRId64, t->dev, g);
    bool vfio = access(path, F_OK) == 0;
    struct json_object *holders = vfio_holders(t, g, m, n);
    char held[1024];
    holders_text(holders, held, sizeof(held));

    json_object_object_add(o, "group", json_object_new_int64(g));
    json_object_object_add(o, "viable", json_object_new_boolean(viable));
    json_object_object_add(o, "in-the-way", way);
    json_object_object_add(o, "vfio-file",
                           vfio ? json_object_new_string(path) : NULL);
    json_object_object_add(o, "holders", holders);
    json_object_object_add(o, "devices", devices);
    if (!t->json) {
        printf("group %" PRId64 ": %s%s%s\n", g,
               viable ? "viable for VFIO" : "NOT viable for VFIO",
               viable ? "" : ", in the way: ", viable ? "" : way_text);
        if (held[0] != '\0') {
            printf("  %s\n", held);
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *d = json_object_new_object();
        char driver[DRIVER_NAME_MAX] = "", text[256] = "";
        bool pci = dev_exists(t, m[i].name);
        struct entry *e = state_find(t, m[i].name);
        if (pci) {
            dev_driver(t, m[i].name, driver, sizeof(driver));
        }
        json_object_object_add(d, "device", json_object_new_string(m[i].name));
        json_object_object_add(d, "driver", string_or_null(driver));
        json_object_object_add(
            d, "bridge",
            json_object_new_boolean(pci && dev_is_bridge(t, m[i].name)));
        json_object_object_add(
            d, "assigned",
            e != NULL ? assignment(t, e, unreachable, text, sizeof(text))
                      : NULL);
        json_object_array_add(devices, d);
        if (!t->json) {
            printf("  %-14s %-12s %s\n", m[i].name,
                   !pci        ? "(not PCI)"
                   : driver[0] ? driver
                               : "(no driver)",
                   text[0]                       ? text
                   : member_viable(t, m[i].name) ? ""
                                                 : "in the way");
        }
    }
    free(m);
    return o;
}

int cmd_groups(struct tool *t)
{
    char path[TOOL_PATH_MAX];
    int64_t *groups = NULL;
    size_t n = 0, cap = 0;
    struct dirent *d;
    uint64_t g;
    bool unreachable = false;

    snprintf(path, sizeof(path), "%s/kernel/iommu_groups", t->sysfs);
    DIR *dir = opendir(path);
    if (dir == NULL) {
        return finish(t, EXIT_REFUSED,
                      "cannot list %s (%s): is an IOMMU on (intel_iommu=on, "
                      "amd_iommu, a virtio-iommu)?",
                      path, strerror(errno));
    }
    if (state_read(t) != 0) {
        closedir(dir);
        return finish(t, EXIT_REFUSED, "%s", t->why);
    }
    while ((d = readdir(dir)) != NULL) {
        if (!parse_number(d->d_name, INT32_MAX, &g)) {
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            int64_t *grown = realloc(groups, cap * sizeof(*groups));
            if (grown == NULL) {
                free(groups);
                closedir(dir);
                return finish(t, EXIT_REFUSED, "out of memory");
            }
            groups = grown;
        }
        groups[n++] = (int64_t)g;
    }
    closedir(dir);
    if (n > 0) {
        qsort(groups, n, sizeof(*groups), by_number);
    }
    struct json_object *list = json_object_new_array();
    json_object_object_add(t->out, "groups", list);
    for (size_t i = 0; i < n; i++) {
        json_object_array_add(list, describe_group(t, groups[i], &unreachable));
    }
    free(groups);
    if (unreachable) {
        return finish(t, EXIT_UNREACHABLE, "%s", t->why);
    }
    return finish(t, EXIT_DONE, "%zu IOMMU group%s", n, n == 1 ? "" : "s");
}

/* ---- assign ---- */

/* Records e in the state file, then binds it to vfio-pci, each with its
 * undo; 0, or the error with t->why. */
static int take(struct tool *t, const struct entry *e)
{
    struct undo u = {.kind = UNDO_ENTRY, .entry = *e, .had_entry = false};

    if (!reserve_undo(t)) {
        return -ENOMEM;
    }
    int err = state_put(t, e);
    if (err != 0) {
        return err;
    }
    push_undo(t, &u);
    if (strcmp(e->driver, "vfio-pci") == 0) {
        step(t, "%s: on vfio-pci already", e->bdf);
        return 0;
    }
    /* Undone whatever happens: a half-made binding too. */
    u.kind = UNDO_DRIVER;
    if (!reserve_undo(t)) {
        return -ENOMEM;
    }
    push_undo(t, &u);
    err = bind_vfio(t, e);
    if (err == 0) {
        step(t, "%s: driver_override vfio-pci, %s%s, bound to vfio-pci", e->bdf,
             e->driver[0] ? "unbound from " : "had no driver", e->driver);
    }
    return err;
}

/* The entry of a device as it is now: nothing taken yet. */
static int current(struct tool *t, const char *bdf, struct entry *e)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->bdf, sizeof(e->bdf), "%s", bdf);
    e->endpoint = -1;
    e->group = dev_group(t, bdf);
    dev_driver(t, bdf, e->driver, sizeof(e->driver));
    return dev_override(t, bdf, e->override, sizeof(e->override));
}

/* Declares the endpoint with the group's reserved regions, replacing the
 * declared range's endpoint there (`replace`). */
static int declare(struct tool *t, struct entry *e, uint32_t id, bool replace)
{
    struct region r[MAX_REGIONS];
    unsigned nr;
    char path[TOOL_PATH_MAX];
    int host_error;

    int err = group_regions(t, e->group, r, &nr);
    if (err != 0) {
        return err;
    }
    struct json_object *geo = json_object_new_object();
    struct json_object *list = json_object_new_array();
    snprintf(path, sizeof(path),
             "%s/kernel/iommu_groups/%" PRId64 "/reserved_regions", t->sysfs,
             e->group);
    json_object_object_add(geo, "source", json_object_new_string(path));
    json_object_object_add(geo, "reserved", list);
    json_object_object_add(
        geo, "iova-ranges",
        json_object_new_string("not in sysfs: VFIO reports them to the "
                               "process that opens the group (the VMM)"));
    json_object_object_add(t->out, "geometry", geo);
    for (unsigned i = 0; i < nr; i++) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "start", json_object_new_uint64(r[i].start));
        json_object_object_add(o, "end", json_object_new_uint64(r[i].end));
        json_object_object_add(o, "type", json_object_new_string(r[i].type));
        json_object_array_add(list, o);
        step(t,
             "reserved region of group %" PRId64 ": 0x%" PRIx64 "-0x%" PRIx64
             " (%s)",
             e->group, r[i].start, r[i].end, r[i].type);
    }
    step(t, "usable IOVA ranges and page sizes: not in sysfs (VFIO tells the "
            "VMM that opens the group)");
    if (replace) {
        struct undo u = {.kind = UNDO_REPLUG, .id = id};
        if (!reserve_undo(t)) {
            return -ENOMEM;
        }
        err = endpoint_remove(t, id, &host_error);
        if (err != 0) {
            return err;
        }
        push_undo(t, &u);
        step(t, "endpoint 0x%04x: the declared range's endpoint removed", id);
    }
    /* Nothing fails after this: it needs no undo. */
    err = endpoint_add(t, id, e->group, r, nr);
    if (err == 0) {
        step(t,
             "endpoint 0x%04x declared to the daemon: group %" PRId64
             ", %u reserved region%s",
             id, e->group, nr, nr == 1 ? "" : "s");
    }
    return err;
}

/*
 * The members of self's group in the way of VFIO: with `whole` set and
 * all of them PCI devices, they are taken too; else refused, as `status`
 * (nothing changed yet, or a rollback). -1 when it may go on.
 */
static int clear_group(struct tool *t, const struct entry *self, bool whole,
                       int status)
{
    struct member *m = NULL;
    size_t n;
    char text[1024];
    bool foreign = false;

    if (group_members(t, self->group, &m, &n) != 0) {
        return finish(t, status, "%s", t->why);
    }
    struct json_object *way =
        in_the_way(t, m, n, self->bdf, text, sizeof(text));
    free(m);
    json_object_object_add(t->out, "in-the-way", way);
    size_t nr = json_object_array_length(way);
    for (size_t i = 0; i < nr; i++) {
        struct json_object *drv;
        json_object_object_get_ex(json_object_array_get_idx(way, i), "driver",
                                  &drv);
        foreign |= drv == NULL;
    }
    if (nr > 0 && (!whole || foreign)) {
        return finish(t, status,
                      "group %" PRId64 " is not viable for VFIO: %s %s in the "
                      "way; %s",
                      self->group, text, nr == 1 ? "is" : "are",
                      foreign ? "viommuctl binds PCI devices only"
                              : "give each a driver VFIO accepts (vfio-pci, "
                                "pci-stub), or assign the whole group with "
                                "--group");
    }
    for (size_t i = 0; i < nr; i++) {
        struct json_object *d;
        struct entry e;
        json_object_object_get_ex(json_object_array_get_idx(way, i), "device",
                                  &d);
        if (current(t, json_object_get_string(d), &e) != 0 ||
            take(t, &e) != 0) {
            return finish(t, EXIT_ROLLED_BACK,
                          "taking %s of group %" PRId64 ": %s",
                          json_object_get_string(d), self->group, t->why);
        }
    }
    return -1;
}

int cmd_assign(struct tool *t, const struct assign_args *a)
{
    struct entry e;
    bool replace = false;
    int64_t domain = -1;
    int ret;

    if (a->endpoint >= 0 && t->control == NULL) {
        return finish(t, EXIT_USAGE, "--endpoint needs --control-socket");
    }
    if (a->qemu_id != NULL && a->endpoint < 0) {
        return finish(t, EXIT_USAGE,
                      "--qemu-id needs --endpoint (watch "
                      "removes the endpoint of that QEMU "
                      "device)");
    }
    if (!dev_exists(t, a->bdf)) {
        return finish(t, EXIT_REFUSED, "no PCI device %s under %s/bus/pci",
                      a->bdf, t->sysfs);
    }
    if (!driver_loaded(t, "vfio-pci")) {
        return finish(t, EXIT_REFUSED,
                      "vfio-pci is not loaded (modprobe vfio-pci); nothing "
                      "changed");
    }
    if (state_lock(t) != 0) {
        return finish(t, EXIT_REFUSED, "%s", t->why);
    }
    json_object_object_add(t->out, "device", json_object_new_string(a->bdf));
    const struct entry *old = state_find(t, a->bdf);
    bool taken = old != NULL; /* earlier, maybe with its group */
    if (taken && (old->endpoint == a->endpoint || a->endpoint < 0)) {
        return finish(t, EXIT_DONE, "%s is assigned already", a->bdf);
    }
    if (taken && old->endpoint >= 0) {
        return finish(t, EXIT_REFUSED,
                      "%s is assigned already, as endpoint 0x%04" PRIx64
                      ": release it first",
                      a->bdf, old->endpoint);
    }
    if (taken) {
        e = *old;
    } else if (current(t, a->bdf, &e) != 0) {
        return finish(t, EXIT_REFUSED, "%s", t->why);
    }
    json_object_object_add(t->out, "host-driver", string_or_null(e.driver));
    if (a->endpoint >= 0) {
        bool declared;
        int err = endpoint_query(t, (uint32_t)a->endpoint, &declared, &domain);
        if (err != 0) {
            return finish(t, EXIT_UNREACHABLE, "%s", t->why);
        }
        if (domain >= 0) {
            return finish(t, EXIT_REFUSED,
                          "endpoint 0x%04" PRIx64 " is in use: the guest "
                          "attached it to domain %" PRId64
                          " (a device is there)",
                          a->endpoint, domain);
        }
        replace = declared;
    }

    /* A group known now is made viable (or refused) before the device
     * changes; one that appears with the binding (virtio-iommu), right
     * after. */
    if (e.group >= 0 && !taken &&
        (ret = clear_group(t, &e, a->whole_group, EXIT_REFUSED)) >= 0) {
        return ret;
    }
    if (!taken && take(t, &e) != 0) {
        return finish(t, EXIT_ROLLED_BACK, "binding %s to vfio-pci: %s%s",
                      a->bdf, t->why,
                      e.group < 0 ? " (it has no IOMMU group: does an IOMMU "
                                    "translate it?)"
                                  : "");
    }
    if (e.group < 0) {
        /* Under virtio-iommu, a device joins its group when it is bound. */
        e.group = dev_group(t, a->bdf);
        if (e.group < 0) {
            return finish(t, EXIT_ROLLED_BACK,
                          "%s has no IOMMU group even on vfio-pci: no IOMMU "
                          "translates it",
                          a->bdf);
        }
        if (state_put(t, &e) != 0) {
            return finish(t, EXIT_ROLLED_BACK, "%s", t->why);
        }
        ret = clear_group(t, &e, a->whole_group, EXIT_ROLLED_BACK);
        if (ret >= 0) {
            return ret;
        }
    }
    json_object_object_add(t->out, "group", json_object_new_int64(e.group));
    if (a->endpoint >= 0) {
        /* Recorded first: should viommuctl die before the daemon answers,
         * release still knows the endpoint to remove. */
        struct undo u = {.kind = UNDO_ENTRY, .entry = e, .had_entry = true};
        e.endpoint = a->endpoint;
        e.from_range = replace;
        snprintf(e.qemu_id, sizeof(e.qemu_id), "%s",
                 a->qemu_id != NULL ? a->qemu_id : "");
        if (!reserve_undo(t) || state_put(t, &e) != 0) {
            return finish(t, EXIT_ROLLED_BACK, "%s", t->why);
        }
        push_undo(t, &u);
        if (declare(t, &e, (uint32_t)a->endpoint, replace) != 0) {
            return finish(t, EXIT_ROLLED_BACK, "%s", t->why);
        }
        json_object_object_add(t->out, "endpoint",
                               json_object_new_int64(e.endpoint));
    }
    commit_changes(t);
    if (a->endpoint < 0) {
        return finish(t, EXIT_DONE,
                      "%s is on vfio-pci (group %" PRId64 ", had %s)", a->bdf,
                      e.group, e.driver[0] ? e.driver : "no driver");
    }
    return finish(t, EXIT_DONE,
                  "%s is on vfio-pci (group %" PRId64 ", had %s) and endpoint "
                  "0x%04" PRIx64 " of the daemon; give it to the VMM, and "
                  "release it once the VMM is done with it",
                  a->bdf, e.group, e.driver[0] ? e.driver : "no driver",
                  e.endpoint);
}

/* ---- release ---- */

int release_endpoint(struct tool *t, struct entry *e)
{
    int host_error;
    uint32_t id = (uint32_t)e->endpoint;
    int err = endpoint_remove(t, id, &host_error);

    if (err == -ENOENT) {
        step(t, "endpoint 0x%04x: removed already", id);
    } else if (err != 0) {
        return err;
    } else if (host_error != 0) {
        return set_why(t, -EIO,
                       "the daemon removed endpoint 0x%04x, but its host "
                       "reported error %d: the host IOMMU context may still "
                       "hold the device's mappings, so it stays on vfio-pci",
                       id, host_error);
    } else {
        step(t,
             "endpoint 0x%04x removed: its host state is gone "
             "(ENDPOINT_REMOVED)",
             id);
    }
    if (e->from_range && err == 0) {
        if (endpoint_replug(t, id) == 0) {
            step(t, "endpoint 0x%04x is its declared range's again", id);
        } else {
            step(t, "endpoint 0x%04x not given back to its range: %s", id,
                 t->why);
        }
    }
    e->endpoint = -1;
    e->from_range = false;
    return state_put(t, e);
}

/* Waits until no process holds the group's or the devices' VFIO files,
 * then claims the group (*claim: its fd, or -1 when it has no file) so
 * that none can open them again before the devices have left vfio-pci. */
static int wait_unheld(struct tool *t, int64_t g, const struct member *m,
                       size_t n, int *claim)
{
    int64_t deadline = now_ms() + t->timeout_ms;
    char text[1024];

    for (;;) {
        struct json_object *held = vfio_holders(t, g, m, n);
        size_t nr = json_object_array_length(held);
        int fd = nr == 0 ? vfio_group_claim(t, g) : -EBUSY;
        if (fd != -EBUSY) {
            json_object_put(held);
            *claim = fd >= 0 ? fd : -1;
            return 0;
        }
        if (now_ms() >= deadline) {
            holders_text(held, text, sizeof(text));
            json_object_object_add(t->out, "holders", held);
            return set_why(t, -ETIMEDOUT, "%s",
                           nr != 0 ? text
                                   : "a process holds a device of the group "
                                     "(a VFIO device fd, which /proc cannot "
                                     "tie to its device)");
        }
        json_object_put(held);
        sleep_ms(50);
    }
}

int cmd_release(struct tool *t, const char *bdf, bool whole_group)
{
    char others[1024] = "";
    size_t used = 0;

    if (state_lock(t) != 0) {
        return finish(t, EXIT_REFUSED, "%s", t->why);
    }
    json_object_object_add(t->out, "device", json_object_new_string(bdf));
    struct entry *self = state_find(t, bdf);
    if (self == NULL) {
        return finish(t, EXIT_REFUSED,
                      "%s is not assigned by viommuctl (no entry in %s)", bdf,
                      t->state_path);
    }
    int64_t g = self->group;
    /* The set released together: the device, or its group's. */
    size_t n = 0;
    struct entry *set = calloc(t->state->n, sizeof(*set));
    struct member *m = calloc(t->state->n, sizeof(*m));
    if (set == NULL || m == NULL) {
        free(set);
        free(m);
        return finish(t, EXIT_REFUSED, "out of memory");
    }
    for (size_t i = 0; i < t->state->n; i++) {
        const struct entry *e = &t->state->e[i];
        bool mine = e == self || (g >= 0 && e->group == g);
        if (mine && (whole_group || e == self)) {
            set[n] = *e;
            snprintf(m[n].name, sizeof(m[n].name), "%s", e->bdf);
            n++;
        } else if (mine) {
            int k = snprintf(others + used, sizeof(others) - used, "%s%s",
                             used ? ", " : "", e->bdf);
            used += k > 0 && (size_t)k < sizeof(others) - used ? (size_t)k : 0;
        }
    }
    int ret = -1;
    if (used > 0) {
        ret = finish(t, EXIT_REFUSED,
                     "%s of group %" PRId64 " %s assigned too: a group goes "
                     "back to its drivers whole (release --group)",
                     others, g, strchr(others, ',') ? "are" : "is");
    }
    for (size_t i = 0; i < n && ret < 0; i++) {
        if (set[i].endpoint >= 0 && t->control == NULL) {
            ret = finish(t, EXIT_USAGE,
                         "%s is endpoint 0x%04" PRIx64 " of a daemon: give "
                         "its --control-socket",
                         set[i].bdf, set[i].endpoint);
        } else if (set[i].driver[0] != '\0' &&
                   !driver_loaded(t, set[i].driver)) {
            ret = finish(t, EXIT_REFUSED,
                         "%s's host driver, %s, is not loaded: load it, then "
                         "release; nothing changed",
                         set[i].bdf, set[i].driver);
        }
    }
    /* The daemon lets go first: the endpoints' host state goes. This is
     * not undone: the VMM has finished with the device by now. */
    for (size_t i = 0; i < n && ret < 0; i++) {
        int err = set[i].endpoint >= 0 ? release_endpoint(t, &set[i]) : 0;
        if (err != 0) {
            ret = finish(t,
                         err == -EHOSTUNREACH ? EXIT_UNREACHABLE : EXIT_REFUSED,
                         "%s", t->why);
        }
    }
    int claim = -1;
    if (ret < 0 && wait_unheld(t, g, m, n, &claim) != 0) {
        ret = finish(t, EXIT_TIMEOUT,
                     "after %d.%03d s, %s; %s stays on vfio-pci: release "
                     "again once the VMM has let go of it",
                     t->timeout_ms / 1000, t->timeout_ms % 1000, t->why, bdf);
    }
    /* Back to the host drivers, each undone (back on vfio-pci) should a
     * later one fail. */
    for (size_t i = 0; i < n && ret < 0; i++) {
        struct undo u = {.kind = UNDO_VFIO, .entry = set[i]};
        if (!reserve_undo(t)) {
            ret = finish(t, EXIT_ROLLED_BACK, "%s", t->why);
            break;
        }
        push_undo(t, &u); /* a half-restored device too */
        if (restore_driver(t, &set[i]) != 0) {
            ret = finish(t, EXIT_ROLLED_BACK, "giving %s back: %s", set[i].bdf,
                         t->why);
        } else {
            step(t, "%s: back to %s%s%s", set[i].bdf,
                 set[i].driver[0] ? set[i].driver : "no driver",
                 set[i].override[0] ? ", driver_override " : "",
                 set[i].override);
        }
    }
    if (claim >= 0) {
        close(claim);
    }
    if (ret < 0) {
        commit_changes(t);
        for (size_t i = 0; i < n && ret < 0; i++) {
            if (state_drop(t, set[i].bdf) != 0) {
                ret = finish(t, EXIT_INCOMPLETE,
                             "the devices are back with their drivers, but "
                             "%s",
                             t->why);
            }
        }
    }
    if (ret < 0) {
        ret = finish(t, EXIT_DONE, "%s given back to %s", n > 1 ? "group" : bdf,
                     n > 1              ? "its host drivers"
                     : set[0].driver[0] ? set[0].driver
                                        : "no driver");
    }
    free(set);
    free(m);
    return ret;
}
