/* SPDX-License-Identifier: BSD-3-Clause */
#include "attr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostsys/sysfs.h"

void dev_path(const struct tool *t, char *buf, size_t len, const char *bdf,
              const char *attr)
{
    snprintf(buf, len, "%s/bus/pci/devices/%s%s%s", t->sysfs, bdf,
             attr != NULL ? "/" : "", attr != NULL ? attr : "");
}

bool dev_has(const struct tool *t, const char *bdf, const char *attr)
{
    char path[TOOL_PATH_MAX];

    dev_path(t, path, sizeof(path), bdf, attr);
    return access(path, F_OK) == 0;
}

ssize_t attr_read_bytes(const char *path, void *buf, size_t len)
{
    int fd = hostsys_open_attr(path, O_RDONLY);

    if (fd < 0) {
        return fd;
    }
    ssize_t n = read(fd, buf, len);
    int err = errno;
    close(fd);
    return n < 0 ? -err : n;
}

bool link_name(const char *path, char *name, size_t len)
{
    char target[TOOL_PATH_MAX];
    ssize_t n = readlink(path, target, sizeof(target) - 1);

    if (n < 0) {
        return false;
    }
    target[n] = '\0';
    const char *slash = strrchr(target, '/');
    snprintf(name, len, "%s", slash != NULL ? slash + 1 : target);
    return true;
}

int attr_read(struct tool *t, const char *path, char *buf, size_t len)
{
    ssize_t n = attr_read_bytes(path, buf, len - 1);

    if (n < 0) {
        return set_why(t, (int)n, "cannot read %s: %s", path,
                       strerror((int)-n));
    }
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\n') {
        buf[n - 1] = '\0';
    }
    return 0;
}

int attr_write(struct tool *t, const char *path, const char *value)
{
    char text[128];
    int len = snprintf(text, sizeof(text), "%s\n", value);
    int fd = hostsys_open_attr(path, O_WRONLY | O_TRUNC);
    int err = 0;

    if (fd < 0) {
        err = fd;
    } else {
        ssize_t n = write(fd, text, (size_t)len);
        err = n == len ? 0 : n < 0 ? -errno : -EIO;
        if (close(fd) != 0 && err == 0) {
            err = -errno;
        }
    }
    if (err != 0) {
        return set_why(t, err, "writing \"%s\" to %s: %s", value, path,
                       strerror(-err));
    }
    return 0;
}

int dev_read(struct tool *t, const char *bdf, const char *attr, char *buf,
             size_t len)
{
    char path[TOOL_PATH_MAX];

    dev_path(t, path, sizeof(path), bdf, attr);
    return attr_read(t, path, buf, len);
}

int dev_read_uint(struct tool *t, const char *bdf, const char *attr,
                  uint64_t *out)
{
    char text[64];
    int err = dev_read(t, bdf, attr, text, sizeof(text));

    if (err == 0 && !parse_number(text, UINT64_MAX, out)) {
        char path[TOOL_PATH_MAX];
        dev_path(t, path, sizeof(path), bdf, attr);
        return set_why(t, -EINVAL, "%s holds \"%s\", not a number", path, text);
    }
    return err;
}

int dev_write(struct tool *t, const char *bdf, const char *attr,
              const char *value)
{
    char path[TOOL_PATH_MAX];

    dev_path(t, path, sizeof(path), bdf, attr);
    return attr_write(t, path, value);
}
