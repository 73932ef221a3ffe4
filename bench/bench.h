/* SPDX-License-Identifier: BSD-3-Clause */
/* What every benchmark measures with: a clock and the heap in use. */
#ifndef VIOMMU_BENCH_H
#define VIOMMU_BENCH_H

#include <malloc.h>
#include <stddef.h>
#include <time.h>

/* Seconds on the monotonic clock. */
static inline double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Bytes of heap in use (mallinfo2). */
static inline size_t heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}

#endif
