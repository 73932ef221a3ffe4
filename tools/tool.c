/* SPDX-License-Identifier: BSD-3-Clause */
#include "tool.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void step(struct tool *t, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (t->json) {
        json_object_array_add(t->steps, json_object_new_string(text));
    } else {
        printf("  %s\n", text);
        fflush(stdout);
    }
}

int set_why(struct tool *t, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(t->why, sizeof(t->why), fmt, ap);
    va_end(ap);
    return err;
}

int report(struct tool *t, int status, const char *message)
{
    static const char *const results[] = {
        [EXIT_DONE] = "done",
        [EXIT_REFUSED] = "refused",
        [EXIT_USAGE] = "usage",
        [EXIT_ROLLED_BACK] = "rolled-back",
        [EXIT_INCOMPLETE] = "incomplete",
        [EXIT_TIMEOUT] = "timeout",
        [EXIT_UNREACHABLE] = "unreachable",
    };

    if (t->json) {
        json_object_object_add(t->out, "result",
                               json_object_new_string(results[status]));
        json_object_object_add(t->out, "message",
                               json_object_new_string(message));
        puts(json_object_to_json_string_ext(t->out, JSON_C_TO_STRING_PLAIN));
    } else if (status == EXIT_DONE) {
        printf("%s\n", message);
    } else {
        fprintf(stderr, "viommuctl %s: %s%s\n", t->command, message,
                status == EXIT_ROLLED_BACK  ? " (everything changed is put "
                                              "back)"
                : status == EXIT_INCOMPLETE ? " (NOT everything changed "
                                              "could be put back: see above)"
                                            : "");
    }
    fflush(stdout);
    return status;
}

struct json_object *string_or_null(const char *s)
{
    return s[0] != '\0' ? json_object_new_string(s) : NULL;
}

struct json_object *int_or_null(int64_t v)
{
    return v >= 0 ? json_object_new_int64(v) : NULL;
}

bool parse_number(const char *s, uint64_t max, uint64_t *out)
{
    bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    const char *digits = hex ? s + 2 : s;
    char *end;

    /* strtoull would take a sign or spaces */
    if (!(hex ? isxdigit((unsigned char)*digits)
              : isdigit((unsigned char)*digits))) {
        return false;
    }
    errno = 0;
    *out = strtoull(hex ? s + 2 : s, &end, hex ? 16 : 10);
    return errno == 0 && *end == '\0' && *out <= max;
}

int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}
