/* SPDX-License-Identifier: BSD-3-Clause */
/* Structs that cross the API carry their size (see the public header). */
#ifndef VIOMMU_ABI_H
#define VIOMMU_ABI_H

#include <stddef.h>
#include <stdint.h>

/*
 * Copies an input struct that starts with its own uint32_t size, whether
 * the caller's version of it is older (shorter: missing fields read as
 * zero) or newer (longer: accepted only if the fields unknown here are
 * zero). -EINVAL for NULL, a size under 4 or a non-zero unknown tail.
 */
int copy_versioned(void *dst, size_t dst_size, const void *src);

/*
 * Fills an output struct of the caller's size (its first uint32_t) from
 * src, this library's version of it: the common part is copied, a tail the
 * library does not know is zeroed, the caller's size is kept. -EINVAL for
 * NULL or a size under 4.
 */
int fill_versioned(void *dst, const void *src, size_t src_size);

#endif
