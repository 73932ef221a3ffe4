/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Endpoint specs: a range of endpoint IDs (a VIOT PCI range) with a host
 * group and reserved regions, from the command line (--endpoint=SPEC) or a
 * control command (endpoint-add). Both syntaxes fill one struct through the
 * same checks, and one function declares it.
 *
 *   text:  FIRST[-LAST][,group=N][,reserved=START-END]...
 *   JSON:  {"id": FIRST, "last"?: LAST, "group"?: N,
 *           "reserved"?: [{"start": START, "end": END}, ...]}
 */
#ifndef VIOMMU_DAEMON_SPEC_H
#define VIOMMU_DAEMON_SPEC_H

#include <stdint.h>

#include <json-c/json.h>
#include <viommu/viommu.h>

#define SPEC_MAX_RESERVED 16

struct endpoint_spec {
    uint32_t first, last;
    struct viommu_resv_region resv[SPEC_MAX_RESERVED];
    uint32_t nr_resv;
    uint32_t flags; /* VIOMMU_EP_GROUP */
    uint32_t group;
};

/* 0, or -EINVAL with *why saying what is wrong. */
int spec_from_text(struct endpoint_spec *s, const char *text, const char **why);
int spec_from_json(struct endpoint_spec *s, struct json_object *args,
                   const char **why);

/* Declares the spec's endpoints, all or nothing
 * (viommu_endpoint_add_range). */
int spec_declare(struct viommu *v, const struct endpoint_spec *s);

#endif
