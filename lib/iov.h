/* SPDX-License-Identifier: BSD-3-Clause */
/* Byte copies between flat buffers and iovec arrays. */
#ifndef VIOMMU_IOV_H
#define VIOMMU_IOV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

size_t iov_size(const struct iovec *iov, unsigned cnt);
size_t iov_to_buf(const struct iovec *iov, unsigned cnt, size_t offset,
                  void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned cnt, size_t offset,
                    const void *buf, size_t len);
void iov_memset(const struct iovec *iov, unsigned cnt, size_t offset, int c,
                size_t len);

#endif
