/* SPDX-License-Identifier: BSD-3-Clause */
/* Adaptive polling of the request queue (see polling.c). */
#ifndef VIOMMU_DAEMON_POLLING_H
#define VIOMMU_DAEMON_POLLING_H

#include <stdbool.h>
#include <stdint.h>

#include "vhost_user.h"

#define POLL_DEFAULT_MAX_NS 131072

struct poller {
    int64_t max_ns;    /* --poll-max-ns; 0: no polling */
    int64_t window_ns; /* how long polling waits for the next request */
    int64_t last_ns;   /* when a request was last served */
    bool polling;      /* kicks suppressed, the ring polled: the event
                          loop looks at its fds without sleeping */
};

void poller_init(struct poller *p, int64_t max_ns);
/* After a turn of the event loop, in which a kick may have served
 * requests: adapts the window, polls the ring for a while, stops polling.
 * False when guest memory faulted, as vu_kick() says. */
bool poll_turn(struct vu_dev *d, struct poller *p, bool kicked);

#endif
