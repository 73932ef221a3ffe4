/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * viommuctl's bottom layer: where the host is, how a command reports what
 * it does and how it ends, and the small helpers every module needs. A
 * command reads the host (sysfs, the state file, the daemon), refuses
 * before changing anything when the change would be unsafe, then makes its
 * changes one by one, each with its undo logged (undo.h); a failure
 * half-way runs the log backwards, so that the host ends as it was, or
 * says what could not be put back.
 */
#ifndef VIOMMU_TOOLS_TOOL_H
#define VIOMMU_TOOLS_TOOL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

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

struct undo;  /* undo.h */
struct state; /* state.h */

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
    struct state *state; /* the state file's entries, once read */
    char why[512];       /* the last error of a helper, for the report */
};

/* A step done, as it happens: a line on stdout, or in "steps". */
void step(struct tool *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Sets t->why; returns err (a -errno), for `return set_why(...)`. */
int set_why(struct tool *t, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prints the result of a command that ends with `status` (on stderr in
 * text mode when it is not EXIT_DONE) and returns the status. Commands
 * end through finish() (undo.h), which first undoes a failure's
 * changes. */
int report(struct tool *t, int status, const char *message);

/* Result and state file values: null stands for "" or a negative
 * number (none). */
struct json_object *string_or_null(const char *s);
struct json_object *int_or_null(int64_t v);

/* Parses a number (decimal, or hexadecimal after 0x) up to max. */
bool parse_number(const char *s, uint64_t max, uint64_t *out);
/* Monotonic milliseconds. */
int64_t now_ms(void);
void sleep_ms(int ms);

#endif
