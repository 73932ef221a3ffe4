/* SPDX-License-Identifier: BSD-3-Clause */
#include "jsonsock.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tool.h"

#define MAX_VALUE (1024 * 1024)

int jsock_connect(struct jsock *s, const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};

    memset(s, 0, sizeof(*s));
    s->fd = -1;
    if (strlen(path) >= sizeof(addr.sun_path)) {
        return -ENAMETOOLONG;
    }
    strcpy(addr.sun_path, path);
    s->tok = json_tokener_new();
    if (s->tok == NULL) {
        return -ENOMEM;
    }
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0 ||
        connect(s->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int err = -errno;
        jsock_close(s);
        return err;
    }
    return 0;
}

void jsock_close(struct jsock *s)
{
    if (s->fd >= 0) {
        close(s->fd);
    }
    if (s->tok != NULL) {
        json_tokener_free(s->tok);
    }
    s->fd = -1;
    s->tok = NULL;
}

int jsock_send(struct jsock *s, struct json_object *obj)
{
    const char *text =
        json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
    size_t len = strlen(text), done = 0;

    while (done <= len) {
        /* The text, then its newline. */
        const char *p = done < len ? text + done : "\n";
        size_t n = done < len ? len - done : 1;
        ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return w < 0 ? -errno : -EPIPE;
        }
        done += (size_t)w;
    }
    return 0;
}

int jsock_read(struct jsock *s, int64_t deadline_ms, struct json_object **out)
{
    for (;;) {
        while (s->off < s->len) {
            const char *p = s->buf + s->off;
            size_t left = s->len - s->off;
            /* Whitespace between values (QMP ends each with \r\n). */
            if (s->pending == 0 && memchr(" \t\r\n", *p, 4) != NULL) {
                s->off++;
                continue;
            }
            struct json_object *o = json_tokener_parse_ex(s->tok, p, (int)left);
            enum json_tokener_error err = json_tokener_get_error(s->tok);
            if (err == json_tokener_continue) {
                s->pending += left;
                s->off = s->len;
                if (s->pending > MAX_VALUE) {
                    return -EPROTO;
                }
                break;
            }
            size_t used = json_tokener_get_parse_end(s->tok);
            json_tokener_reset(s->tok);
            s->pending = 0;
            if (err != json_tokener_success) {
                return -EPROTO;
            }
            s->off += used;
            *out = o;
            return 1;
        }
        int wait = -1;
        if (deadline_ms >= 0) {
            int64_t left = deadline_ms - now_ms();
            if (left <= 0) {
                return -ETIMEDOUT;
            }
            wait = (int)left;
        }
        struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
        int r = poll(&pfd, 1, wait);
        if (r < 0) {
            return -errno;
        }
        if (r == 0) {
            continue; /* the deadline is checked above */
        }
        ssize_t n = recv(s->fd, s->buf, sizeof(s->buf), 0);
        if (n < 0) {
            return errno == EINTR ? -EINTR : -errno;
        }
        if (n == 0) {
            return s->pending == 0 ? 0 : -EPROTO;
        }
        s->off = 0;
        s->len = (size_t)n;
    }
}

struct json_object *jsock_member(struct json_object *o, const char *key,
                                 enum json_type type)
{
    struct json_object *m;

    if (!json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, key, &m) ||
        !json_object_is_type(m, type)) {
        return NULL;
    }
    return m;
}
