/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The undo log: each change a command makes has its undo logged, and a
 * command that fails half-way ends by running the log backwards (finish),
 * so that the host ends as it was, or the result says what could not be
 * put back. The undos call the modules that made the changes (attributes,
 * bindings, the state file, the daemon), so this sits above all of them.
 */
#ifndef VIOMMU_TOOLS_UNDO_H
#define VIOMMU_TOOLS_UNDO_H

#include <stdbool.h>
#include <stdint.h>

#include "state.h"
#include "tool.h"

/* What undoes one change. */
enum undo_kind {
    UNDO_WRITE,  /* write `value` to `path` again */
    UNDO_DRIVER, /* give `entry.bdf` back its driver and override */
    UNDO_VFIO,   /* bind `entry.bdf` to vfio-pci again */
    UNDO_ENTRY,  /* put `entry` back in the state file, or drop
                    `entry.bdf` from it when `had_entry` is false */
    UNDO_REPLUG, /* declare endpoint `id` again as its range did */
};

struct undo {
    enum undo_kind kind;
    char path[TOOL_PATH_MAX];
    char value[64];
    struct entry entry;
    bool had_entry;
    uint32_t id;
};

/* Makes room for the undo of one more change; false (t->why set) when
 * out of memory. Called before the change, so that once it is made,
 * push_undo() keeps its undo without fail. */
bool reserve_undo(struct tool *t);
void push_undo(struct tool *t, const struct undo *u);
/* Forgets the undo log: the changes made so far stay. */
void commit_changes(struct tool *t);

/* Ends the command: prints the result (report()) and returns the exit
 * status. A failure with changes made (EXIT_REFUSED, EXIT_ROLLED_BACK,
 * EXIT_UNREACHABLE) first undoes them, and becomes EXIT_ROLLED_BACK or
 * EXIT_INCOMPLETE. */
int finish(struct tool *t, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
