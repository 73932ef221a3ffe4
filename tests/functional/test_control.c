/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemon's control socket: commands, errors, events, garbage, and
 * endpoint removal while a guest (the test frontend, over real rings) has
 * the endpoint attached with mappings.
 */
#include <endian.h>
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

static struct json_object *get(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;

    json_object_object_get_ex(o, key, &v);
    return v;
}

static struct json_object *parse(const char *line)
{
    return line != NULL ? json_tokener_parse(line) : NULL;
}

static void open_client(struct fe_control *c)
{
    struct json_object *greeting = parse(fe_control_open(c, ctl_path));

    assert_non_null(greeting);
    assert_non_null(get(greeting, "viommu"));
    json_object_put(greeting);
}

/* Sends text and returns the parsed reply. */
static struct json_object *command(struct fe_control *c, const char *text)
{
    return parse(fe_control_command(c, text));
}

/* ID of the endpoint the last ENDPOINT_REMOVED event named. */
static uint64_t last_removed(const struct fe_control *c)
{
    struct json_object *e = parse(c->last_event);
    assert_non_null(e);
    assert_string_equal(json_object_get_string(get(e, "event")),
                        "ENDPOINT_REMOVED");
    uint64_t id = json_object_get_uint64(get(get(e, "data"), "id"));
    json_object_put(e);
    return id;
}

/* The class of an error reply, or "" for a return. */
static const char *error_class(struct json_object *reply)
{
    struct json_object *e = get(reply, "error");

    assert_non_null(reply);
    return e != NULL ? json_object_get_string(get(e, "class")) : "";
}

static void expect(struct fe_control *c, const char *text, const char *class)
{
    struct json_object *r = command(c, text);

    assert_string_equal(error_class(r), class);
    json_object_put(r);
}

