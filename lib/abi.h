/* SPDX-License-Identifier: BSD-3-Clause */
/* Structs that cross the API carry their size (see the public header). */
#ifndef VIOMMU_ABI_H
#define VIOMMU_ABI_H

#include <stddef.h>
#include <stdint.h>

/*
 * The size of a struct in 0.2, the ABI's first version: no caller has a
 * smaller one. When a struct grows, its callers keep passing its 0.2 size
 * here as the smallest the library takes.
 */
#define ABI_FIRST_SIZE(type) sizeof(type)
/* The 0.2 size of a struct that has grown since: up to its first field
 * added later. */
#define ABI_SIZE_BEFORE(type, first_new) offsetof(type, first_new)
/* The largest size a caller may claim: no struct will ever be this big. */
#define ABI_MAX_SIZE 4096u

/*
 * Copies an input struct that starts with its own uint32_t size, whether
 * the caller's version of it is older (shorter: missing fields read as
 * zero) or newer (longer: accepted only if the fields unknown here are
 * zero). -EINVAL for NULL, a size under min_size or over ABI_MAX_SIZE, or
 * a non-zero unknown tail.
 */
int copy_versioned(void *dst, size_t dst_size, const void *src,
                   size_t min_size);

/*
 * Fills an output struct of the caller's size (its first uint32_t) from
 * src, this library's version of it: the common part is copied, a tail the
 * library does not know is zeroed, the caller's size is kept. -EINVAL for
 * NULL, or a size under min_size or over ABI_MAX_SIZE.
 */
int fill_versioned(void *dst, const void *src, size_t src_size,
                   size_t min_size);

#endif
