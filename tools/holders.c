/* SPDX-License-Identifier: BSD-3-Clause */
#include "holders.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attr.h"
#include "tool.h"

/* The files whose holders matter (the group's, each device's), by their
 * canonical paths: what /proc/PID/fd/N links to. */
struct target {
    char path[TOOL_PATH_MAX];
};

static void add_target(struct target *tg, unsigned *n, unsigned max,
                       const char *path)
{
    char real[PATH_MAX];

    if (*n < max && realpath(path, real) != NULL &&
        strlen(real) < sizeof(tg[*n].path)) {
        strcpy(tg[*n].path, real);
        (*n)++;
    }
}

/* Adds a holder to list, unless that process and file are there. */
static void add_holder(struct json_object *list, long pid, const char *file)
{
    char path[64], comm[64] = "?";

    for (size_t i = 0; i < json_object_array_length(list); i++) {
        struct json_object *h = json_object_array_get_idx(list, i), *p, *f;
        json_object_object_get_ex(h, "pid", &p);
        json_object_object_get_ex(h, "file", &f);
        if (json_object_get_int64(p) == pid &&
            strcmp(json_object_get_string(f), file) == 0) {
            return;
        }
    }
    snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
    ssize_t n = attr_read_bytes(path, comm, sizeof(comm) - 1);
    if (n > 0) {
        comm[n] = '\0';
        comm[strcspn(comm, "\n")] = '\0';
    }
    struct json_object *h = json_object_new_object();
    json_object_object_add(h, "pid", json_object_new_int64(pid));
    json_object_object_add(h, "comm", json_object_new_string(comm));
    json_object_object_add(h, "file", json_object_new_string(file));
    json_object_array_add(list, h);
}

struct json_object *vfio_holders(struct tool *t, int64_t g,
                                 const struct member *m, size_t n)
{
    struct json_object *list = json_object_new_array();
    struct target tg[16];
    unsigned nt = 0;
    char path[TOOL_PATH_MAX];

    if (g >= 0) {
        snprintf(path, sizeof(path), "%s/vfio/%" PRId64, t->dev, g);
        add_target(tg, &nt, 16, path);
    }
    for (size_t i = 0; i < n; i++) {
        /* The VFIO device files (iommufd's way in) of each device. */
        dev_path(t, path, sizeof(path), m[i].name, "vfio-dev");
        DIR *dir = opendir(path);
        struct dirent *d;
        while (dir != NULL && (d = readdir(dir)) != NULL) {
            if (d->d_name[0] != '.') {
                char file[TOOL_PATH_MAX];
                snprintf(file, sizeof(file), "%s/vfio/devices/%.32s", t->dev,
                         d->d_name);
                add_target(tg, &nt, 16, file);
            }
        }
        if (dir != NULL) {
            closedir(dir);
        }
    }
    DIR *proc = nt > 0 ? opendir("/proc") : NULL;
    struct dirent *p;
    while (proc != NULL && (p = readdir(proc)) != NULL) {
        char *end;
        long pid = strtol(p->d_name, &end, 10);
        if (*end != '\0' || pid <= 0) {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
        DIR *fds = opendir(path);
        struct dirent *f;
        while (fds != NULL && (f = readdir(fds)) != NULL) {
            char fd_path[64], file[TOOL_PATH_MAX];
            /* The link's text only: following it could hang on a file
             * of a dead network mount. */
            snprintf(fd_path, sizeof(fd_path), "/proc/%ld/fd/%.10s", pid,
                     f->d_name);
            ssize_t len = readlink(fd_path, file, sizeof(file) - 1);
            if (f->d_name[0] == '.' || len <= 0) {
                continue;
            }
            file[len] = '\0';
            for (unsigned i = 0; i < nt; i++) {
                if (strcmp(file, tg[i].path) == 0) {
                    add_holder(list, pid, tg[i].path);
                }
            }
        }
        if (fds != NULL) {
            closedir(fds);
        }
    }
    if (proc != NULL) {
        closedir(proc);
    }
    return list;
}

int vfio_group_claim(struct tool *t, int64_t g)
{
    char path[TOOL_PATH_MAX];

    if (g < 0) {
        return -ENOENT;
    }
    snprintf(path, sizeof(path), "%s/vfio/%" PRId64, t->dev, g);
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    return fd >= 0 ? fd : errno == EBUSY ? -EBUSY : -ENOENT;
}

void holders_text(struct json_object *list, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < json_object_array_length(list) && used < len; i++) {
        struct json_object *h = json_object_array_get_idx(list, i), *v;
        int64_t pid = 0;
        const char *comm = "?", *file = "?";
        if (json_object_object_get_ex(h, "pid", &v)) {
            pid = json_object_get_int64(v);
        }
        if (json_object_object_get_ex(h, "comm", &v)) {
            comm = json_object_get_string(v);
        }
        if (json_object_object_get_ex(h, "file", &v)) {
            file = json_object_get_string(v);
        }
        int n = snprintf(buf + used, len - used,
                         "%sprocess %" PRId64 " (%s) holds %s", i ? ", " : "",
                         pid, comm, file);
        used += n > 0 ? (size_t)n : 0;
    }
}
