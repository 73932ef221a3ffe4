/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemon's control socket: commands, errors, events, garbage, and
 * endpoint removal while a guest (the test frontend, over real rings) has
 * the endpoint attached with mappings. Every line the daemon sends is
 * parsed with json-c and checked field by field, types included.
 */
#include <endian.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <linux/virtio_iommu.h>
#include <linux/virtio_ring.h>

#include "driver.h"
#include "frontend.h"

#define OK VIRTIO_IOMMU_S_OK

static struct fe the_fe;
static char ctl_dir[64], ctl_path[128], ctl_arg[160];

static void start(void)
{
    const char *args[] = {"--endpoint=0x8-0xf", ctl_arg, NULL};

    strcpy(ctl_dir, "/tmp/viommu-ctl-XXXXXX");
    assert_non_null(mkdtemp(ctl_dir));
    snprintf(ctl_path, sizeof(ctl_path), "%s/ctl", ctl_dir);
    snprintf(ctl_arg, sizeof(ctl_arg), "--control-socket=%s", ctl_path);
    fe_start(&the_fe, args);
}

static int teardown(void **state)
{
    (void)state;
    if (the_fe.pid > 0) {
        fe_stop(&the_fe);
    }
    unlink(ctl_path);
    rmdir(ctl_dir);
    return 0;
}

/* Member `key` of object o, which must be there with the given type;
 * NULL only for a JSON null. */
static struct json_object *field(struct json_object *o, const char *key,
                                 enum json_type type)
{
    struct json_object *v = NULL;

    assert_true(json_object_is_type(o, json_type_object));
    if (!json_object_object_get_ex(o, key, &v)) {
        fail_msg("no \"%s\" in %s", key, json_object_to_json_string(o));
    }
    if (!json_object_is_type(v, type)) {
        fail_msg("\"%s\" is a %s, not a %s, in %s", key,
                 json_type_to_name(json_object_get_type(v)),
                 json_type_to_name(type), json_object_to_json_string(o));
    }
    return v;
}

static uint64_t uint_field(struct json_object *o, const char *key)
{
    struct json_object *v = field(o, key, json_type_int);

    assert_true(json_object_get_int64(v) >= 0);
    return json_object_get_uint64(v);
}

static const char *string_field(struct json_object *o, const char *key)
{
    return json_object_get_string(field(o, key, json_type_string));
}

static bool bool_field(struct json_object *o, const char *key)
{
    return json_object_get_boolean(field(o, key, json_type_boolean));
}

static bool has(struct json_object *o, const char *key)
{
    return json_object_object_get_ex(o, key, NULL);
}

/* A control connection and the events it received, in order. */
struct client {
    struct fe_control c;
    struct json_object *events; /* array */
};

/* A line from the daemon: one whole JSON object, nothing else. */
static struct json_object *parse_object(const char *line)
{
    struct json_tokener *tok = json_tokener_new();

    assert_non_null(line);
    assert_non_null(tok);
    struct json_object *o = json_tokener_parse_ex(tok, line, (int)strlen(line));
    if (json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != strlen(line)) {
        fail_msg("not one JSON value: %s", line);
    }
    json_tokener_free(tok);
    assert_true(json_object_is_type(o, json_type_object));
    return o;
}

/* An event: {"event": NAME, "data": {...}, "timestamp": {"seconds": S,
 * "microseconds": US}}. */
static void check_event(struct json_object *e)
{
    assert_int_equal(json_object_object_length(e), 3);
    assert_true(strlen(string_field(e, "event")) > 0);
    field(e, "data", json_type_object);
    struct json_object *ts = field(e, "timestamp", json_type_object);
    assert_true(uint_field(ts, "seconds") > 0);
    assert_true(uint_field(ts, "microseconds") < 1000000);
}

/* The next reply, keeping the events that come before it. A reply holds
 * "return" or "error", and "id" only when the command had one. */
static struct json_object *next_reply(struct client *cl)
{
    for (;;) {
        struct json_object *o = parse_object(fe_control_read(&cl->c));
        if (!has(o, "event")) {
            assert_int_not_equal(has(o, "return"), has(o, "error"));
            assert_int_equal(json_object_object_length(o), 1 + has(o, "id"));
            return o;
        }
        check_event(o);
        json_object_array_add(cl->events, o);
    }
}

static struct json_object *command(struct client *cl, const char *text)
{
    size_t len = strlen(text);

    assert_int_equal(send(cl->c.fd, text, len, MSG_NOSIGNAL), (ssize_t)len);
    return next_reply(cl);
}

/* Runs a command that must succeed; the reply, whose "return" is *value. */
static struct json_object *run(struct client *cl, const char *text,
                               enum json_type type, struct json_object **value)
{
    struct json_object *r = command(cl, text);

