/* SPDX-License-Identifier: BSD-3-Clause */
/* TAP for the programs that run in a guest (the vm suite): a case fails
 * with its first reason, and is reported ok or not ok with it. */
#ifndef VIOMMU_TESTING_TAP_H
#define VIOMMU_TESTING_TAP_H

extern unsigned tap_run, tap_failed;
/* The reason the current case fails; "" while it has not. */
extern char tap_why[512];

/* Records why the current case fails; the first reason is the one kept. */
void tap_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the current case's TAP line (and its reason) and starts the next. */
void tap_report(const char *name);

#endif
