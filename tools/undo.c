/* SPDX-License-Identifier: BSD-3-Clause */
#include "undo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "attr.h"
#include "bind.h"
#include "endpoint.h"

bool reserve_undo(struct tool *t)
{
    if (t->nr_undo == t->cap_undo) {
        size_t cap = t->cap_undo ? 2 * t->cap_undo : 16;
        struct undo *grown = realloc(t->undo, cap * sizeof(*grown));
        if (grown == NULL) {
            set_why(t, -ENOMEM, "out of memory");
            return false;
        }
        t->undo = grown;
        t->cap_undo = cap;
    }
    return true;
}

void push_undo(struct tool *t, const struct undo *u)
{
    t->undo[t->nr_undo++] = *u;
}

void commit_changes(struct tool *t)
{
    t->nr_undo = 0;
}

/* Undoes one change; `what` says what it puts back. */
static int undo_one(struct tool *t, const struct undo *u, char *what,
                    size_t len)
{
    switch (u->kind) {
    case UNDO_WRITE:
        snprintf(what, len, "%s back to %s", u->path, u->value);
        return attr_write(t, u->path, u->value);
    case UNDO_DRIVER:
        snprintf(what, len, "%s back to %s", u->entry.bdf,
                 u->entry.driver[0] ? u->entry.driver : "no driver");
        return restore_driver(t, &u->entry);
    case UNDO_VFIO:
        snprintf(what, len, "%s back on vfio-pci", u->entry.bdf);
        return bind_vfio(t, &u->entry);
    case UNDO_ENTRY:
        snprintf(what, len, "the state file's entry of %s", u->entry.bdf);
        return u->had_entry ? state_put(t, &u->entry)
                            : state_drop(t, u->entry.bdf);
    case UNDO_REPLUG:
        snprintf(what, len, "endpoint 0x%x declared as its range declares it",
                 u->id);
        return endpoint_replug(t, u->id);
    }
    return -EINVAL;
}

/* Undoes every change, last first; false if one could not be undone. */
static bool rollback(struct tool *t)
{
    struct json_object *left = json_object_new_array();
    bool all = true;

    while (t->nr_undo > 0) {
        char what[TOOL_PATH_MAX + 128];
        if (undo_one(t, &t->undo[--t->nr_undo], what, sizeof(what)) == 0) {
            step(t, "put back: %s", what);
        } else {
            step(t, "NOT put back: %s: %s", what, t->why);
            json_object_array_add(left, json_object_new_string(what));
            all = false;
        }
    }
    if (all) {
        json_object_put(left);
    } else {
        json_object_object_add(t->out, "not-put-back", left);
    }
    return all;
}

int finish(struct tool *t, int status, const char *fmt, ...)
{
    char message[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (status != EXIT_DONE && t->nr_undo > 0) {
        status = rollback(t) ? EXIT_ROLLED_BACK : EXIT_INCOMPLETE;
    }
    commit_changes(t);
    return report(t, status, message);
}