    if (has(r, "error")) {
        fail_msg("%s failed: %s", text, json_object_to_json_string(r));
    }
    *value = field(r, "return", type);
    return r;
}

/* A command whose return is the empty object. */
static void run_empty(struct client *cl, const char *text)
{
    struct json_object *v;
    struct json_object *r = run(cl, text, json_type_object, &v);

    assert_int_equal(json_object_object_length(v), 0);
    json_object_put(r);
}

/* A command that must fail with an error of the given class. */
static void expect_error(struct client *cl, const char *text, const char *class)
{
    struct json_object *r = command(cl, text);

    if (has(r, "return")) {
        fail_msg("%s did not fail: %s", text, json_object_to_json_string(r));
    }
    struct json_object *e = field(r, "error", json_type_object);
    assert_int_equal(json_object_object_length(e), 2);
    assert_string_equal(string_field(e, "class"), class);
    assert_true(strlen(string_field(e, "desc")) > 0);
    json_object_put(r);
}

/* The greeting names the version and exactly the commands there are. */
static void open_client(struct client *cl)
{
    static const char *const commands[] = {
        "endpoint-add",    "endpoint-remove", "endpoint-replug",
        "query-endpoints", "query-domains",   "query-mappings",
        "query-stats",     "translate",       "device-add",
        "device-remove",
    };
    const size_t n = sizeof(commands) / sizeof(commands[0]);
    unsigned seen = 0;

    struct json_object *g = parse_object(fe_control_open(&cl->c, ctl_path));

    cl->events = json_object_new_array();
    assert_int_equal(json_object_object_length(g), 1);
    struct json_object *body = field(g, "viommu", json_type_object);
    assert_int_equal(json_object_object_length(body), 2);
    assert_true(strlen(string_field(body, "version")) > 0);
    struct json_object *names = field(body, "commands", json_type_array);
    for (size_t k = 0; k < json_object_array_length(names); k++) {
        struct json_object *name = json_object_array_get_idx(names, k);
        const char *w = json_object_get_string(name);
        size_t i = 0;
        assert_true(json_object_is_type(name, json_type_string));
        while (i < n && strcmp(w, commands[i]) != 0) {
            i++;
        }
        if (i == n || (seen & (1u << i))) {
            fail_msg("unknown or repeated command in the greeting: %s", w);
        }
        seen |= 1u << i;
    }
    assert_int_equal(seen, (1u << n) - 1);
    json_object_put(g);
}

static void close_client(struct client *cl)
{
    close(cl->c.fd);
    json_object_put(cl->events);
}

/* Event i of a client: an ENDPOINT_REMOVED; returns the endpoint it names
 * and checks the host released it without error. */
static uint64_t removed_event(const struct client *cl, size_t i)
{
    struct json_object *e = json_object_array_get_idx(cl->events, i);

    assert_non_null(e);
    assert_string_equal(string_field(e, "event"), "ENDPOINT_REMOVED");
    struct json_object *data = field(e, "data", json_type_object);
    assert_int_equal(json_object_object_length(data), 2);
    assert_int_equal(
        json_object_get_int64(field(data, "host-error", json_type_int)), 0);
    return uint_field(data, "id");
}

static size_t nr_events(const struct client *cl)
{
    return json_object_array_length(cl->events);
}

