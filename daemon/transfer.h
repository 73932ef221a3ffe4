/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A device state transfer (vhost-user.rst, "Migrating back-end state")
 * through the frontend's pipe, moved on a turn of the event loop at a time
 * and never waiting for the pipe: a frontend that stalls it holds only its
 * own transfer.
 *
 * A save takes the device's snapshot (viommu_save) into memory when it
 * starts, so the stream is the state of that moment whatever the guest does
 * next, and writes it as the pipe takes it, closing the pipe at the end. A
 * load reads what the pipe gives into memory and, at the end of the stream,
 * restores it whole (viommu_restore: all checked, or nothing done). A
 * transfer that makes no progress for timeout_ms fails, and a failed load
 * leaves the device as it was.
 */
#ifndef VIOMMU_DAEMON_TRANSFER_H
#define VIOMMU_DAEMON_TRANSFER_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <viommu/viommu.h>

/* Streams either way are shorter (-EFBIG otherwise): with the library's
 * default caps a state holds at most 2^22 mappings of 28 bytes (112 MiB),
 * and an attachment takes 8 bytes per endpoint. */
#define TRANSFER_MAX ((size_t)256 << 20)

struct transfer {
    int fd; /* the frontend's end of the pipe; -1: no transfer running */
    bool save;
    uint8_t *stream; /* a save: the snapshot; a load: what came so far */
    size_t len, cap; /* bytes in stream, and its size */
    size_t done;     /* a save: bytes written so far */
    int timeout_ms;
    int64_t deadline; /* ms, monotonic: the transfer fails unless it moves on
                         before */
    /* How the last transfer ended, as CHECK_DEVICE_STATE reports it: 0 or
     * -errno; -ENODATA before the first; -EINPROGRESS while one runs. */
    int result;
};

void transfer_init(struct transfer *t, int timeout_ms);
/* Starts a transfer through *fd, taken over (set to -1) whatever happens;
 * none may be running. A save takes the device's snapshot now. Returns 0,
 * or the -errno that is also the transfer's result. */
int transfer_start(struct transfer *t, struct viommu *v, bool save, int *fd);
bool transfer_running(const struct transfer *t);
/* Fills pfd with the pipe and the events to wait for (fd -1: none), and
 * returns the longest poll may wait before transfer_step() must run
 * anyway, at its deadline: ms, or -1 when no transfer runs. */
int transfer_poll(const struct transfer *t, struct pollfd *pfd);
/* Moves the running transfer on by what the pipe takes or gives, if poll
 * reported it ready (revents), and fails it past its deadline. Returns true
 * when it has just ended: the pipe is closed and `result` says how. */
bool transfer_step(struct transfer *t, struct viommu *v, short revents);
/* Ends the running transfer, if any, with err (nothing of a load is
 * applied); err becomes the result either way. */
void transfer_end(struct transfer *t, int err);

#endif
