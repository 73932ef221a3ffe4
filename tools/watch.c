/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * watch: follows QEMU's QMP events. DEVICE_DELETED is the moment QEMU has
 * finished with a device (hot-unplug done, its VFIO files closed): the
 * device's endpoint is removed from the daemon at once, as a guest that
 * sends no DETACH (Linux before v6.5) never asks. A VF that a guest
 * disables makes no event (QEMU 10 keeps the VF object): there the VMM
 * removes the endpoint itself.
 */
#include "watch.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "assign.h"
#include "endpoint.h"
#include "jsonsock.h"
#include "state.h"
#include "tool.h"
#include "undo.h"

static volatile sig_atomic_t stopped;

static void on_signal(int sig)
{
    (void)sig;
    stopped = 1;
}

static const char *string_member(struct json_object *o, const char *key)
{
    struct json_object *m = jsock_member(o, key, json_type_string);

    return m != NULL ? json_object_get_string(m) : NULL;
}

/* Removes the endpoint of a deleted device: one of --device, or one
 * assigned with --qemu-id (its state entry updated). Fills `line`. */
static void device_deleted(struct tool *t, const struct watch_map *maps,
                           unsigned nr_maps, const char *device,
                           struct json_object *line)
{
    int host_error = 0, err = 0;
    int64_t id = -1;
    const char *action;

    for (unsigned i = 0; device != NULL && i < nr_maps && id < 0; i++) {
        if (strcmp(maps[i].qemu_id, device) == 0) {
            id = maps[i].endpoint;
            err = endpoint_remove(t, maps[i].endpoint, &host_error);
        }
    }
    if (id < 0 && device != NULL && state_lock(t) == 0) {
        for (size_t i = 0; i < t->state->n && id < 0; i++) {
            struct entry *e = &t->state->e[i];
            if (strcmp(e->qemu_id, device) == 0 && e->endpoint >= 0) {
                id = e->endpoint;
                json_object_object_add(line, "host-device",
                                       json_object_new_string(e->bdf));
                err = release_endpoint(t, e);
            }
        }
        state_unlock(t);
    }
    json_object_object_add(line, "endpoint", int_or_null(id));
    if (id < 0) {
        action = "ignored";
        set_why(t, 0, "no endpoint known for %s",
                device != NULL ? device : "a device without an id");
    } else if (err == -ENOENT) {
        action = "removed-already";
        set_why(t, 0, "endpoint 0x%04" PRIx64 " was not declared", id);
    } else if (err != 0) {
        action = "failed";
    } else {
        action = "removed";
        set_why(t, 0, "endpoint 0x%04" PRIx64 " removed%s", id,
                host_error != 0 ? ", but its host reported an error" : "");
    }
    json_object_object_add(line, "action", json_object_new_string(action));
    json_object_object_add(line, "host-error", json_object_new_int(host_error));
    json_object_object_add(line, "message", json_object_new_string(t->why));
}

/* The greeting and capabilities negotiation. */
static int negotiate(struct tool *t, struct jsock *s, const char *path)
{
    int64_t deadline = now_ms() + t->timeout_ms;
    struct json_object *o = NULL, *m;
    int err = jsock_read(s, deadline, &o);

    if (err != 1 || !json_object_object_get_ex(o, "QMP", &m)) {
        json_object_put(o);
        return set_why(t, -EPROTO, "%s: no QMP greeting (%s)", path,
                       err == 1   ? "another protocol"
                       : err == 0 ? "closed"
                                  : strerror(-err));
    }
    json_object_put(o);
    struct json_object *cmd = json_object_new_object();
    json_object_object_add(cmd, "execute",
                           json_object_new_string("qmp_capabilities"));
    err = jsock_send(s, cmd);
    json_object_put(cmd);
    while (err == 0) {
        o = NULL;
        err = jsock_read(s, deadline, &o);
        if (err != 1) {
            return set_why(t, -EPROTO, "%s: no answer to qmp_capabilities (%s)",
                           path, err == 0 ? "closed" : strerror(-err));
        }
        err = 0;
        bool done = json_object_object_get_ex(o, "return", NULL);
        if (json_object_object_get_ex(o, "error", &m)) {
            const char *desc = string_member(m, "desc");
            set_why(t, -EPROTO, "QEMU refused qmp_capabilities: %s",
                    desc != NULL ? desc : "?");
            err = -EPROTO;
        }
        json_object_put(o);
        if (done) {
            return 0;
        }
    }
    return err == -EPROTO ? err
                          : set_why(t, err, "%s: %s", path, strerror(-err));
}

int cmd_watch(struct tool *t, const char *qmp, const struct watch_map *maps,
              unsigned nr_maps)
{
    struct sigaction sa = {.sa_handler = on_signal};
    struct jsock s;
    struct json_object *o;
    unsigned events = 0;

    if (qmp == NULL) {
        return finish(t, EXIT_USAGE, "give QEMU's QMP socket (--qmp)");
    }
    if (t->control == NULL) {
        return finish(t, EXIT_USAGE,
                      "give the daemon's --control-socket: watch removes "
                      "endpoints there");
    }
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: reads return */
    sigaction(SIGTERM, &sa, NULL);
    int err = jsock_connect(&s, qmp);
    if (err != 0) {
        return finish(t, EXIT_UNREACHABLE, "cannot connect to QMP at %s: %s",
                      qmp, strerror(-err));
    }
    if (negotiate(t, &s, qmp) != 0) {
        jsock_close(&s);
        return finish(t, EXIT_UNREACHABLE, "%s", t->why);
    }
    if (!t->json) {
        printf("following QEMU's events on %s\n", qmp);
        fflush(stdout);
    }
    for (;;) {
        o = NULL;
        err = stopped ? -EINTR : jsock_read(&s, -1, &o);
        if (err != 1) {
            break;
        }
        const char *name = string_member(o, "event");
        if (name == NULL || strcmp(name, "DEVICE_DELETED") != 0) {
            json_object_put(o);
            continue;
        }
        struct json_object *data, *line = json_object_new_object();
        json_object_object_get_ex(o, "data", &data);
        const char *device = string_member(data, "device");
        const char *path = string_member(data, "path");
        /* The steps of this event go with it. */
        struct json_object *all_steps = t->steps;
        t->steps = json_object_new_array();
        json_object_object_add(line, "event",
                               json_object_new_string("DEVICE_DELETED"));
        json_object_object_add(line, "device",
                               device ? json_object_new_string(device) : NULL);
        json_object_object_add(line, "path",
                               path ? json_object_new_string(path) : NULL);
        device_deleted(t, maps, nr_maps, device, line);
        json_object_object_add(line, "steps", t->steps);
        t->steps = all_steps;
        if (t->json) {
            puts(json_object_to_json_string_ext(line, JSON_C_TO_STRING_PLAIN));
        } else {
            struct json_object *m;
            json_object_object_get_ex(line, "message", &m);
            printf("DEVICE_DELETED %s (%s): %s\n", device ? device : "-",
                   path ? path : "-", json_object_get_string(m));
        }
        fflush(stdout);
        events++;
        json_object_put(line);
        json_object_put(o);
    }
    jsock_close(&s);
    json_object_object_add(t->out, "events", json_object_new_int(events));
    if (err == -EINTR) {
        return finish(t, EXIT_DONE, "stopped by a signal after %u events",
                      events);
    }
    if (err == 0) {
        return finish(t, EXIT_DONE,
                      "QEMU closed its QMP socket after %u events: nothing "
                      "more to follow",
                      events);
    }
    return finish(t, EXIT_UNREACHABLE, "QMP at %s: %s", qmp, strerror(-err));
}
