/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Attributes: the small files and links of sysfs, under t->sysfs. Only
 * regular files are read or written, never blocking, so that anything
 * else where an attribute should be (a FIFO, a device) cannot hang the
 * tool. Writes are single writes of a value and a newline, as `echo`
 * makes them; the kernel's answer is the write's.
 */
#ifndef VIOMMU_TOOLS_ATTR_H
#define VIOMMU_TOOLS_ATTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tool.h"

/* SYSFS/bus/pci/devices/BDF/ATTR (ATTR may be NULL). */
void dev_path(const struct tool *t, char *buf, size_t len, const char *bdf,
              const char *attr);
bool dev_has(const struct tool *t, const char *bdf, const char *attr);

/* Up to len bytes of a regular file: the count, or -errno (-EINVAL for
 * anything but a regular file). */
ssize_t attr_read_bytes(const char *path, void *buf, size_t len);
/* The last component of where symbolic link `path` points; false when it
 * is no link. */
bool link_name(const char *path, char *name, size_t len);

/* An attribute's text without its trailing newline. 0, or -errno with
 * t->why naming the file. */
int attr_read(struct tool *t, const char *path, char *buf, size_t len);
int attr_write(struct tool *t, const char *path, const char *value);
int dev_read(struct tool *t, const char *bdf, const char *attr, char *buf,
             size_t len);
int dev_read_uint(struct tool *t, const char *bdf, const char *attr,
                  uint64_t *out);
int dev_write(struct tool *t, const char *bdf, const char *attr,
              const char *value);

#endif
