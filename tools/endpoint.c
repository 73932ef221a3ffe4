/* SPDX-License-Identifier: BSD-3-Clause */
#include "endpoint.h"

#include <errno.h>
#include <string.h>

#include "jsonsock.h"
#include "tool.h"

static int unreachable(struct tool *t, int err, const char *what)
{
    return set_why(t, -EHOSTUNREACH, "the daemon at %s: %s: %s", t->control,
                   what, strerror(-err));
}

/* Whether o is the ENDPOINT_REMOVED event of endpoint id; its host error
 * into *host_error. */
static bool removed_event(struct json_object *o, uint32_t id, int *host_error)
{
    struct json_object *name = jsock_member(o, "event", json_type_string);
    struct json_object *data = jsock_member(o, "data", json_type_object);
    struct json_object *ep = jsock_member(data, "id", json_type_int);
    struct json_object *err = jsock_member(data, "host-error", json_type_int);

    if (name == NULL || ep == NULL || err == NULL ||
        strcmp(json_object_get_string(name), "ENDPOINT_REMOVED") != 0 ||
        json_object_get_int64(ep) != id) {
        return false;
    }
    *host_error = json_object_get_int(err);
    return true;
}

/*
 * Runs one command (args: taken) on a fresh connection: 0 and its return
 * value in *value (the caller's; may be NULL), or an error. With `removed`
 * set, also waits for the ENDPOINT_REMOVED event of *removed (the daemon
 * sends it before the reply, once the host state is gone).
 */
static int call(struct tool *t, const char *name, struct json_object *args,
                struct json_object **value, const uint32_t *removed,
                int *host_error)
{
    int64_t deadline = now_ms() + t->timeout_ms;
    struct json_object *cmd = json_object_new_object(), *o = NULL;
    bool seen = removed == NULL, replied = false;
    struct jsock s;
    int err;

    json_object_object_add(cmd, "execute", json_object_new_string(name));
    json_object_object_add(cmd, "arguments", args);
    json_object_object_add(cmd, "id", json_object_new_string("viommuctl"));
    err = jsock_connect(&s, t->control);
    if (err != 0) {
        json_object_put(cmd);
        return unreachable(t, err, "cannot connect");
    }
    /* The greeting, then the command. */
    err = jsock_read(&s, deadline, &o);
    if (err == 1 && jsock_member(o, "viommu", json_type_object) == NULL) {
        err = -EPROTO;
    }
    json_object_put(o);
    err = err == 1 ? jsock_send(&s, cmd) : err == 0 ? -ECONNRESET : err;
    json_object_put(cmd);
    while (err == 0 && !(seen && replied)) {
        err = jsock_read(&s, deadline, &o);
        if (err != 1) {
            err = err == 0 ? -ECONNRESET : err;
            break;
        }
        err = 0;
        if (removed != NULL && removed_event(o, *removed, host_error)) {
            seen = true;
        } else if (json_object_object_get_ex(o, "return", NULL)) {
            replied = true;
            if (value != NULL) {
                json_object_object_get_ex(o, "return", value);
                *value = json_object_get(*value);
            }
        } else if (jsock_member(o, "error", json_type_object) != NULL) {
            struct json_object *e = jsock_member(o, "error", json_type_object);
            struct json_object *class =
                jsock_member(e, "class", json_type_string);
            struct json_object *desc =
                jsock_member(e, "desc", json_type_string);
            bool not_found =
                class != NULL &&
                strcmp(json_object_get_string(class), "DeviceNotFound") == 0;
            set_why(t, not_found ? -ENOENT : -EINVAL,
                    "the daemon refused %s: %s", name,
                    desc != NULL ? json_object_get_string(desc) : "?");
            json_object_put(o);
            jsock_close(&s);
            return not_found ? -ENOENT : -EINVAL;
        }
        json_object_put(o);
    }
    jsock_close(&s);
    if (err != 0) {
        if (value != NULL && replied) {
            json_object_put(*value);
            *value = NULL;
        }
        return unreachable(t, err,
                           replied ? "no ENDPOINT_REMOVED event" : "no answer");
    }
    return 0;
}

static struct json_object *id_args(uint32_t id)
{
    struct json_object *args = json_object_new_object();

    json_object_object_add(args, "id", json_object_new_uint64(id));
    return args;
}

int endpoint_query(struct tool *t, uint32_t id, bool *declared, int64_t *domain)
{
    struct json_object *args = json_object_new_object(), *list = NULL;

    json_object_object_add(args, "from", json_object_new_uint64(id));
    json_object_object_add(args, "limit", json_object_new_int(1));
    int err = call(t, "query-endpoints", args, &list, NULL, NULL);
    if (err != 0) {
        return err;
    }
    struct json_object *ep = json_object_is_type(list, json_type_array)
                                 ? json_object_array_get_idx(list, 0)
                                 : NULL;
    struct json_object *ep_id = jsock_member(ep, "id", json_type_int);
    struct json_object *dom = jsock_member(ep, "domain", json_type_int);
    *declared = ep_id != NULL && json_object_get_int64(ep_id) == id;
    *domain = *declared && dom != NULL ? json_object_get_int64(dom) : -1;
    json_object_put(list);
    return 0;
}

int endpoint_add(struct tool *t, uint32_t id, int64_t group,
                 const struct region *r, unsigned nr)
{
    struct json_object *args = id_args(id);
    struct json_object *list = json_object_new_array();

    json_object_object_add(args, "group", json_object_new_int64(group));
    for (unsigned i = 0; i < nr; i++) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "start", json_object_new_uint64(r[i].start));
        json_object_object_add(o, "end", json_object_new_uint64(r[i].end));
        json_object_array_add(list, o);
    }
    json_object_object_add(args, "reserved", list);
    return call(t, "endpoint-add", args, NULL, NULL, NULL);
}

int endpoint_remove(struct tool *t, uint32_t id, int *host_error)
{
    *host_error = 0;
    return call(t, "endpoint-remove", id_args(id), NULL, &id, host_error);
}

int endpoint_replug(struct tool *t, uint32_t id)
{
    return call(t, "endpoint-replug", id_args(id), NULL, NULL, NULL);
}
