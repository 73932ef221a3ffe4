/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON objects over a UNIX stream socket, as the daemon's control socket
 * and QEMU's QMP speak them: one object after another, a line each, which
 * may arrive in any number of pieces.
 */
#ifndef VIOMMU_TOOLS_JSONSOCK_H
#define VIOMMU_TOOLS_JSONSOCK_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct jsock {
    int fd;
    struct json_tokener *tok;
    char buf[4096]; /* read, not yet parsed: [off, len) */
    size_t off, len;
    size_t pending; /* bytes of a value begun, not yet whole */
};

/* 0, or -errno. */
int jsock_connect(struct jsock *s, const char *path);
void jsock_close(struct jsock *s);
/* Sends obj (kept by the caller) and a newline. 0, or -errno. */
int jsock_send(struct jsock *s, struct json_object *obj);
/*
 * The next object, waiting until the monotonic deadline (milliseconds;
 * -1: none): 1 and *out (the caller's), 0 when the peer closed, or
 * -ETIMEDOUT, -EPROTO (not JSON, or a value over 1 MiB), -EINTR (a
 * signal), -errno.
 */
int jsock_read(struct jsock *s, int64_t deadline_ms, struct json_object **out);

/* The member `key` of a message o if it has the given type, else NULL
 * (o may be NULL, or no object). */
struct json_object *jsock_member(struct json_object *o, const char *key,
                                 enum json_type type);

#endif
