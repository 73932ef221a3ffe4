/* SPDX-License-Identifier: BSD-3-Clause */
#include "sockmsg.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

union control {
    char buf[CMSG_SPACE(sizeof(int) * SOCKMSG_MAX_FDS)];
    struct cmsghdr align;
};

ssize_t sockmsg_send(int sock, const struct iovec *iov, int iovcnt,
                     const int *fds, unsigned nfds, int flags)
{
    union control control;
    struct msghdr mh = {.msg_iov = (struct iovec *)iov,
                        .msg_iovlen = (size_t)iovcnt};
    ssize_t n;

    if (nfds > SOCKMSG_MAX_FDS) {
        return -EINVAL;
    }
    if (nfds > 0) {
        memset(&control, 0, sizeof(control));
        mh.msg_control = control.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
    }
    do {
        n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

ssize_t sockmsg_recv(int sock, void *buf, size_t len, int *fds, unsigned *nfds,
                     unsigned max, int flags)
{
    union control control;
    struct iovec iov = {buf, len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n;
    bool too_many = false;

    if (max > 0) {
        mh.msg_control = control.buf;
        mh.msg_controllen = sizeof(control.buf);
    }
    do {
        n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -errno;
    }
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); max > 0 && cm != NULL;
         cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (*nfds < max) {
                fds[(*nfds)++] = fd;
            } else {
                close(fd);
                too_many = true;
            }
        }
    }
    if (too_many || (max > 0 && (mh.msg_flags & MSG_CTRUNC))) {
        return -EMSGSIZE;
    }
    return n;
}
