/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket: JSON commands in the style of QMP, for management
 * layers. A client gets a greeting, sends {"execute": ..., "arguments":
 * {...}, "id": ...} objects and gets {"return": ...} or {"error": {"class":
 * ..., "desc": ...}} back, with the same "id". Events go to every client:
 * ENDPOINT_REMOVED is sent once an endpoint's host state is gone. Client
 * sockets never block the daemon: what a client does not read is kept, up
 * to CONTROL_MAX_OUTPUT, beyond which the client is dropped.
 *
 * Commands: endpoint-add {id, last?, group?, reserved?: [{start, end}]},
 * endpoint-remove {id}, endpoint-replug {id} (an endpoint removed from a
 * declared range, declared again as that range declared it: the next
 * device plugged into the slot), query-endpoints and query-domains {from?,
 * limit?} (a page of at most 256, in ID order: a full page means ask again from
 * the last ID + 1), query-mappings {domain, from?, limit?} (the same, by
 * IOVA: from the last mapping's last IOVA + 1), query-stats, and
 * translate {endpoint, iova, write?} (would this DMA pass? a refusal queues
 * a fault report for the guest, as the access would), device-add {socket,
 * host, endpoint} (serve a host device over vfio-user) and device-remove
 * {endpoint}.
 */
#ifndef VIOMMU_DAEMON_CONTROL_H
#define VIOMMU_DAEMON_CONTROL_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <viommu/viommu.h>

#include "spec.h"

#define CONTROL_MAX_CLIENTS 8
/* With every slot taken, a new client evicts the one idle longest, if it
 * has been idle this long (it gets a CLIENT_EVICTED event first): idle
 * clients cannot lock management out. A client that only listens for
 * events stays safe by sending a command (query-stats) now and then. */
#define CONTROL_EVICT_IDLE_MS 1000
#define VIOMMU_DAEMON_VERSION "0.2.0"
#define CONTROL_MAX_OBJECT (64 * 1024)        /* bytes of one command */
#define CONTROL_MAX_OUTPUT (16 * 1024 * 1024) /* replies not yet read */

struct control_client {
    int fd;              /* -1: free slot */
    bool dead;           /* to be freed once no command runs */
    int64_t last_active; /* ms, monotonic: connected or last command */
    struct json_tokener *tok;
    size_t pending; /* bytes fed since the last complete command */
    char in[256];   /* read, not yet parsed: [in_off, in_len) */
    size_t in_off, in_len;
    bool skip_line; /* after a syntax error, up to the next newline */
    char *out;      /* replies and events the client has not read yet */
    size_t out_len, out_cap;
};

struct vfio_user_set;

struct control {
    int listen_fd; /* -1: no control socket */
    struct viommu *v;
    struct vfio_user_set *assigned; /* assigned devices (device-add), or NULL */
    /* Every range declared (--endpoint and endpoint-add), for
     * endpoint-replug; the daemon declares its --endpoint ranges here. */
    struct spec_ranges ranges;
    struct control_client clients[CONTROL_MAX_CLIENTS];
    unsigned next_turn; /* the client whose command runs first */
};

void control_init(struct control *c);
/* Listens on path; -1 on error (logged). */
int control_open(struct control *c, struct viommu *v, const char *path);
/* Closes the socket and its clients, and forgets the ranges. */
void control_close(struct control *c);

/* Fills pfd with the fds to watch; returns how many (at most
 * 1 + CONTROL_MAX_CLIENTS). */
unsigned control_poll_fds(const struct control *c, struct pollfd *pfd);
/* Serves what poll reported on the fds control_poll_fds() gave: a turn of
 * each client, at most one command. */
void control_serve(struct control *c, const struct pollfd *pfd, unsigned n);
/* True when a client has commands read but not yet run: serve again
 * without waiting. */
bool control_busy(const struct control *c);

/* For viommu_config.endpoint_removed, with the control as opaque. */
void control_endpoint_removed(void *opaque, uint32_t id, int host_err);

#endif