static void test_commands_and_errors(void **state)
{
    struct client c;
    struct json_object *r, *v;

    (void)state;
    start();
    open_client(&c);
    run_empty(&c, "{\"execute\": \"endpoint-add\", \"arguments\": {\"id\": 32, "
                  "\"last\": 35, \"group\": 5, \"reserved\": [{\"start\": 0, "
                  "\"end\": 4095}]}}");
    expect_error(&c,
                 "{\"execute\": \"endpoint-add\", \"arguments\": {\"id\": 35}}",
                 "GenericError");
    expect_error(&c,
                 "{\"execute\": \"endpoint-add\", \"arguments\": {\"id\": -1}}",
                 "GenericError");
    expect_error(
        &c, "{\"execute\": \"endpoint-add\", \"arguments\": {\"id\": \"x\"}}",
        "GenericError");
    expect_error(&c, "{\"execute\": \"no-such-command\"}", "CommandNotFound");
    expect_error(&c,
                 "{\"execute\": \"endpoint-add\", \"arguments\": {\"id\": 0, "
                 "\"last\": 4294967295}}",
                 "GenericError");
    expect_error(&c, "[1, 2]", "GenericError");
    expect_error(&c, "{\"execute\": \"query-stats\", \"arguments\": 3}",
                 "GenericError");

    /* Endpoints in ID order, each {id, domain} with domain null when it
     * is in none; the command's id comes back. */
    r = run(&c, "{\"execute\": \"query-endpoints\", \"id\": \"q1\"}",
            json_type_array, &v);
    assert_string_equal(string_field(r, "id"), "q1");
    assert_int_equal(json_object_array_length(v), 8 + 4);
    for (size_t i = 0; i < 12; i++) {
        struct json_object *ep = json_object_array_get_idx(v, i);
        assert_int_equal(json_object_object_length(ep), 2);
        assert_int_equal(uint_field(ep, "id"), i < 8 ? 8 + i : 32 + i - 8);
        assert_null(field(ep, "domain", json_type_null));
    }
    json_object_put(r);

    /* Removal: the event, then the return; a second time: not found. */
    run_empty(
        &c, "{\"execute\": \"endpoint-remove\", \"arguments\": {\"id\": 33}}");
    assert_int_equal(nr_events(&c), 1);
    assert_int_equal(removed_event(&c, 0), 33);
    expect_error(
        &c, "{\"execute\": \"endpoint-remove\", \"arguments\": {\"id\": 33}}",
        "DeviceNotFound");
    assert_int_equal(nr_events(&c), 1);

    r = run(&c, "{\"execute\": \"query-stats\"}", json_type_object, &v);
    assert_int_equal(json_object_object_length(v), 7);
    assert_int_equal(uint_field(v, "endpoints"), 8 + 3);
    assert_int_equal(uint_field(v, "domains"), 0);
    assert_int_equal(uint_field(v, "mappings"), 0);
    assert_int_equal(uint_field(v, "pending-faults"), 0);
    assert_int_equal(uint_field(v, "dropped-faults"), 0);
    assert_int_equal(uint_field(v, "host-contexts"), 0);
    assert_int_equal(uint_field(v, "host-errors"), 0);
    json_object_put(r);
    close_client(&c);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* device-add and device-remove with the daemon's real VFIO backend, on a
 * machine without the device: clear errors, nothing declared, no event. */
static void test_device_commands_errors(void **state)
{
    struct client c;
    struct json_object *r, *v;
    char cmd[512];

    (void)state;
    start();
    open_client(&c);
    snprintf(cmd, sizeof(cmd),
             "{\"execute\": \"device-add\", \"arguments\": {\"socket\": "
             "\"%s/dev\", \"host\": \"0000:ff:1f.7\", \"endpoint\": 64}}",
             ctl_dir);
    expect_error(&c, cmd, "DeviceNotFound");
    snprintf(cmd, sizeof(cmd),
             "{\"execute\": \"device-add\", \"arguments\": {\"socket\": "
             "\"%s/dev\", \"host\": \"zz\", \"endpoint\": 64}}",
             ctl_dir);
    expect_error(&c, cmd, "GenericError");
    expect_error(&c,
                 "{\"execute\": \"device-add\", \"arguments\": "
                 "{\"host\": \"0000:00:01.0\", \"endpoint\": 64}}",
                 "GenericError");
    expect_error(&c,
                 "{\"execute\": \"device-add\", \"arguments\": {\"socket\": "
                 "\"/tmp/x\", \"host\": 1, \"endpoint\": 64}}",
                 "GenericError");
    expect_error(&c,
                 "{\"execute\": \"device-remove\", \"arguments\": "
                 "{\"endpoint\": 8}}",
                 "DeviceNotFound");
    expect_error(&c, "{\"execute\": \"device-remove\"}", "GenericError");
    r = run(&c, "{\"execute\": \"query-endpoints\"}", json_type_array, &v);
    assert_int_equal(json_object_array_length(v), 8);
    json_object_put(r);
    assert_int_equal(nr_events(&c), 0);
    snprintf(cmd, sizeof(cmd), "%s/dev", ctl_dir);
    assert_int_equal(access(cmd, F_OK), -1);
    close_client(&c);
    assert_int_equal(fe_stop(&the_fe), 0);
}

static uint8_t ring_request(const void *req, size_t size)
{
    return fe_status(&the_fe, req, size);
}

/* The field's removal: the guest has the endpoint attached with a mapping;
 * the management layer removes it; its domain is gone with the mapping,
 * and every client hears of it. */
static void test_removal_while_attached(void **state)
{
    struct client c, other;
    struct json_object *r, *v;

    (void)state;
    start();
    fe_setup(&the_fe);
    open_client(&c);
    open_client(&other);
    struct virtio_iommu_req_attach attach = vdrv_attach_req(1, 8, 0);
    assert_int_equal(ring_request(&attach, sizeof(attach)), OK);
    struct virtio_iommu_req_map map = {
        .head.type = VIRTIO_IOMMU_T_MAP,
        .domain = htole32(1),
        .virt_start = htole64(0x10000),
        .virt_end = htole64(0x1ffff),
        .phys_start = htole64(0x200000),
        .flags = htole32(VIRTIO_IOMMU_MAP_F_READ),
    };
    assert_int_equal(ring_request(&map, sizeof(map)), OK);

    r = run(&c, "{\"execute\": \"query-domains\"}", json_type_array, &v);
    assert_int_equal(json_object_array_length(v), 1);
    struct json_object *d = json_object_array_get_idx(v, 0);
    assert_int_equal(json_object_object_length(d), 4);
    assert_int_equal(uint_field(d, "id"), 1);
    assert_false(bool_field(d, "bypass"));
    assert_int_equal(uint_field(d, "mappings"), 1);
    struct json_object *members = field(d, "endpoints", json_type_array);
    assert_int_equal(json_object_array_length(members), 1);
    assert_int_equal(
        json_object_get_uint64(json_object_array_get_idx(members, 0)), 8);
    json_object_put(r);

    r = run(&c,
            "{\"execute\": \"query-mappings\", \"arguments\": {\"domain\": 1}}",
            json_type_object, &v);
    assert_int_equal(uint_field(v, "total"), 1);
    struct json_object *list = field(v, "mappings", json_type_array);
    assert_int_equal(json_object_array_length(list), 1);
    struct json_object *m = json_object_array_get_idx(list, 0);
    assert_int_equal(json_object_object_length(m), 6);
    assert_int_equal(uint_field(m, "iova"), 0x10000);
    assert_int_equal(uint_field(m, "last"), 0x1ffff);
    assert_int_equal(uint_field(m, "gpa"), 0x200000);
    assert_true(bool_field(m, "read"));
    assert_false(bool_field(m, "write"));
    assert_false(bool_field(m, "mmio"));
    json_object_put(r);

    run_empty(&c,
              "{\"execute\": \"endpoint-remove\", \"arguments\": {\"id\": 8}}");
    assert_int_equal(nr_events(&c), 1);
    assert_int_equal(removed_event(&c, 0), 8);
    r = run(&other, "{\"execute\": \"query-domains\"}", json_type_array, &v);
    assert_int_equal(nr_events(&other), 1); /* the event reached it first */
    assert_int_equal(removed_event(&other, 0), 8);
    assert_int_equal(json_object_array_length(v), 0);
    json_object_put(r);
    expect_error(
        &c, "{\"execute\": \"query-mappings\", \"arguments\": {\"domain\": 1}}",
        "DeviceNotFound");
    /* The guest's next MAP finds no domain: nothing stale survives. */
    assert_int_equal(ring_request(&map, sizeof(map)), VIRTIO_IOMMU_S_NOENT);

    run_empty(&c,
              "{\"execute\": \"endpoint-add\", \"arguments\": {\"id\": 8}}");
    assert_int_equal(ring_request(&attach, sizeof(attach)), OK);
    close_client(&c);
    close_client(&other);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* The reserved regions PROBE reports for endpoint ep, through the rings;
 * returns how many. */
static int probe_regions(uint32_t ep, struct viommu_resv_region *r, int max)
{
    struct virtio_iommu_req_probe probe = vdrv_probe_req(ep);
    uint8_t props[512 + 4];

    assert_int_equal(
        fe_request(&the_fe, &probe, sizeof(probe), props, sizeof(props), false),
        sizeof(props));
    assert_int_equal(props[512], OK);
    return vdrv_parse_resv(props, 512, r, max);
}

/*
 * A removed endpoint of a declared range comes back with one command, as
 * the range declared it (its reserved region included), whatever was
 * declared in the slot meanwhile: a slot is what its range says. An
 * endpoint no range holds, or one declared now, is refused.
 */
static void test_replug(void **state)
{
    struct client c;
    struct viommu_resv_region r[4];

    (void)state;
    start();
    fe_setup(&the_fe);
    open_client(&c);
    run_empty(&c, "{\"execute\": \"endpoint-add\", \"arguments\": {\"id\": 32, "
                  "\"last\": 35, \"reserved\": [{\"start\": 4096, "
                  "\"end\": 8191}]}}");
    expect_error(
        &c, "{\"execute\": \"endpoint-replug\", \"arguments\": {\"id\": 33}}",
        "GenericError");
    run_empty(
        &c, "{\"execute\": \"endpoint-remove\", \"arguments\": {\"id\": 33}}");
    /* An assigned device took the slot with its host's regions, and left. */
    run_empty(&c, "{\"execute\": \"endpoint-add\", \"arguments\": {\"id\": 33, "
                  "\"group\": 7, \"reserved\": [{\"start\": 65536, "
                  "\"end\": 131071}]}}");
    assert_int_equal(probe_regions(33, r, 4), 2);
    assert_int_equal(r[0].start, 65536);
    run_empty(
        &c, "{\"execute\": \"endpoint-remove\", \"arguments\": {\"id\": 33}}");
    run_empty(
        &c, "{\"execute\": \"endpoint-replug\", \"arguments\": {\"id\": 33}}");
    /* The range's region, and the MSI window every endpoint has. */
    assert_int_equal(probe_regions(33, r, 4), 2);
    assert_int_equal(r[0].start, 4096);
    assert_int_equal(r[0].end, 8191);
    assert_int_equal(r[1].type, VIOMMU_RESV_MSI);
    struct virtio_iommu_req_attach attach = vdrv_attach_req(1, 33, 0);
    assert_int_equal(ring_request(&attach, sizeof(attach)), OK);
    /* Ranges given on the command line count too. */
    run_empty(&c,
              "{\"execute\": \"endpoint-remove\", \"arguments\": {\"id\": 9}}");
    run_empty(&c,
              "{\"execute\": \"endpoint-replug\", \"arguments\": {\"id\": 9}}");
    expect_error(
        &c, "{\"execute\": \"endpoint-replug\", \"arguments\": {\"id\": 40}}",
        "DeviceNotFound");
    expect_error(
        &c, "{\"execute\": \"endpoint-replug\", \"arguments\": {\"id\": -1}}",
        "GenericError");
    assert_int_equal(nr_events(&c), 3);
    close_client(&c);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* Garbage gets an error and the client keeps its session; an endless
 * command ends only that client. */
static void test_garbage(void **state)
{
    struct client c;
    struct json_object *r, *v;

    (void)state;
    start();
    open_client(&c);
    expect_error(&c, "{not json}\n", "GenericError");
    json_object_put(
        run(&c, "{\"execute\": \"query-stats\"}", json_type_object, &v));
    /* A syntax error costs its line only: the next line in the same write
     * is still run (it was dropped with the rest of the read). */
    const char *bad_then_good =
        "{\"a\" x}\n{\"execute\": \"query-stats\", \"id\": 1}";
    assert_int_equal(write(c.c.fd, bad_then_good, strlen(bad_then_good)),
                     (ssize_t)strlen(bad_then_good));
    r = next_reply(&c);
    field(r, "error", json_type_object);
    json_object_put(r);
    r = next_reply(&c);
    assert_int_equal(uint_field(r, "id"), 1);
    field(r, "return", json_type_object);
    json_object_put(r);
    /* Two commands in one write, the second split across writes. */
    const char *two = "{\"execute\": \"query-stats\"}{\"execute\": \"query-";
    assert_int_equal(write(c.c.fd, two, strlen(two)), (ssize_t)strlen(two));
    r = next_reply(&c);
    field(field(r, "return", json_type_object), "endpoints", json_type_int);
    json_object_put(r);
    json_object_put(run(&c, "domains\"}", json_type_array, &v));

    static char huge[80 * 1024];
    memset(huge, ' ', sizeof(huge));
    huge[0] = '[';
    /* The daemon may drop the client before it has sent everything. */
    for (size_t sent = 0; sent < sizeof(huge);) {
        ssize_t n =
            send(c.c.fd, huge + sent, sizeof(huge) - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            break;
        }
        sent += (size_t)n;
    }
    r = next_reply(&c);
    struct json_object *e = field(r, "error", json_type_object);
    assert_string_equal(string_field(e, "class"), "GenericError");
    json_object_put(r);
    assert_null(fe_control_read(&c.c)); /* dropped */
    close_client(&c);

    open_client(&c);
    json_object_put(
        run(&c, "{\"execute\": \"query-stats\"}", json_type_object, &v));
    close_client(&c);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* `translate` of endpoint 8 at iova: the return, or NULL after a "Fault"
 * error (the access was refused). */
static struct json_object *translate(struct client *cl, uint64_t iova,
                                     bool write)
{
    char text[160];
    struct json_object *r;

    snprintf(text, sizeof(text),
             "{\"execute\": \"translate\", \"arguments\": {\"endpoint\": 8, "
             "\"iova\": %llu, \"write\": %s}}",
             (unsigned long long)iova, write ? "true" : "false");
    r = command(cl, text);
    if (has(r, "error")) {
        struct json_object *e = field(r, "error", json_type_object);
        assert_string_equal(string_field(e, "class"), "Fault");
        json_object_put(r);
        return NULL;
    }
    struct json_object *t =
        json_object_get(field(r, "return", json_type_object));
    json_object_put(r);
    assert_int_equal(json_object_object_length(t), 4);
    return t;
}

/* A refused DMA (asked through `translate`) reaches the guest as a fault
 * report on the event queue, in a buffer the driver posted there. */
static void test_fault_reaches_event_queue(void **state)
{
    struct client c;
    struct fe_queue *eq = &the_fe.q[1];

    (void)state;
    start();
    fe_setup(&the_fe);
    open_client(&c);
    struct vring_desc *desc = fe_ptr(&the_fe, eq->desc);
    struct vring_avail *avail = fe_ptr(&the_fe, eq->avail);
    struct vring_used *used = fe_ptr(&the_fe, eq->used);
    uint64_t buf = fe_alloc(&the_fe, 64);
    desc[0] = (struct vring_desc){htole64(buf), htole32(64),
                                  htole16(VRING_DESC_F_WRITE), 0};
    avail->ring[0] = 0;
    __atomic_store_n(&avail->idx, htole16(1), __ATOMIC_RELEASE);
    uint64_t one = 1;
    assert_int_equal(write(eq->kick, &one, 8), 8);

    assert_null(translate(&c, 4096, true));
    assert_true(fe_signalled(eq->call, 2000));
    assert_int_equal(le16toh(used->idx), 1);
    assert_int_equal(le32toh(used->ring[0].len),
                     sizeof(struct virtio_iommu_fault));
    struct virtio_iommu_fault fault;
    memcpy(&fault, fe_ptr(&the_fe, buf), sizeof(fault));
    assert_int_equal(fault.reason, VIRTIO_IOMMU_FAULT_R_DOMAIN);
    assert_int_equal(le32toh(fault.endpoint), 8);
    assert_int_equal(le64toh(fault.address), 4096);
    assert_int_equal(le32toh(fault.flags),
                     VIRTIO_IOMMU_FAULT_F_WRITE | VIRTIO_IOMMU_FAULT_F_ADDRESS);

    /* Attached and mapped, the same access passes. */
    struct virtio_iommu_req_attach attach = vdrv_attach_req(1, 8, 0);
    assert_int_equal(ring_request(&attach, sizeof(attach)), OK);
    struct virtio_iommu_req_map map = {
        .head.type = VIRTIO_IOMMU_T_MAP,
        .domain = htole32(1),
        .virt_start = htole64(0x1000),
        .virt_end = htole64(0x1fff),
        .phys_start = htole64(0x42000),
        .flags = htole32(VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE),
    };
    assert_int_equal(ring_request(&map, sizeof(map)), OK);
    struct json_object *t = translate(&c, 4100, true);
    assert_non_null(t);
    assert_int_equal(uint_field(t, "gpa"), 0x42004);
    assert_int_equal(uint_field(t, "last"), 0x1fff);
    assert_false(bool_field(t, "bypass"));
    assert_false(bool_field(t, "msi"));
    json_object_put(t);
    close_client(&c);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* SET_CONFIG of `bypass` reads back through GET_CONFIG and decides whether
 * an endpoint in no domain reaches guest memory, as `translate` shows. */
static void test_bypass_set_config_R7_R11(void **state)
{
    const uint32_t off = offsetof(struct virtio_iommu_config, bypass);
    const uint8_t one = 1, two = 2, zero = 0;
    struct client c;
    struct json_object *t;
    uint8_t b = 0xaa;

    (void)state;
    start();
    fe_setup(&the_fe);
    open_client(&c);
    /* R11 */
    assert_null(translate(&c, 0x5008, false));

    assert_int_equal(fe_config_write(&the_fe, off, &one, 1), 0);
    assert_int_equal(fe_config_read(&the_fe, off, &b, 1), 0);
    assert_int_equal(b, 1);
    t = translate(&c, 0x5008, false);
    assert_non_null(t);
    assert_int_equal(uint_field(t, "gpa"), 0x5008);
    assert_true(bool_field(t, "bypass"));
    json_object_put(t);

    /* R7: 2 is refused and changes nothing. */
    assert_int_not_equal(fe_config_write(&the_fe, off, &two, 1), 0);
    assert_int_equal(fe_config_read(&the_fe, off, &b, 1), 0);
    assert_int_equal(b, 1);
    t = translate(&c, 0x5008, true);
    assert_non_null(t);
    json_object_put(t);

    assert_int_equal(fe_config_write(&the_fe, off, &zero, 1), 0);
    assert_int_equal(fe_config_read(&the_fe, off, &b, 1), 0);
    assert_int_equal(b, 0);
    /* R11 */
    assert_null(translate(&c, 0x5008, false));
    close_client(&c);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* A client that sends commands and never reads the replies does not stop
 * the daemon: the frontend is still served. */
static void test_client_that_does_not_read(void **state)
{
    struct client c;
    static char many[64 * 1024];
    const char *cmd = "{\"execute\": \"query-endpoints\"}";
    size_t len = strlen(cmd), n = 0;

    (void)state;
    start();
    fe_setup(&the_fe);
    open_client(&c);
    while (n + len < sizeof(many)) {
        memcpy(many + n, cmd, len);
        n += len;
    }
    for (int round = 0; round < 64; round++) {
        if (send(c.c.fd, many, n, MSG_NOSIGNAL | MSG_DONTWAIT) <= 0) {
            break;
        }
    }
    struct virtio_iommu_req_attach attach = vdrv_attach_req(1, 8, 0);
    assert_int_equal(ring_request(&attach, sizeof(attach)), OK);
    close_client(&c);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* A client that asks for a removal and hangs up before the event and the
 * reply reach it: the daemon drops it once, and goes on serving (it used
 * to free the client twice and die of SIGSEGV). */
static void test_remove_then_hang_up(void **state)
{
    struct client gone, other;
    struct json_object *stats;
    uint64_t left = 0;

    (void)state;
    start();
    fe_setup(&the_fe);
    open_client(&other);
    for (int id = 10; id <= 12; id++) {
        char text[128];
        int len = snprintf(text, sizeof(text),
                           "{\"execute\": \"endpoint-remove\", "
                           "\"arguments\": {\"id\": %d}}",
                           id);
        open_client(&gone);
        /* Gone before the daemon answers: the event and the reply fail. */
        assert_int_equal(send(gone.c.fd, text, (size_t)len, MSG_NOSIGNAL), len);
        close_client(&gone);
    }
    /* The other sockets are served in their own time: ask until the three
     * removals are done (each answer is a full turn of the daemon). */
    for (int tries = 0; tries < 200 && left != 8 - 3; tries++) {
        struct json_object *r = run(&other, "{\"execute\": \"query-stats\"}",
                                    json_type_object, &stats);
        left = uint_field(stats, "endpoints");
        json_object_put(r);
        usleep(10000);
    }
    assert_int_equal(left, 8 - 3);
    struct virtio_iommu_req_attach attach = vdrv_attach_req(1, 8, 0);
    assert_int_equal(ring_request(&attach, sizeof(attach)), OK);
    close_client(&other);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* The command name is the whole JSON string: "query-stats\u0000x" is no
 * command. */
static void test_command_names(void **state)
{
    struct client c;
    struct json_object *stats;

    (void)state;
    start();
    open_client(&c);
    expect_error(&c, "{\"execute\": \"query-stats\\u0000x\"}",
                 "CommandNotFound");
    expect_error(&c, "{\"execute\": \"query-stat\"}", "CommandNotFound");
    json_object_put(
        run(&c, "{\"execute\": \"query-stats\"}", json_type_object, &stats));
    close_client(&c);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* Queries cost what they return: 4000 domains over 65,000 endpoints are
 * listed in pages, each in milliseconds (the whole list once took 12 s,
 * walking every endpoint for every domain, while the guest waited). */
static void test_queries_are_paged_and_fast(void **state)
{
    struct client c;
    struct json_object *list, *r;
    uint64_t from = 0, domains = 0, members = 0;
    double slowest = 0;

    (void)state;
    start();
    fe_setup(&the_fe);
    open_client(&c);
    run_empty(&c, "{\"execute\": \"endpoint-add\", \"arguments\": "
                  "{\"id\": 16, \"last\": 65015}}");
    for (uint32_t d = 1; d <= 4000; d++) {
        struct virtio_iommu_req_attach a = vdrv_attach_req(d, 16 + d, 0);
        assert_int_equal(ring_request(&a, sizeof(a)), OK);
    }
    for (;;) {
        char text[128];
        snprintf(text, sizeof(text),
                 "{\"execute\": \"query-domains\", \"arguments\": "
                 "{\"from\": %" PRIu64 ", \"limit\": 256}}",
                 from);
        double t0 = fe_now();
        r = run(&c, text, json_type_array, &list);
        double took = fe_now() - t0;
        slowest = took > slowest ? took : slowest;
        size_t n = json_object_array_length(list);
        assert_true(n <= 256);
        for (size_t i = 0; i < n; i++) {
            struct json_object *d = json_object_array_get_idx(list, i);
            struct json_object *eps = field(d, "endpoints", json_type_array);
            assert_int_equal(json_object_array_length(eps), 1);
            assert_int_equal(
                json_object_get_uint64(json_object_array_get_idx(eps, 0)),
                16 + uint_field(d, "id"));
            members++;
            from = uint_field(d, "id") + 1;
        }
        domains += n;
        json_object_put(r);
        if (n < 256) {
            break;
        }
    }
    assert_int_equal(domains, 4000);
    assert_int_equal(members, 4000);
    assert_true(slowest < 0.5);
    expect_error(&c,
                 "{\"execute\": \"query-endpoints\", \"arguments\": "
                 "{\"limit\": 257}}",
                 "GenericError");
    r = run(&c,
            "{\"execute\": \"query-endpoints\", \"arguments\": "
            "{\"from\": 65000}}",
            json_type_array, &list);
    assert_int_equal(json_object_array_length(list), 16); /* 65000-65015 */
    json_object_put(r);
    close_client(&c);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* Eight idle clients cannot lock management out: a ninth evicts the one
 * idle longest (once it has been idle a second), which sees its socket
 * closed; the others keep theirs. */
static void test_idle_clients_evicted(void **state)
{
    struct client idle[8], late;
    struct json_object *stats;

    (void)state;
    start();
    for (int i = 0; i < 8; i++) {
        open_client(&idle[i]);
        usleep(20000); /* idle[0] is the oldest */
    }
    sleep(1);
    json_object_put(run(&idle[1], "{\"execute\": \"query-stats\"}",
                        json_type_object, &stats)); /* idle[1] is active */
    open_client(&late);
    json_object_put(
        run(&late, "{\"execute\": \"query-stats\"}", json_type_object, &stats));
    /* Told, then closed. */
    struct json_object *e = parse_object(fe_control_read(&idle[0].c));
    check_event(e);
    assert_string_equal(string_field(e, "event"), "CLIENT_EVICTED");
    json_object_put(e);
    assert_null(fe_control_read(&idle[0].c));
    json_object_put(run(&idle[1], "{\"execute\": \"query-stats\"}",
                        json_type_object, &stats));
    for (int i = 0; i < 8; i++) {
        close_client(&idle[i]);
    }
    close_client(&late);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/*
 * No peer can stall another. While one control client floods, one stops in
 * the middle of a command, one never reads its replies, and the frontend
 * itself stops in the middle of a vhost-user message (the daemon used to
 * block 10 s there, control socket included), the guest's requests keep
 * their round trip: the 99th percentile of 300 stays under 10 ms.
 */
static void test_latency_under_hostile_peers(void **state)
{
    struct client flood, stalled, deaf, probe;
    const char *query = "{\"execute\": \"query-endpoints\"}";
    static char burst[16 * 1024];
    size_t qlen = strlen(query), blen = 0;
    double rtt[300];
    uint32_t half[2] = {1 /* GET_FEATURES */, 1 /* version */};
    struct json_object *stats;

    (void)state;
    start();
    fe_setup(&the_fe);
    open_client(&flood);
    open_client(&stalled);
    open_client(&deaf);
    /* A large device: each query returns a full page. */
    run_empty(&flood, "{\"execute\": \"endpoint-add\", \"arguments\": "
                      "{\"id\": 16, \"last\": 65015}}");
    assert_true(send(stalled.c.fd, "{\"execute\": \"que", 16, 0) == 16);
    /* Eight of the twelve header bytes of a message, then nothing. */
    assert_true(send(the_fe.sock, half, sizeof(half), 0) == sizeof(half));
    while (blen + qlen < sizeof(burst)) {
        memcpy(burst + blen, query, qlen);
        blen += qlen;
    }
    for (size_t i = 0; i < sizeof(rtt) / sizeof(rtt[0]); i++) {
        /* The flood and the deaf client send; neither reads. */
        (void)send(flood.c.fd, burst, blen, MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)send(deaf.c.fd, burst, blen, MSG_DONTWAIT | MSG_NOSIGNAL);
        struct virtio_iommu_req_attach a =
            vdrv_attach_req(1 + (uint32_t)(i % 2), 8, 0);
        double t0 = fe_now();
        assert_int_equal(ring_request(&a, sizeof(a)), OK);
        rtt[i] = fe_now() - t0;
    }
    size_t n = sizeof(rtt) / sizeof(rtt[0]);
    double median = fe_percentile(rtt, n, 50), p99 = fe_percentile(rtt, n, 99);
    print_message("# round trip under hostile peers: median %.0f us, "
                  "99th percentile %.0f us\n",
                  median * 1e6, p99 * 1e6);
    assert_true(p99 < 0.010);
    /* Management still answers a newcomer. */
    open_client(&probe);
    json_object_put(run(&probe, "{\"execute\": \"query-stats\"}",
                        json_type_object, &stats));
    close_client(&probe);
    close_client(&flood);
    close_client(&stalled);
    close_client(&deaf);
    assert_int_equal(fe_stop(&the_fe), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_commands_and_errors, teardown),
        cmocka_unit_test_teardown(test_device_commands_errors, teardown),
        cmocka_unit_test_teardown(test_removal_while_attached, teardown),
        cmocka_unit_test_teardown(test_replug, teardown),
        cmocka_unit_test_teardown(test_garbage, teardown),
        cmocka_unit_test_teardown(test_fault_reaches_event_queue, teardown),
        cmocka_unit_test_teardown(test_bypass_set_config_R7_R11, teardown),
        cmocka_unit_test_teardown(test_client_that_does_not_read, teardown),
        cmocka_unit_test_teardown(test_remove_then_hang_up, teardown),
        cmocka_unit_test_teardown(test_command_names, teardown),
        cmocka_unit_test_teardown(test_queries_are_paged_and_fast, teardown),
        cmocka_unit_test_teardown(test_idle_clients_evicted, teardown),
        cmocka_unit_test_teardown(test_latency_under_hostile_peers, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