static void test_commands_and_errors(void **state)
{
    struct fe_control c;

    (void)state;
    start();
    open_client(&c);
    expect(&c,
           "{\"execute\": \"endpoint-add\", \"arguments\": {\"id\": 32, "
           "\"last\": 35, \"group\": 5, \"reserved\": [{\"start\": 0, "
           "\"end\": 4095}]}}",
           "");
    expect(&c, "{\"execute\": \"endpoint-add\", \"arguments\": {\"id\": 35}}",
           "GenericError");
    expect(&c, "{\"execute\": \"endpoint-add\", \"arguments\": {\"id\": -1}}",
           "GenericError");
    expect(&c,
           "{\"execute\": \"endpoint-add\", \"arguments\": {\"id\": \"x\"}}",
           "GenericError");
    expect(&c, "{\"execute\": \"no-such-command\"}", "CommandNotFound");
    expect(&c,
           "{\"execute\": \"endpoint-add\", \"arguments\": {\"id\": 0, "
           "\"last\": 4294967295}}",
           "GenericError");
    expect(&c, "[1, 2]", "GenericError");

    struct json_object *r =
        command(&c, "{\"execute\": \"query-endpoints\", \"id\": \"q1\"}");
    assert_string_equal(json_object_get_string(get(r, "id")), "q1");
    struct json_object *list = get(r, "return");
    assert_int_equal(json_object_array_length(list), 8 + 4);
    struct json_object *ep = json_object_array_get_idx(list, 8);
    assert_int_equal(json_object_get_uint64(get(ep, "id")), 32);
    assert_null(get(ep, "domain"));
    json_object_put(r);

    /* Removal: the event, then the return; a second time: not found. */
    expect(&c,
           "{\"execute\": \"endpoint-remove\", \"arguments\": {\"id\": 33}}",
           "");
    assert_int_equal(c.events, 1);
    assert_int_equal(last_removed(&c), 33);
    expect(&c,
           "{\"execute\": \"endpoint-remove\", \"arguments\": {\"id\": 33}}",
           "DeviceNotFound");

    r = command(&c, "{\"execute\": \"query-stats\"}");
    assert_int_equal(json_object_get_uint64(get(get(r, "return"), "endpoints")),
                     8 + 3);
    json_object_put(r);
    close(c.fd);
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
    struct fe_control c, other;

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

    struct json_object *r = command(&c, "{\"execute\": \"query-domains\"}");
    struct json_object *d = json_object_array_get_idx(get(r, "return"), 0);
    assert_int_equal(json_object_get_uint64(get(d, "id")), 1);
    assert_int_equal(json_object_get_uint64(get(d, "mappings")), 1);
    assert_int_equal(json_object_get_uint64(
                         json_object_array_get_idx(get(d, "endpoints"), 0)),
                     8);
    json_object_put(r);
    r = command(&c, "{\"execute\": \"query-mappings\", "
                    "\"arguments\": {\"domain\": 1}}");
    struct json_object *m =
        json_object_array_get_idx(get(get(r, "return"), "mappings"), 0);
    assert_int_equal(json_object_get_uint64(get(m, "iova")), 0x10000);
    assert_int_equal(json_object_get_uint64(get(m, "last")), 0x1ffff);
    assert_int_equal(json_object_get_uint64(get(m, "gpa")), 0x200000);
    assert_true(json_object_get_boolean(get(m, "read")));
    assert_false(json_object_get_boolean(get(m, "write")));
    json_object_put(r);

    expect(&c, "{\"execute\": \"endpoint-remove\", \"arguments\": {\"id\": 8}}",
           "");
    assert_int_equal(c.events, 1);
    r = command(&other, "{\"execute\": \"query-domains\"}");
    assert_int_equal(other.events, 1); /* the event reached it first */
    assert_int_equal(json_object_array_length(get(r, "return")), 0);
    json_object_put(r);
    /* The guest's next MAP finds no domain: nothing stale survives. */
    assert_int_equal(ring_request(&map, sizeof(map)), VIRTIO_IOMMU_S_NOENT);

    expect(&c, "{\"execute\": \"endpoint-add\", \"arguments\": {\"id\": 8}}",
           "");
    assert_int_equal(ring_request(&attach, sizeof(attach)), OK);
    close(c.fd);
    close(other.fd);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* Garbage gets an error and the client keeps its session; an endless
 * command ends only that client. */
static void test_garbage(void **state)
{
    struct fe_control c;

    (void)state;
    start();
    open_client(&c);
    expect(&c, "{not json}\n", "GenericError");
    expect(&c, "{\"execute\": \"query-stats\"}", "");
    /* Two commands in one write, the second split across writes. */
    const char *two = "{\"execute\": \"query-stats\"}{\"execute\": \"query-";
    assert_int_equal(write(c.fd, two, strlen(two)), (ssize_t)strlen(two));
    struct json_object *r = parse(fe_control_read(&c));
    assert_string_equal(error_class(r), "");
    json_object_put(r);
    expect(&c, "domains\"}", "");

    static char huge[80 * 1024];
    memset(huge, ' ', sizeof(huge));
    huge[0] = '[';
    /* The daemon may drop the client before it has sent everything. */
    for (size_t sent = 0; sent < sizeof(huge);) {
        ssize_t n = send(c.fd, huge + sent, sizeof(huge) - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            break;
        }
        sent += (size_t)n;
    }
    r = parse(fe_control_read(&c));
    assert_string_equal(error_class(r), "GenericError");
    json_object_put(r);
    assert_null(fe_control_read(&c)); /* dropped */
    close(c.fd);

    open_client(&c);
    expect(&c, "{\"execute\": \"query-stats\"}", "");
    close(c.fd);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* A refused DMA (asked through `translate`) reaches the guest as a fault
 * report on the event queue, in a buffer the driver posted there. */
static void test_fault_reaches_event_queue(void **state)
{
    struct fe_control c;
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

    expect(&c,
           "{\"execute\": \"translate\", \"arguments\": "
           "{\"endpoint\": 8, \"iova\": 4096, \"write\": true}}",
           "Fault");
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
    struct json_object *r =
        command(&c, "{\"execute\": \"translate\", \"arguments\": "
                    "{\"endpoint\": 8, \"iova\": 4100, \"write\": true}}");
    assert_int_equal(json_object_get_uint64(get(get(r, "return"), "gpa")),
                     0x42004);
    json_object_put(r);
    close(c.fd);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* A client that sends commands and never reads the replies does not stop
 * the daemon: the frontend is still served. */
static void test_client_that_does_not_read(void **state)
{
    struct fe_control c;
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
        if (send(c.fd, many, n, MSG_NOSIGNAL | MSG_DONTWAIT) <= 0) {
            break;
        }
    }
    struct virtio_iommu_req_attach attach = vdrv_attach_req(1, 8, 0);
    assert_int_equal(ring_request(&attach, sizeof(attach)), OK);
    close(c.fd);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* A client that asks for a removal and hangs up before the event and the
 * reply reach it: the daemon drops it once, and goes on serving (it used
 * to free the client twice and die of SIGSEGV). */
static void test_remove_then_hang_up(void **state)
{
    struct fe_control gone, other;
    const char *cmd =
        "{\"execute\": \"endpoint-remove\", \"arguments\": {\"id\": 9}}";

    (void)state;
    start();
    fe_setup(&the_fe);
    open_client(&other);
    for (int id = 10; id <= 12; id++) {
        char text[128];
        open_client(&gone);
        snprintf(text, sizeof(text),
                 "{\"execute\": \"endpoint-remove\", \"arguments\": "
                 "{\"id\": %d}}",
                 id);
        /* Shut the receiving side: the event and the reply fail. */
        assert_int_equal(shutdown(gone.fd, SHUT_RD), 0);
        assert_true(send(gone.fd, id == 10 ? cmd : text,
                         strlen(id == 10 ? cmd : text), MSG_NOSIGNAL) > 0);
        close(gone.fd);
    }
    /* The other sockets are served in their own time: ask until the three
     * removals are done (each answer is a full turn of the daemon). */
    uint64_t left = 0;
    for (int tries = 0; tries < 200; tries++) {
        struct json_object *r =
            command(&other, "{\"execute\": \"query-stats\"}");
        assert_string_equal(error_class(r), "");
        left = json_object_get_uint64(get(get(r, "return"), "endpoints"));
        json_object_put(r);
        if (left == 8 - 3) {
            break;
        }
        usleep(10000);
    }
    assert_int_equal(left, 8 - 3);
    struct virtio_iommu_req_attach attach = vdrv_attach_req(1, 8, 0);
    assert_int_equal(ring_request(&attach, sizeof(attach)), OK);
    close(other.fd);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* The command name is the whole JSON string: "query-stats\u0000x" is no
 * command. The greeting lists the commands there are. */
static void test_command_names(void **state)
{
    struct fe_control c;
    struct json_object *greeting;

    (void)state;
    start();
    greeting = parse(fe_control_open(&c, ctl_path));
    struct json_object *names = get(get(greeting, "viommu"), "commands");
    assert_true(json_object_is_type(names, json_type_array));
    assert_int_equal(json_object_array_length(names), 7);
    assert_string_equal(
        json_object_get_string(json_object_array_get_idx(names, 5)),
        "query-stats");
    json_object_put(greeting);
    expect(&c, "{\"execute\": \"query-stats\\u0000x\"}", "CommandNotFound");
    expect(&c, "{\"execute\": \"query-stat\"}", "CommandNotFound");
    expect(&c, "{\"execute\": \"query-stats\"}", "");
    close(c.fd);
    assert_int_equal(fe_stop(&the_fe), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_commands_and_errors, teardown),
        cmocka_unit_test_teardown(test_removal_while_attached, teardown),
        cmocka_unit_test_teardown(test_garbage, teardown),
        cmocka_unit_test_teardown(test_fault_reaches_event_queue, teardown),
        cmocka_unit_test_teardown(test_client_that_does_not_read, teardown),
        cmocka_unit_test_teardown(test_remove_then_hang_up, teardown),
        cmocka_unit_test_teardown(test_command_names, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
