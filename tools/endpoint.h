/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Endpoints through the daemon's control socket (t->control): one command
 * per connection, so that a daemon restarted between two keeps working.
 * Errors: -EHOSTUNREACH when the daemon could not be asked (not there, not
 * answering within t->timeout_ms, not speaking its protocol), -ENOENT for
 * its DeviceNotFound, -EINVAL for any other refusal; t->why says which.
 */
#ifndef VIOMMU_TOOLS_ENDPOINT_H
#define VIOMMU_TOOLS_ENDPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "hostview.h"

struct tool;

/* Whether endpoint id is declared, and its domain (-1: none). */
int endpoint_query(struct tool *t, uint32_t id, bool *declared,
                   int64_t *domain);
/* endpoint-add {id, group, reserved}. */
int endpoint_add(struct tool *t, uint32_t id, int64_t group,
                 const struct region *r, unsigned nr);
/* endpoint-remove, and its ENDPOINT_REMOVED event: the moment its host
 * state is gone. *host_error: what the daemon's host left (0: nothing). */
int endpoint_remove(struct tool *t, uint32_t id, int *host_error);
/* endpoint-replug: declared again as its range declared it. */
int endpoint_replug(struct tool *t, uint32_t id);

#endif
