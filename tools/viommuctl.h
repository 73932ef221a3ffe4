/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * viommuctl: what every command shares. A command reads the host (sysfs,
 * the state file, the daemon), refuses before changing anything when the
 * change would be unsafe, then makes its changes one by one, each with its
 * undo pushed on a stack; a failure half-way runs the stack backwards, so
 * that the host ends as it was, or says what could not be put back.
 */
#ifndef VIOMMU_TOOLS_VIOMMUCTL_H
#define VIOMMU_TOOLS_VIOMMUCTL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "state.h"

/* Exit statuses (the manual page lists them). */
enum {
    EXIT_DONE = 0,        /* done, or nothing to do */
    EXIT_REFUSED = 1,     /* unsafe or impossible now: nothing changed */
    EXIT_USAGE = 2,       /* bad command line: nothing changed */
    EXIT_ROLLED_BACK = 3, /* failed half-way; everything put back */
    EXIT_INCOMPLETE = 4,  /* failed half-way; something not put back */
    EXIT_TIMEOUT = 5,     /* waited in vain: nothing rebound */
    EXIT_UNREACHABLE = 6, /* the daemon or QEMU did not answer */
};

#define TOOL_PATH_MAX 512

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

struct tool {
    /* Where the host is: redirected by tests, unchanged on a real one. */
    const char *sysfs;      /* /sys */
    const char *dev;        /* /dev */
    const char *state_path; /* /run/viommuctl.json */
    const char *control;    /* the daemon's control socket; NULL: none */
    int timeout_ms;         /* longest wait for the kernel, daemon, VMM */
    bool json;
    const char *command;
    /* The result: {"command", "result", "message", "steps", ...data}. */
    struct json_object *out;
    struct json_object *steps;
    struct undo *undo; /* the changes made, to undo last first */
    size_t nr_undo, cap_undo;
    struct state state;
    char why[512]; /* the last error of a helper, for the report */
};

/* A step done, as it happens: a line on stdout, or in "steps". */
void step(struct tool *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Sets t->why; returns err (a -errno), for `return fail_why(...)`. */
int set_why(struct tool *t, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Ends the command: prints the result (on stderr in text mode when it is
 * not EXIT_DONE) and returns the exit status. A failure with changes made
 * (EXIT_REFUSED, EXIT_ROLLED_BACK, EXIT_UNREACHABLE) first undoes them,
 * and becomes EXIT_ROLLED_BACK or EXIT_INCOMPLETE. */
int finish(struct tool *t, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Makes room for the undo of one more change; false (t->why set) when
 * out of memory. Called before the change, so that once it is made,
 * push_undo() keeps its undo without fail. */
bool reserve_undo(struct tool *t);
void push_undo(struct tool *t, const struct undo *u);
/* Forgets the undo stack: the changes made so far stay. */
void commit_changes(struct tool *t);

/* Parses a number (decimal, or hexadecimal after 0x) up to max. */
bool parse_number(const char *s, uint64_t max, uint64_t *out);
/* Monotonic milliseconds. */
int64_t now_ms(void);
void sleep_ms(int ms);

/* The commands; each returns its exit status through finish(). */
struct assign_args {
    const char *bdf;
    int64_t endpoint; /* -1: not declared to the daemon */
    const char *qemu_id;
    bool whole_group;
};
int cmd_groups(struct tool *t);
int cmd_assign(struct tool *t, const struct assign_args *a);
int cmd_release(struct tool *t, const char *bdf, bool whole_group);
/* Removes e's endpoint from the daemon (waiting for its ENDPOINT_REMOVED),
 * gives the slot back to its declared range if it had one, and records
 * that in the state file. -EHOSTUNREACH: the daemon did not answer. */
int release_endpoint(struct tool *t, struct entry *e);

struct sriov_args {
    const char *pf;
    int numvfs;         /* -1: keep */
    uint32_t msix[256]; /* per VF */
    unsigned nr_msix;   /* 0: no change; 1: the same for every VF */
};
int cmd_sriov(struct tool *t, const struct sriov_args *a);

struct watch_map {
    const char *qemu_id;
    uint32_t endpoint;
};
int cmd_watch(struct tool *t, const char *qmp, const struct watch_map *maps,
              unsigned nr_maps);

#endif
