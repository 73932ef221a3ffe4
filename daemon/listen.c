/* SPDX-License-Identifier: BSD-3-Clause */
#include "listen.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

int listen_unix(const char *path, int backlog)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        dlog(VIOMMU_LOG_ERR, "socket path too long: %s", path);
        return -1;
    }
    strcpy(addr.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        dlog(VIOMMU_LOG_ERR, "socket: %s", strerror(errno));
        return -1;
    }
    unlink(path);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        listen(fd, backlog) != 0) {
        dlog(VIOMMU_LOG_ERR, "cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Whether something listens on the UNIX socket at path. */
static bool live(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (fd < 0) {
        return true; /* cannot tell: leave it */
    }
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    bool up = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 ||
              errno == EAGAIN;
    close(fd);
    return up;
}

bool listen_unix_taken(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0 && (!S_ISSOCK(st.st_mode) || live(path));
}
