/* SPDX-License-Identifier: BSD-3-Clause */
#include "spec.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The checks both syntaxes share. */
static int set_ids(struct endpoint_spec *s, uint64_t first, uint64_t last,
                   const char **why)
{
    if (first > UINT32_MAX || last > UINT32_MAX || last < first) {
        *why = "endpoint IDs must be 32-bit, FIRST <= LAST";
        return -EINVAL;
    }
    s->first = (uint32_t)first;
    s->last = (uint32_t)last;
    return 0;
}

static int set_group(struct endpoint_spec *s, uint64_t group, const char **why)
{
    if (group > UINT32_MAX) {
        *why = "a group is a 32-bit number";
        return -EINVAL;
    }
    s->flags |= VIOMMU_EP_GROUP;
    s->group = (uint32_t)group;
    return 0;
}

static int add_reserved(struct endpoint_spec *s, uint64_t start, uint64_t end,
                        const char **why)
{
    if (s->nr_resv == SPEC_MAX_RESERVED) {
        *why = "at most 16 reserved regions";
        return -EINVAL;
    }
    if (end < start) {
        *why = "a reserved region needs START <= END";
        return -EINVAL;
    }
    s->resv[s->nr_resv++] = (struct viommu_resv_region)VIOMMU_RESV_REGION(
        start, end, VIOMMU_RESV_RESERVED);
    return 0;
}

/* Decimal, or hexadecimal after 0x (never octal: 010 is ten). */
static bool parse_u64(const char *p, char **end, uint64_t *out)
{
    bool hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');

    if (*p < '0' || *p > '9' || (hex && !isxdigit((unsigned char)p[2]))) {
        return false; /* strtoull would take a sign or spaces */
    }
    errno = 0;
    *out = strtoull(hex ? p + 2 : p, end, hex ? 16 : 10);
    return errno == 0;
}

/* START-END, or START alone when single. */
static bool parse_range(const char *p, char **end, uint64_t *a, uint64_t *b,
                        bool single)
{
    if (!parse_u64(p, end, a)) {
        return false;
    }
    if (**end != '-') {
        *b = *a;
        return single;
    }
    return parse_u64(*end + 1, end, b);
}

int spec_from_text(struct endpoint_spec *s, const char *text, const char **why)
{
    uint64_t a, b;
    char *p;
    int err;

    memset(s, 0, sizeof(*s));
    if (!parse_range(text, &p, &a, &b, true)) {
        *why = "expected FIRST[-LAST]";
        return -EINVAL;
    }
    err = set_ids(s, a, b, why);
    while (err == 0 && *p == ',') {
        if (strncmp(p + 1, "group=", 6) == 0 && parse_u64(p + 7, &p, &a)) {
            err = set_group(s, a, why);
        } else if (strncmp(p + 1, "reserved=", 9) == 0 &&
                   parse_range(p + 10, &p, &a, &b, false)) {
            err = add_reserved(s, a, b, why);
        } else {
            *why = "expected ,group=N or ,reserved=START-END";
            err = -EINVAL;
        }
    }
    if (err == 0 && *p != '\0') {
        *why = "unexpected text after the spec";
        err = -EINVAL;
    }
    return err;
}

/* An integer member in [0, UINT64_MAX]: 1 and *out; 0 when absent; -EINVAL
 * when it is something else. */
static int json_u64(struct json_object *o, const char *key, uint64_t *out)
{
    struct json_object *m;

    if (o == NULL || !json_object_object_get_ex(o, key, &m)) {
        return 0;
    }
    if (!json_object_is_type(m, json_type_int) ||
        json_object_get_int64(m) < 0) {
        return -EINVAL;
    }
    *out = json_object_get_uint64(m);
    return 1;
}

int spec_from_json(struct endpoint_spec *s, struct json_object *args,
                   const char **why)
{
    struct json_object *list;
    uint64_t first, last, group;
    int err;

    memset(s, 0, sizeof(*s));
    if (args != NULL) {
        json_object_object_foreach(args, key, value)
        {
            (void)value;
            if (strcmp(key, "id") != 0 && strcmp(key, "last") != 0 &&
                strcmp(key, "group") != 0 && strcmp(key, "reserved") != 0) {
                *why = "unknown argument: expected id, last, group, reserved";
                return -EINVAL;
            }
        }
    }
    if (json_u64(args, "id", &first) != 1) {
        *why = "'id' must be an endpoint ID";
        return -EINVAL;
    }
    last = first;
    if (json_u64(args, "last", &last) < 0) {
        *why = "'last' must be an endpoint ID";
        return -EINVAL;
    }
    err = set_ids(s, first, last, why);
    if (err == 0) {
        int has = json_u64(args, "group", &group);
        if (has < 0) {
            *why = "'group' must be a group number";
            return -EINVAL;
        }
        err = has ? set_group(s, group, why) : 0;
    }
    if (err != 0 || !json_object_object_get_ex(args, "reserved", &list)) {
        return err;
    }
    if (!json_object_is_type(list, json_type_array)) {
        *why = "'reserved' must be an array of {start, end} objects";
        return -EINVAL;
    }
    for (size_t i = 0; err == 0 && i < json_object_array_length(list); i++) {
        struct json_object *r = json_object_array_get_idx(list, i);
        uint64_t start, end;
        if (json_u64(r, "start", &start) != 1 ||
            json_u64(r, "end", &end) != 1) {
            *why = "a reserved region needs 'start' and 'end'";
            return -EINVAL;
        }
        err = add_reserved(s, start, end, why);
    }
    return err;
}

static int declare(struct viommu *v, const struct endpoint_spec *s,
                   uint32_t first, uint32_t last)
{
    struct viommu_endpoint_config ep = {
        .size = sizeof(ep),
        .resv = s->resv,
        .nr_resv = s->nr_resv,
        .flags = s->flags,
        .group = s->group,
    };

    return viommu_endpoint_add_range(v, first, last, &ep);
}

/* The oldest remembered range holding id, or NULL. */
static const struct endpoint_spec *range_of(const struct spec_ranges *r,
                                            uint32_t id)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->spec[i].first <= id && id <= r->spec[i].last) {
            return &r->spec[i];
        }
    }
    return NULL;
}

/* Whether remembered ranges hold every ID of s: hop from range to range. */
static bool covered(const struct spec_ranges *r, const struct endpoint_spec *s)
{
    uint64_t id = s->first;

    while (id <= s->last) {
        const struct endpoint_spec *in = range_of(r, (uint32_t)id);
        if (in == NULL) {
            return false;
        }
        id = (uint64_t)in->last + 1;
    }
    return true;
}

int spec_declare(struct viommu *v, struct spec_ranges *r,
                 const struct endpoint_spec *s)
{
    bool remember = !covered(r, s);

    if (remember && r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        if (r->n == SPEC_MAX_RANGES) {
            return -ENOSPC;
        }
        struct endpoint_spec *spec = realloc(r->spec, cap * sizeof(*spec));
        if (spec == NULL) {
            return -ENOMEM;
        }
        r->spec = spec;
        r->cap = cap;
    }
    int err = declare(v, s, s->first, s->last);
    if (err == 0 && remember) {
        r->spec[r->n++] = *s;
    }
    return err;
}

int spec_redeclare(struct viommu *v, const struct spec_ranges *r, uint32_t id)
{
    const struct endpoint_spec *s = range_of(r, id);

    return s == NULL ? -ENOENT : declare(v, s, id, id);
}

void spec_ranges_free(struct spec_ranges *r)
{
    free(r->spec);
    *r = (struct spec_ranges){0};
}
