/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Endpoint specs: a range of endpoint IDs (a VIOT PCI range) with a host
 * group and reserved regions, from the command line (--endpoint=SPEC) or a
 * control command (endpoint-add). Both syntaxes fill one struct through the
 * same checks, and one function declares it and remembers the range, so
 * that an endpoint removed from it (hot-unplug) can be declared again as
 * the range declared it (endpoint-replug, for the next device plugged into
 * that slot).
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

/* Most ranges remembered: a declaration that adds a new one beyond this
 * is refused (-ENOSPC). One whose IDs all lie in remembered ranges adds
 * none, so declaring one slot again and again costs nothing. */
#define SPEC_MAX_RANGES 1024

/* The ranges declared so far, oldest first. Zeroed: none. */
struct spec_ranges {
    struct endpoint_spec *spec;
    size_t n, cap;
};

/* Declares the spec's endpoints, all or nothing
 * (viommu_endpoint_add_range), and remembers the range unless remembered
 * ranges hold all its IDs already; -ENOSPC (nothing declared) when that
 * would make more than SPEC_MAX_RANGES. */
int spec_declare(struct viommu *v, struct spec_ranges *r,
                 const struct endpoint_spec *s);

/* Declares endpoint id again as the oldest remembered range holding it
 * declared it (VIOT ranges are fixed at boot: a slot is what its range
 * says, whatever was plugged there since). -ENOENT when no range holds it,
 * else as viommu_endpoint_add() (-EEXIST: declared now). */
int spec_redeclare(struct viommu *v, const struct spec_ranges *r, uint32_t id);

void spec_ranges_free(struct spec_ranges *r);

#endif
