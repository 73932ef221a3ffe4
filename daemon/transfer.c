/* SPDX-License-Identifier: BSD-3-Clause */
#include "transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define FIRST_CAP (64u * 1024)
/* Bytes moved in one turn of the event loop: then the other peers. */
#define TURN_BYTES (256u * 1024)

void transfer_init(struct transfer *t, int timeout_ms)
{
    *t = (struct transfer){
        .fd = -1, .timeout_ms = timeout_ms, .result = -ENODATA};
}

bool transfer_running(const struct transfer *t)
{
    return t->fd >= 0;
}

static const char *direction(const struct transfer *t)
{
    return t->save ? "save" : "load";
}

/* Makes room for len more bytes of stream, within TRANSFER_MAX. */
static int reserve(struct transfer *t, size_t len)
{
    size_t cap = t->cap != 0 ? t->cap : FIRST_CAP;

    if (len >= TRANSFER_MAX - t->len) {
        return -EFBIG;
    }
    if (t->len + len <= t->cap) {
        return 0;
    }
    while (cap < t->len + len) {
        cap = cap <= TRANSFER_MAX / 2 ? cap * 2 : TRANSFER_MAX;
    }
    uint8_t *stream = realloc(t->stream, cap);
    if (stream == NULL) {
        return -ENOMEM;
    }
    t->stream = stream;
    t->cap = cap;
    return 0;
}

/* viommu_save's writer: the snapshot goes into memory. */
static int save_to_memory(void *opaque, const void *buf, size_t len)
{
    struct transfer *t = opaque;
    int err = reserve(t, len);

    if (err == 0) {
        memcpy(t->stream + t->len, buf, len);
        t->len += len;
    }
    return err;
}

/* viommu_restore's reader: the stream received. */
static ssize_t restore_from_memory(void *opaque, void *buf, size_t len)
{
    struct transfer *t = opaque;
    size_t n = t->len - t->done < len ? t->len - t->done : len;

    memcpy(buf, t->stream + t->done, n);
    t->done += n;
    return (ssize_t)n;
}

/* Closes the pipe and frees the stream; err is the result. */
static void finish(struct transfer *t, int err)
{
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
    free(t->stream);
    t->stream = NULL;
    t->len = t->cap = t->done = 0;
    t->result = err;
}

int transfer_start(struct transfer *t, struct viommu *v, bool save, int *fd)
{
    int err = 0;

    t->fd = *fd;
    *fd = -1;
    t->save = save;
    if (fcntl(t->fd, F_SETFL, fcntl(t->fd, F_GETFL) | O_NONBLOCK) != 0) {
        err = -errno;
    } else if (save) {
        err = viommu_save(v, save_to_memory, t);
    }
    if (err != 0) {
        dlog(VIOMMU_LOG_ERR, "device state %s failed: %s", direction(t),
             strerror(-err));
        finish(t, err);
        return err;
    }
    t->result = -EINPROGRESS;
    t->deadline = clock_ms() + t->timeout_ms;
    return 0;
}

int transfer_poll(const struct transfer *t, struct pollfd *pfd)
{
    *pfd = (struct pollfd){.fd = t->fd, .events = t->save ? POLLOUT : POLLIN};
    if (t->fd < 0) {
        return -1;
    }
    int64_t left = t->deadline - clock_ms();
    return left <= 0 ? 0 : left < INT_MAX ? (int)left : INT_MAX;
}

/* Writes what the pipe takes of the snapshot, at most TURN_BYTES; *moved
 * says whether any went. 0 or -errno. */
static int write_some(struct transfer *t, bool *moved)
{
    size_t budget = TURN_BYTES;

    while (t->done < t->len && budget > 0) {
        size_t want = t->len - t->done < budget ? t->len - t->done : budget;
        ssize_t n = write(t->fd, t->stream + t->done, want);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN ? 0 : -errno;
        }
        t->done += (size_t)n;
        budget -= (size_t)n;
        *moved = true;
    }
    return 0;
}

/* Reads what the pipe gives, at most TURN_BYTES; *moved says whether any
 * came, *ended whether the stream did. 0 or -errno. */
static int read_some(struct transfer *t, bool *moved, bool *ended)
{
    size_t budget = TURN_BYTES;

    while (budget > 0) {
        int err = reserve(t, 1);
        if (err != 0) {
            return err;
        }
        size_t room = t->cap - t->len < budget ? t->cap - t->len : budget;
        ssize_t n = read(t->fd, t->stream + t->len, room);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN ? 0 : -errno;
        }
        if (n == 0) {
            *ended = true;
            return 0;
        }
        t->len += (size_t)n;
        budget -= (size_t)n;
        *moved = true;
    }
    return 0;
}

bool transfer_step(struct transfer *t, struct viommu *v, short revents)
{
    bool moved = false, ended = false;
    int err = 0;

    if (t->fd < 0) {
        return false;
    }
    if (revents != 0) {
        err = t->save ? write_some(t, &moved) : read_some(t, &moved, &ended);
    }
    if (t->save) {
        ended = t->done == t->len; /* closing the pipe ends the stream */
    } else if (err == 0 && ended) {
        /* Restored whole or not at all: nothing was applied before. */
        t->done = 0;
        err = viommu_restore(v, restore_from_memory, t);
    }
    if (err == 0 && !ended) {
        int64_t now = clock_ms();
        if (moved) {
            t->deadline = now + t->timeout_ms;
            return false;
        }
        if (now < t->deadline) {
            return false;
        }
        err = -ETIMEDOUT;
    }
    if (err != 0) {
        dlog(VIOMMU_LOG_ERR, "device state %s failed: %s", direction(t),
             strerror(-err));
    } else {
        dlog(VIOMMU_LOG_INFO, "device state %s done", direction(t));
    }
    finish(t, err);
    return true;
}

void transfer_end(struct transfer *t, int err)
{
    if (t->fd >= 0) {
        dlog(VIOMMU_LOG_WARN, "device state %s abandoned", direction(t));
    }
    finish(t, err);
}
