/* SPDX-License-Identifier: BSD-3-Clause */
/* PROBE: the reserved regions of an endpoint's group (R35-R45). */
#include <errno.h>

#include "group.h"
#include "iov.h"
#include "probe.h"
#include "wire.h"

int req_probe(struct viommu *v, const struct request *r,
              const struct iovec *resp, unsigned resp_cnt, size_t props_len)
{
    uint8_t prop[WIRE_RESV_MEM_SIZE];

    /* R35: reserved bytes are ignored. R42: the caller zeroed the buffer. */
    if (props_len < v->cfg.probe_size) {
        return -EINVAL; /* R41: no property written */
    }
    const struct endpoint *ep = idtable_find(&v->endpoints, r->endpoint);
    if (ep == NULL) {
        return -ENOENT; /* R36 */
    }
    /* R40: properties follow each other without padding; the group's
     * union fits probe_size, checked when each member was declared. */
    const struct group *g = ep->group;
    for (uint32_t i = 0; i < g->nr_resv; i++) {
        wire_encode_resv_mem(prop, &g->resv[i]);
        iov_from_buf(resp, resp_cnt, i * sizeof(prop), prop, sizeof(prop));
    }
    return 0;
}
