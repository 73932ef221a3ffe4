/* SPDX-License-Identifier: BSD-3-Clause */
#include "tap.h"

#include <stdarg.h>
#include <stdio.h>

unsigned tap_run, tap_failed;
char tap_why[512];

void tap_fail(const char *fmt, ...)
{
    va_list ap;

    if (tap_why[0] != '\0') {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(tap_why, sizeof(tap_why), fmt, ap);
    va_end(ap);
}

void tap_report(const char *name)
{
    tap_run++;
    if (tap_why[0] == '\0') {
        printf("ok %u - %s\n", tap_run, name);
    } else {
        tap_failed++;
        printf("not ok %u - %s\n# %s\n", tap_run, name, tap_why);
    }
    tap_why[0] = '\0';
    fflush(stdout);
}
