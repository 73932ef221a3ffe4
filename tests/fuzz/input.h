/* SPDX-License-Identifier: BSD-3-Clause */
/* The fuzzer's input, read as little-endian numbers of a few bytes; past
 * its end every number reads as zero. Shared by the harnesses. */
#ifndef VIOMMU_TESTS_FUZZ_INPUT_H
#define VIOMMU_TESTS_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct input {
    const uint8_t *p;
    size_t left;
};

static inline uint64_t take(struct input *in, unsigned bytes)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < bytes && in->left > 0; i++, in->left--) {
        v |= (uint64_t)*in->p++ << (8 * i);
    }
    return v;
}

#endif
