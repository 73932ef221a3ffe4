/* SPDX-License-Identifier: BSD-3-Clause */
#include <string.h>

#include "iov.h"

size_t iov_size(const struct iovec *iov, unsigned cnt)
{
    size_t total = 0;

    for (unsigned i = 0; i < cnt; i++) {
        if (iov[i].iov_len > SIZE_MAX - total) {
            return SIZE_MAX;
        }
        total += iov[i].iov_len;
    }
    return total;
}

/*
 * Walks the bytes [offset, offset + len) of an iovec array, calling fn on
 * each contiguous piece with its position in the flat range. Returns the
 * number of bytes walked (less than len when the iovecs end first).
 */
static size_t iov_walk(const struct iovec *iov, unsigned cnt, size_t offset,
                       size_t len,
                       void (*fn)(void *seg, size_t done, size_t n, void *arg),
                       void *arg)
{
    size_t done = 0;

    for (unsigned i = 0; i < cnt && done < len; i++) {
        if (offset >= iov[i].iov_len) {
            offset -= iov[i].iov_len;
            continue;
        }
        size_t n = iov[i].iov_len - offset;
        if (n > len - done) {
            n = len - done;
        }
        fn((char *)iov[i].iov_base + offset, done, n, arg);
        done += n;
        offset = 0;
    }
    return done;
}

static void copy_out(void *seg, size_t done, size_t n, void *buf)
{
    memcpy((char *)buf + done, seg, n);
}

static void copy_in(void *seg, size_t done, size_t n, void *buf)
{
    memcpy(seg, (const char *)buf + done, n);
}

static void fill(void *seg, size_t done, size_t n, void *c)
{
    (void)done;
    memset(seg, *(int *)c, n);
}

size_t iov_to_buf(const struct iovec *iov, unsigned cnt, size_t offset,
                  void *buf, size_t len)
{
    return iov_walk(iov, cnt, offset, len, copy_out, buf);
}

size_t iov_from_buf(const struct iovec *iov, unsigned cnt, size_t offset,
                    const void *buf, size_t len)
{
    return iov_walk(iov, cnt, offset, len, copy_in, (void *)buf);
}

void iov_memset(const struct iovec *iov, unsigned cnt, size_t offset, int c,
                size_t len)
{
    iov_walk(iov, cnt, offset, len, fill, &c);
}
