/* SPDX-License-Identifier: BSD-3-Clause */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <json-c/json.h>

#include "tool.h"

static void clear(struct state *s)
{
    free(s->e);
    s->e = NULL;
    s->n = 0;
}

/* A string member into buf ("" for null or absent); false when it is
 * something else or too long. */
static bool get_string(struct json_object *o, const char *key, char *buf,
                       size_t len)
{
    struct json_object *m;

    buf[0] = '\0';
    if (!json_object_object_get_ex(o, key, &m) || m == NULL) {
        return true;
    }
    if (!json_object_is_type(m, json_type_string) ||
        (size_t)json_object_get_string_len(m) >= len) {
        return false;
    }
    strcpy(buf, json_object_get_string(m));
    return true;
}

/* A non-negative integer member, -1 for null or absent. */
static bool get_int(struct json_object *o, const char *key, int64_t max,
                    int64_t *out)
{
    struct json_object *m;

    *out = -1;
    if (!json_object_object_get_ex(o, key, &m) || m == NULL) {
        return true;
    }
    *out = json_object_get_int64(m);
    return json_object_is_type(m, json_type_int) && *out >= 0 && *out <= max;
}

static bool parse_entry(struct json_object *o, struct entry *e)
{
    struct json_object *m;
    struct hostsys_pci_addr a;
    const char *end;

    memset(e, 0, sizeof(*e));
    if (!json_object_is_type(o, json_type_object) ||
        !get_string(o, "bdf", e->bdf, sizeof(e->bdf)) ||
        !hostsys_pci_parse(e->bdf, &end, &a) || *end != '\0' ||
        !get_int(o, "group", INT32_MAX, &e->group) ||
        !get_string(o, "driver", e->driver, sizeof(e->driver)) ||
        !get_string(o, "override", e->override, sizeof(e->override)) ||
        !get_int(o, "endpoint", UINT32_MAX, &e->endpoint) ||
        !get_string(o, "qemu-id", e->qemu_id, sizeof(e->qemu_id))) {
        return false;
    }
    if (json_object_object_get_ex(o, "from-range", &m)) {
        if (!json_object_is_type(m, json_type_boolean)) {
            return false;
        }
        e->from_range = json_object_get_boolean(m);
    }
    return true;
}

static int load(struct tool *t)
{
    struct state *s = t->state;
    struct json_object *root, *list;

    clear(s);
    if (access(t->state_path, F_OK) != 0 && errno == ENOENT) {
        return 0;
    }
    root = json_object_from_file(t->state_path);
    if (root == NULL || !json_object_object_get_ex(root, "devices", &list) ||
        !json_object_is_type(list, json_type_array)) {
        json_object_put(root);
        return set_why(t, -EINVAL,
                       "state file %s is unreadable or not viommuctl's: "
                       "fix or remove it",
                       t->state_path);
    }
    size_t n = json_object_array_length(list);
    s->e = calloc(n ? n : 1, sizeof(*s->e));
    if (s->e == NULL) {
        json_object_put(root);
        return set_why(t, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        if (!parse_entry(json_object_array_get_idx(list, i), &s->e[i])) {
            json_object_put(root);
            clear(s);
            return set_why(t, -EINVAL,
                           "state file %s: entry %zu is not valid: fix or "
                           "remove it",
                           t->state_path, i);
        }
    }
    s->n = n;
    json_object_put(root);
    return 0;
}

int state_read(struct tool *t)
{
    return load(t);
}

int state_lock(struct tool *t)
{
    char path[TOOL_PATH_MAX];

    snprintf(path, sizeof(path), "%s.lock", t->state_path);
    t->state->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (t->state->lock_fd < 0) {
        return set_why(t, -errno, "cannot open %s: %s", path, strerror(errno));
    }
    while (flock(t->state->lock_fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int err = errno;
            state_unlock(t);
            return set_why(t, -err, "cannot lock %s: %s", path, strerror(err));
        }
    }
    int err = load(t);
    if (err != 0) {
        state_unlock(t);
    }
    return err;
}

void state_unlock(struct tool *t)
{
    if (t->state->lock_fd >= 0) {
        close(t->state->lock_fd);
        t->state->lock_fd = -1;
    }
    clear(t->state);
}

struct entry *state_find(struct tool *t, const char *bdf)
{
    for (size_t i = 0; i < t->state->n; i++) {
        if (strcmp(t->state->e[i].bdf, bdf) == 0) {
            return &t->state->e[i];
        }
    }
    return NULL;
}

static int save(struct tool *t)
{
    struct json_object *root = json_object_new_object();
    struct json_object *list = json_object_new_array();
    char tmp[TOOL_PATH_MAX];

    json_object_object_add(root, "devices", list);
    for (size_t i = 0; i < t->state->n; i++) {
        const struct entry *e = &t->state->e[i];
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "bdf", json_object_new_string(e->bdf));
        json_object_object_add(o, "group", int_or_null(e->group));
        json_object_object_add(o, "driver", string_or_null(e->driver));
        json_object_object_add(o, "override", string_or_null(e->override));
        json_object_object_add(o, "endpoint", int_or_null(e->endpoint));
        json_object_object_add(o, "from-range",
                               json_object_new_boolean(e->from_range));
        json_object_object_add(o, "qemu-id", string_or_null(e->qemu_id));
        json_object_array_add(list, o);
    }
    snprintf(tmp, sizeof(tmp), "%s.new", t->state_path);
    const char *text =
        json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
    size_t len = strlen(text);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err = 0;
    if (fd < 0 || write(fd, text, len) != (ssize_t)len ||
        write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        err = -errno;
    }
    if (fd >= 0 && close(fd) != 0 && err == 0) {
        err = -errno;
    }
    if (err == 0 && rename(tmp, t->state_path) != 0) {
        err = -errno;
    }
    json_object_put(root);
    if (err != 0) {
        unlink(tmp);
        return set_why(t, err, "cannot write the state file %s: %s",
                       t->state_path, strerror(-err));
    }
    return 0;
}

/* Saves; on failure the entries in memory go back to what the file
 * holds, so that memory never claims what the file does not. */
int state_put(struct tool *t, const struct entry *e)
{
    struct entry *slot = state_find(t, e->bdf), before;
    bool added = slot == NULL;

    if (added) {
        struct entry *grown =
            realloc(t->state->e, (t->state->n + 1) * sizeof(*grown));
        if (grown == NULL) {
            return set_why(t, -ENOMEM, "out of memory");
        }
        t->state->e = grown;
        slot = &t->state->e[t->state->n++];
    }
    before = *slot;
    *slot = *e;
    int err = save(t);
    if (err != 0) {
        if (added) {
            t->state->n--;
        } else {
            *slot = before;
        }
    }
    return err;
}

int state_drop(struct tool *t, const char *bdf)
{
    struct entry *slot = state_find(t, bdf);

    if (slot == NULL) {
        return 0;
    }
    struct entry gone = *slot;
    *slot = t->state->e[--t->state->n];
    int err = save(t);
    if (err != 0) {
        /* Back where it was; the entry that moved goes back to the end. */
        t->state->e[t->state->n++] = *slot;
        *slot = gone;
    }
    return err;
}
