/* SPDX-License-Identifier: BSD-3-Clause */
/* The daemon's one clock: CLOCK_MONOTONIC, for deadlines and polling. */
#ifndef VIOMMU_DAEMON_CLOCK_H
#define VIOMMU_DAEMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t clock_ms(void)
{
    return clock_ns() / 1000000;
}

#endif
