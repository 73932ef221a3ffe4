/* SPDX-License-Identifier: BSD-3-Clause */
#include "qmp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: qmp peer: %s failed (%s)\n", __FILE__,     \
                    __LINE__, #cond, strerror(errno));                         \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* What QEMU 10.0 sends first. */
#define GREETING                                                               \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 0, "         \
    "\"major\": 10}, \"package\": \"Debian 1:10.0.0\"}, \"capabilities\": "    \
    "[\"oob\"]}}\r\n"

void qmp_listen(struct qmp_peer *q, const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};

    CHECK(strlen(path) < sizeof(addr.sun_path));
    snprintf(q->path, sizeof(q->path), "%s", path);
    strcpy(addr.sun_path, path);
    q->fd = -1;
    q->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(q->listen_fd >= 0);
    CHECK(bind(q->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
    CHECK(listen(q->listen_fd, 1) == 0);
}

static void send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        CHECK(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

bool qmp_accept(struct qmp_peer *q, int ms, const char *greeting,
                const char *reply)
{
    struct pollfd pfd = {.fd = q->listen_fd, .events = POLLIN};
    char cmd[512];
    size_t len = 0;

    if (poll(&pfd, 1, ms) != 1) {
        return false;
    }
    q->fd = accept4(q->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    CHECK(q->fd >= 0);
    greeting = greeting != NULL ? greeting : GREETING;
    send_all(q->fd, greeting, strlen(greeting));
    /* One command, whole: up to its newline. */
    while (memchr(cmd, '\n', len) == NULL) {
        pfd = (struct pollfd){.fd = q->fd, .events = POLLIN};
        CHECK(len < sizeof(cmd) - 1 && poll(&pfd, 1, 2000) == 1);
        ssize_t n = recv(q->fd, cmd + len, sizeof(cmd) - 1 - len, 0);
        if (n <= 0) {
            return true; /* the client left after the greeting */
        }
        len += (size_t)n;
    }
    cmd[len] = '\0';
    CHECK(strstr(cmd, "\"qmp_capabilities\"") != NULL);
    reply = reply != NULL ? reply : "{\"return\": {}}\r\n";
    send_all(q->fd, reply, strlen(reply));
    return true;
}

void qmp_send(struct qmp_peer *q, const char *text, size_t piece)
{
    size_t len = strlen(text);

    for (size_t off = 0; off < len;) {
        size_t n = piece == 0 || len - off < piece ? len - off : piece;
        send_all(q->fd, text + off, n);
        off += n;
        if (off < len) {
            struct timespec ts = {0, 20 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
}

void qmp_close(struct qmp_peer *q)
{
    if (q->fd >= 0) {
        close(q->fd);
        q->fd = -1;
    }
    if (q->listen_fd >= 0) {
        close(q->listen_fd);
        q->listen_fd = -1;
        unlink(q->path);
    }
}
