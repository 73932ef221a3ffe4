/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Live migration of viommu-vhost-user, done the way QEMU moves a vhost-user
 * device's state (vhost-user.rst, "Migrating back-end state"): the source
 * is suspended, its state saved through a pipe (SET_DEVICE_STATE_FD, then
 * CHECK_DEVICE_STATE), loaded into a second daemon, and the guest (the
 * Linux driver model) goes on there without noticing. Hostile or broken
 * transfers are refused with an error in CHECK_DEVICE_STATE, and the daemon
 * keeps serving, with no fd left behind. A transfer goes on in the daemon's
 * event loop: a frontend that stalls it holds nobody else.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <linux/virtio_iommu.h>

#include "driver.h"
#include "frontend.h"
#include "linux.h"

#define OK VIRTIO_IOMMU_S_OK
#define RW (VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE)

/* A daemon with endpoints 8-15 and a control socket. */
struct daemon {
    struct fe fe;
    struct fe_control ctl;
    char dir[64], path[128], arg[160];
};

static struct daemon src, dst;

static void start(struct daemon *d, const char *extra)
{
    const char *args[] = {"--endpoint=0x8-0xf", d->arg, extra, NULL};

    strcpy(d->dir, "/tmp/viommu-mig-XXXXXX");
    assert_non_null(mkdtemp(d->dir));
    snprintf(d->path, sizeof(d->path), "%s/ctl", d->dir);
    snprintf(d->arg, sizeof(d->arg), "--control-socket=%s", d->path);
    fe_start(&d->fe, args);
    assert_non_null(fe_control_open(&d->ctl, d->path));
}

static void stop(struct daemon *d)
{
    if (d->fe.pid > 0) {
        close(d->ctl.fd);
        assert_int_equal(fe_stop(&d->fe), 0);
        unlink(d->path);
        rmdir(d->dir);
    }
}

static int teardown(void **state)
{
    (void)state;
    stop(&src);
    stop(&dst);
    return 0;
}

/* What a frontend negotiates before it loads a state (no ring yet). */
static void handshake(struct fe *f)
{
    uint64_t protocol = fe_get_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES);

    assert_true(protocol & (1ULL << VHOST_USER_PROTOCOL_F_DEVICE_STATE));
    assert_int_equal(
        fe_acked(f, VHOST_USER_SET_PROTOCOL_FEATURES, &protocol, 8, NULL, 0),
        0);
}

static struct json_object *command(struct daemon *d, const char *text)
{
    const char *line = fe_control_command(&d->ctl, text);
    struct json_object *reply = line != NULL ? json_tokener_parse(line) : NULL;

    assert_non_null(reply);
    return reply;
}

static struct json_object *field(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;

    json_object_object_get_ex(o, key, &v);
    return v;
}

/* Everything the control socket tells of the device, as one string. */
static char *view(struct daemon *d)
{
    static const char *const queries[] = {
        "{\"execute\": \"query-stats\"}",
        "{\"execute\": \"query-endpoints\"}",
        "{\"execute\": \"query-domains\"}",
    };
    struct json_object *all = json_object_new_array();

    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        json_object_array_add(all, command(d, queries[i]));
    }
    struct json_object *domains =
        field(json_object_array_get_idx(all, 2), "return");
    for (size_t i = 0; i < json_object_array_length(domains); i++) {
        char cmd[160];
        snprintf(cmd, sizeof(cmd),
                 "{\"execute\": \"query-mappings\", \"arguments\": "
                 "{\"domain\": %llu, \"limit\": 256}}",
                 (unsigned long long)json_object_get_uint64(
                     field(json_object_array_get_idx(domains, i), "id")));
        json_object_array_add(all, command(d, cmd));
    }
    char *text = strdup(json_object_to_json_string(all));
    json_object_put(all);
    return text;
}

/* The daemon's answer to a DMA of ep at iova, as text. */
static char *translate(struct daemon *d, uint32_t ep, uint64_t iova)
{
    char cmd[160];

    snprintf(cmd, sizeof(cmd),
             "{\"execute\": \"translate\", \"arguments\": {\"endpoint\": %u, "
             "\"iova\": %llu, \"write\": true}}",
             ep, (unsigned long long)iova);
    struct json_object *reply = command(d, cmd);
    char *text = strdup(json_object_to_json_string(reply));
    json_object_put(reply);
    return text;
}

/* Both daemons answer every access of the model's mappings (and just
 * past them) alike. */
static void assert_same_translations(const struct lnx *l)
{
    for (uint32_t ep = 8; ep <= 15; ep++) {
        for (int i = 0; i < LNX_MAX_DOMAINS; i++) {
            const struct lnx_domain *dom = &l->domains[i];
            for (unsigned k = 0; dom->allocated && k < dom->nr_maps; k++) {
                uint64_t at[] = {dom->maps[k].iova, dom->maps[k].last,
                                 dom->maps[k].last + 1};
                for (int j = 0; j < 3; j++) {
                    char *a = translate(&src, ep, at[j]);
                    char *b = translate(&dst, ep, at[j]);
                    assert_string_equal(a, b);
                    free(a);
                    free(b);
                }
            }
        }
    }
}

/* The daemon holds exactly the model's mappings in each of its domains. */
static void assert_holds(struct daemon *d, const struct lnx *l)
{
    for (int i = 0; i < LNX_MAX_DOMAINS; i++) {
        const struct lnx_domain *dom = &l->domains[i];
        if (!dom->allocated || !dom->finalised || dom->identity ||
            dom->nr_endpoints == 0) {
            continue;
        }
        char cmd[160];
        snprintf(cmd, sizeof(cmd),
                 "{\"execute\": \"query-mappings\", \"arguments\": "
                 "{\"domain\": %u, \"limit\": 256}}",
                 dom->id);
        struct json_object *reply = command(d, cmd);
        struct json_object *ret = field(reply, "return");
        assert_non_null(ret);
        assert_int_equal(json_object_get_uint64(field(ret, "total")),
                         dom->nr_maps);
        struct json_object *maps = field(ret, "mappings");
        for (unsigned k = 0; k < dom->nr_maps; k++) {
            bool found = false;
            for (size_t j = 0; j < json_object_array_length(maps); j++) {
                struct json_object *m = json_object_array_get_idx(maps, j);
                found |=
                    json_object_get_uint64(field(m, "iova")) ==
                        dom->maps[k].iova &&
                    json_object_get_uint64(field(m, "last")) ==
                        dom->maps[k].last &&
                    json_object_get_uint64(field(m, "gpa")) == dom->maps[k].gpa;
            }
            assert_true(found);
        }
        json_object_put(reply);
    }
}

static void test_guest_moves_to_another_daemon(void **state)
{
    struct vdrv_transport t_src, t_dst;
    struct lnx l;
    int vfio;
    uint8_t *stream;
    size_t len;

    (void)state;
    start(&src, NULL);
    fe_setup(&src.fe);
    fe_transport(&src.fe, &t_src);
    assert_true(lnx_init(&l, &(const struct vdrv){.transport = &t_src},
                         LNX_RELEASE_DETACH, LNX_DEFAULT_DMA));
    for (uint32_t ep = 8; ep <= 10; ep++) {
        assert_int_equal(lnx_endpoint_appear(&l, ep), OK);
    }
    int dma8 = lnx_endpoint(&l, 8)->default_domain;
    int dma9 = lnx_endpoint(&l, 9)->default_domain;
    for (uint64_t i = 0; i < 16; i++) {
        assert_int_equal(lnx_map(&l, dma8, 0x100000 + i * 0x10000, 0x2000,
                                 0x40000000 + i * 0x2000, RW),
                         OK);
        assert_int_equal(lnx_map(&l, dma9, 0x200000 + i * 0x1000, 0x1000,
                                 0x80000000 + i * 0x1000,
                                 VIRTIO_IOMMU_MAP_F_READ),
                         OK);
    }
    assert_int_equal(lnx_vfio_open(&l, 10, &vfio), OK);
    assert_int_equal(lnx_map(&l, vfio, 0xfffff000, 0x1000, 0x3000, RW), OK);
    /* A refused DMA leaves a fault report pending: it moves too. */
    free(translate(&src, 11, 0x1000));

    /* Suspend the source and save; the source itself is unchanged. */
    char *before = view(&src);
    fe_stop_rings(&src.fe);
    assert_int_equal(fe_save_state(&src.fe, &stream, &len), 0);
    assert_true(len > 0);
    char *after = view(&src);
    assert_string_equal(before, after);

    /* The destination loads it before its rings start, then starts. */
    start(&dst, NULL);
    handshake(&dst.fe);
    assert_int_equal(fe_load_state(&dst.fe, stream, len), 0);
    fe_setup(&dst.fe);
    char *moved = view(&dst);
    assert_string_equal(before, moved);
    assert_holds(&dst, &l);
    assert_same_translations(&l);

    /* The guest goes on on the destination. */
    fe_transport(&dst.fe, &t_dst);
    l.drv.transport = &t_dst; /* the guest goes on on the destination */
    for (uint64_t i = 0; i < 16; i++) {
        assert_int_equal(lnx_map(&l, dma8, 0x400000 + i * 0x1000, 0x1000,
                                 0x50000000 + i * 0x1000, RW),
                         OK);
    }
    assert_int_equal(lnx_unmap(&l, dma9, 0x200000, 0x1000), OK);
    assert_int_equal(lnx_map(&l, vfio, 0x10000000, 0x4000, 0x8000, RW), OK);
    assert_holds(&dst, &l);
    assert_int_equal(lnx_vfio_close(&l, 10, vfio), OK);
    assert_int_equal(lnx_endpoint_appear(&l, 11), OK);
    assert_int_equal(lnx_endpoint_release(&l, 9), OK);
    assert_holds(&dst, &l);

    free(before);
    free(after);
    free(moved);
    free(stream);
    stop(&src);
    stop(&dst);
}

/* A saved state of a busy device, to load or spoil; what its control
 * socket told of it (view()) into *seen, unless NULL. */
static void busy_stream(uint8_t **stream, size_t *len, char **seen)
{
    struct vdrv_transport t;
    struct lnx l;

    start(&src, NULL);
    fe_setup(&src.fe);
    fe_transport(&src.fe, &t);
    assert_true(lnx_init(&l, &(const struct vdrv){.transport = &t},
                         LNX_RELEASE_DETACH, LNX_DEFAULT_DMA));
    assert_int_equal(lnx_endpoint_appear(&l, 8), OK);
    assert_int_equal(lnx_map(&l, lnx_endpoint(&l, 8)->default_domain, 0x100000,
                             0x4000, 0x10000, RW),
                     OK);
    if (seen != NULL) {
        *seen = view(&src);
    }
    fe_stop_rings(&src.fe);
    assert_int_equal(fe_save_state(&src.fe, stream, len), 0);
    stop(&src);
}

static void test_hostile_streams_refused(void **state)
{
    uint8_t *stream;
    size_t len;

    (void)state;
    busy_stream(&stream, &len, NULL);
    start(&dst, NULL);
    handshake(&dst.fe);
    assert_int_equal(fe_get_u64(&dst.fe, VHOST_USER_GET_QUEUE_NUM), 2);
    int fds = fe_daemon_fds(&dst.fe);
    char *fresh = view(&dst);

    const char junk[] = "no state of a virtio-iommu";
    assert_int_equal(fe_load_state(&dst.fe, junk, sizeof(junk)), EINVAL);
    assert_int_equal(fe_load_state(&dst.fe, stream, len - 1), EINVAL);
    assert_int_equal(fe_load_state(&dst.fe, stream, 0), EINVAL);
    stream[len / 2] ^= 0x40;
    assert_int_equal(fe_load_state(&dst.fe, stream, len), EINVAL);
    stream[len / 2] ^= 0x40;
    uint8_t *longer = malloc(len + 4096);
    memcpy(longer, stream, len);
    memset(longer + len, 0xaa, 4096);
    assert_int_equal(fe_load_state(&dst.fe, longer, len + 4096), EINVAL);
    free(longer);

    /* Each refusal left the device as it was, and no fd behind. */
    char *now = view(&dst);
    assert_string_equal(fresh, now);
    assert_int_equal(fe_daemon_fds(&dst.fe), fds);
    assert_int_equal(fe_load_state(&dst.fe, stream, len), 0);

    /* A device with state refuses another one. */
    assert_int_equal(fe_load_state(&dst.fe, stream, len), EBUSY);
    fe_setup(&dst.fe);
    assert_int_equal(fe_get_u64(&dst.fe, VHOST_USER_GET_QUEUE_NUM), 2);
    free(fresh);
    free(now);
    free(stream);
    stop(&dst);
}

/* SET_DEVICE_STATE_FD that cannot be served: refused in its reply. */
static void test_bad_transfer_requests(void **state)
{
    int p[2];
    uint64_t reply = 0;

    (void)state;
    start(&dst, NULL);
    handshake(&dst.fe);
    int fds = fe_daemon_fds(&dst.fe);
    assert_int_equal(fe_check_state(&dst.fe), ENODATA); /* nothing yet */

    /* Without the protocol feature. */
    uint64_t ack_only = (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK);
    assert_int_equal(fe_acked(&dst.fe, VHOST_USER_SET_PROTOCOL_FEATURES,
                              &ack_only, 8, NULL, 0),
                     0);
    assert_int_equal(pipe(p), 0);
    assert_int_not_equal(
        fe_set_state_fd(&dst.fe, VHOST_USER_TRANSFER_LOAD, &p[0]) & 0xff, 0);
    close(p[1]);
    assert_true(
        fe_send(&dst.fe, VHOST_USER_CHECK_DEVICE_STATE, 0, NULL, 0, NULL, 0));
    assert_int_equal(fe_recv(&dst.fe, VHOST_USER_CHECK_DEVICE_STATE, &reply, 8),
                     0);
    handshake(&dst.fe);
    assert_int_equal(fe_check_state(&dst.fe), EOPNOTSUPP);

    /* No fd, an unknown direction, an unknown phase. */
    uint32_t params[2] = {VHOST_USER_TRANSFER_LOAD, 0};
    assert_true(fe_send(&dst.fe, VHOST_USER_SET_DEVICE_STATE_FD, 0, params, 8,
                        NULL, 0));
    assert_int_equal(
        fe_recv(&dst.fe, VHOST_USER_SET_DEVICE_STATE_FD, &reply, 8), 8);
    assert_int_not_equal(reply & 0xff, 0);
    assert_int_equal(fe_check_state(&dst.fe), EINVAL);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pipe(p), 0);
        params[0] = i == 0 ? 2 : VHOST_USER_TRANSFER_SAVE;
        params[1] = i == 0 ? 0 : 1;
        assert_true(fe_send(&dst.fe, VHOST_USER_SET_DEVICE_STATE_FD, 0, params,
                            8, &p[1], 1));
        assert_int_equal(
            fe_recv(&dst.fe, VHOST_USER_SET_DEVICE_STATE_FD, &reply, 8), 8);
        assert_int_not_equal(reply & 0xff, 0);
        close(p[0]);
        close(p[1]);
    }
    /* A payload of the wrong size: an empty reply. */
    assert_true(fe_send(&dst.fe, VHOST_USER_SET_DEVICE_STATE_FD, 0, params, 4,
                        NULL, 0));
    assert_int_equal(
        fe_recv(&dst.fe, VHOST_USER_SET_DEVICE_STATE_FD, &reply, 8), 0);

    /* While a ring runs, the device is not suspended. */
    fe_setup(&dst.fe);
    uint8_t *stream;
    size_t len;
    assert_int_equal(fe_save_state(&dst.fe, &stream, &len), EBUSY);
    assert_int_equal(len, 0);
    free(stream);
    fe_stop_rings(&dst.fe);
    assert_int_equal(fe_daemon_fds(&dst.fe), fds);
    assert_int_equal(fe_get_u64(&dst.fe, VHOST_USER_GET_QUEUE_NUM), 2);
    stop(&dst);
}

/* A frontend that never writes, or never reads, its end of the pipe holds
 * the daemon only until --state-timeout; then it serves again. */
static void test_stuck_peer(void **state)
{
    struct vdrv_transport t;
    struct lnx l;
    int p[2];

    (void)state;
    start(&dst, "--state-timeout=1");
    handshake(&dst.fe);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(
        fe_set_state_fd(&dst.fe, VHOST_USER_TRANSFER_LOAD, &p[0]) & 0xff, 0);
    assert_int_equal(fe_check_state(&dst.fe), ETIMEDOUT);
    close(p[1]);
    assert_int_equal(fe_get_u64(&dst.fe, VHOST_USER_GET_QUEUE_NUM), 2);

    /* A state larger than a pipe holds, which nobody reads. */
    fe_setup(&dst.fe);
    fe_transport(&dst.fe, &t);
    assert_true(lnx_init(&l, &(const struct vdrv){.transport = &t},
                         LNX_RELEASE_DETACH, LNX_DEFAULT_DMA));
    assert_int_equal(lnx_endpoint_appear(&l, 8), OK);
    int dom;
    assert_int_equal(lnx_vfio_open(&l, 8, &dom), OK);
    for (uint64_t i = 0; i < 500; i++) { /* 14 KB of state */
        assert_int_equal(lnx_map(&l, dom, i * 0x2000, 0x1000, i * 0x1000, RW),
                         OK);
    }
    fe_stop_rings(&dst.fe);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(fcntl(p[1], F_SETPIPE_SZ, 4096), 4096);
    assert_int_equal(
        fe_set_state_fd(&dst.fe, VHOST_USER_TRANSFER_SAVE, &p[1]) & 0xff, 0);
    assert_int_equal(fe_check_state(&dst.fe), ETIMEDOUT);
    close(p[0]);
    assert_int_equal(fe_get_u64(&dst.fe, VHOST_USER_GET_QUEUE_NUM), 2);
    stop(&dst);
}

#define ROUND_TRIPS 100

/*
 * ROUND_TRIPS control-socket queries and, with a guest, as many of its
 * requests (PROBE, which changes nothing): the 99th percentile of each stays
 * under 10 ms. The daemon once made both wait for the pipe of a transfer,
 * up to --state-timeout.
 */
static void assert_served_promptly(struct daemon *d, const struct vdrv *guest)
{
    double query[ROUND_TRIPS], request[ROUND_TRIPS];

    for (int i = 0; i < ROUND_TRIPS; i++) {
        double t0 = fe_now();
        json_object_put(command(d, "{\"execute\": \"query-stats\"}"));
        query[i] = fe_now() - t0;
        if (guest != NULL) {
            t0 = fe_now();
            assert_int_equal(vdrv_probe(guest, 8, NULL, 512), OK);
            request[i] = fe_now() - t0;
        }
    }
    double q99 = fe_percentile(query, ROUND_TRIPS, 99);
    print_message("# control round trip, 99th percentile: %.0f us\n",
                  q99 * 1e6);
    assert_true(q99 < 0.010);
    if (guest != NULL) {
        double r99 = fe_percentile(request, ROUND_TRIPS, 99);
        print_message("# guest round trip, 99th percentile: %.0f us\n",
                      r99 * 1e6);
        assert_true(r99 < 0.010);
    }
}

/* Whether the daemon has sent the frontend anything it has not read. */
static bool reply_waiting(struct fe *f)
{
    struct pollfd pfd = {.fd = f->sock, .events = POLLIN};

    return poll(&pfd, 1, 0) == 1;
}

/*
 * A save that the frontend stalls (a pipe of 4 KiB that nobody reads, for
 * a state larger than that) holds nobody: the control socket answers, the
 * frontend resumes its guest, whose requests are answered, and a
 * CHECK_DEVICE_STATE waits for the transfer without holding anyone either.
 * Read at last, the stream is the state of the moment the transfer started,
 * not the guest's mappings since.
 */
static void test_stalled_save_holds_nobody(void **state)
{
    struct vdrv_transport t;
    uint8_t *stream;
    size_t len;
    uint64_t check = UINT64_MAX;
    int p[2];

    (void)state;
    start(&src, NULL);
    fe_setup(&src.fe);
    fe_transport(&src.fe, &t);
    const struct vdrv guest = {.transport = &t};
    assert_int_equal(vdrv_attach(&guest, 1, 8, 0), OK);
    for (uint64_t i = 0; i < 200; i++) { /* 5.6 KB of state */
        assert_int_equal(
            vdrv_map(&guest, 1, i * 0x2000, i * 0x2000 + 0xfff, i * 0x1000, RW),
            OK);
    }
    char *before = view(&src);
    fe_stop_rings(&src.fe);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(fcntl(p[0], F_SETPIPE_SZ, 4096), 4096);
    assert_int_equal(
        fe_set_state_fd(&src.fe, VHOST_USER_TRANSFER_SAVE, &p[1]) & 0xff, 0);

    assert_served_promptly(&src, NULL);
    fe_start_rings(&src.fe);
    assert_served_promptly(&src, &guest);
    assert_int_equal(vdrv_map(&guest, 1, 0x40000000, 0x40000fff, 0, RW), OK);
    assert_true(
        fe_send(&src.fe, VHOST_USER_CHECK_DEVICE_STATE, 0, NULL, 0, NULL, 0));
    assert_served_promptly(&src, &guest);
    assert_false(reply_waiting(&src.fe));

    fe_read_all(p[0], &stream, &len);
    close(p[0]);
    assert_int_equal(fe_recv(&src.fe, VHOST_USER_CHECK_DEVICE_STATE, &check, 8),
                     8);
    assert_int_equal(check, 0);
    start(&dst, NULL);
    handshake(&dst.fe);
    assert_int_equal(fe_load_state(&dst.fe, stream, len), 0);
    char *moved = view(&dst);
    assert_string_equal(before, moved);
    free(before);
    free(moved);
    free(stream);
    stop(&src);
    stop(&dst);
}

/*
 * A load that the frontend stalls (half a stream written, then nothing)
 * holds nobody either, nor does the CHECK_DEVICE_STATE that waits for it;
 * once the rest comes, the state is taken whole.
 */
static void test_stalled_load_holds_nobody(void **state)
{
    struct vdrv_transport t;
    uint8_t *stream;
    size_t len;
    char *seen;
    uint64_t check = UINT64_MAX;
    int p[2];

    (void)state;
    busy_stream(&stream, &len, &seen);
    start(&dst, NULL);
    handshake(&dst.fe);
    char *fresh = view(&dst);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(
        fe_set_state_fd(&dst.fe, VHOST_USER_TRANSFER_LOAD, &p[0]) & 0xff, 0);
    assert_int_equal(write(p[1], stream, len / 2), (ssize_t)(len / 2));

    assert_served_promptly(&dst, NULL);
    fe_setup(&dst.fe);
    fe_transport(&dst.fe, &t);
    const struct vdrv guest = {.transport = &t};
    assert_served_promptly(&dst, &guest);
    assert_true(
        fe_send(&dst.fe, VHOST_USER_CHECK_DEVICE_STATE, 0, NULL, 0, NULL, 0));
    assert_served_promptly(&dst, &guest);
    assert_false(reply_waiting(&dst.fe));
    char *meanwhile = view(&dst);
    assert_string_equal(fresh, meanwhile); /* nothing taken yet */

    assert_int_equal(write(p[1], stream + len / 2, len - len / 2),
                     (ssize_t)(len - len / 2));
    close(p[1]);
    assert_int_equal(fe_recv(&dst.fe, VHOST_USER_CHECK_DEVICE_STATE, &check, 8),
                     8);
    assert_int_equal(check, 0);
    char *loaded = view(&dst);
    assert_string_equal(seen, loaded);
    free(seen);
    free(fresh);
    free(meanwhile);
    free(loaded);
    free(stream);
    stop(&dst);
}

/* The daemon has closed its end of the pipe whose writing end is fd. */
static void assert_reader_gone(int fd)
{
    uint8_t byte = 0;

    assert_int_equal(write(fd, &byte, 1), -1);
    assert_int_equal(errno, EPIPE);
}

/*
 * A frontend that breaks a transfer it started gets an error and leaves
 * nothing behind: a second SET_DEVICE_STATE_FD while one runs is refused
 * and ends the first too (CHECK_DEVICE_STATE: EBUSY); a frontend that hangs
 * up in the middle of a load, or while its CHECK_DEVICE_STATE waits, leaves
 * a daemon that serves the next one; a save whose reader has gone fails
 * with EPIPE. Nothing of a broken load is taken, and no fd stays open.
 */
static void test_transfers_broken_by_the_frontend(void **state)
{
    uint8_t *stream;
    size_t len;
    uint64_t reply;
    int p[2], q[2];

    (void)state;
    signal(SIGPIPE, SIG_IGN);
    busy_stream(&stream, &len, NULL);
    start(&dst, NULL);
    handshake(&dst.fe);
    int fds = fe_daemon_fds(&dst.fe);
    char *fresh = view(&dst);

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(pipe2(q, O_CLOEXEC), 0);
    assert_int_equal(
        fe_set_state_fd(&dst.fe, VHOST_USER_TRANSFER_LOAD, &p[0]) & 0xff, 0);
    assert_int_equal(write(p[1], stream, len / 2), (ssize_t)(len / 2));
    reply = fe_set_state_fd(&dst.fe, VHOST_USER_TRANSFER_LOAD, &q[0]);
    assert_int_not_equal(reply & 0xff, 0);
    assert_int_equal(fe_check_state(&dst.fe), EBUSY);
    assert_reader_gone(p[1]);
    assert_reader_gone(q[1]);
    close(p[1]);
    close(q[1]);

    for (int check = 0; check < 2; check++) {
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(
            fe_set_state_fd(&dst.fe, VHOST_USER_TRANSFER_LOAD, &p[0]) & 0xff,
            0);
        assert_int_equal(write(p[1], stream, len / 2), (ssize_t)(len / 2));
        if (check) {
            assert_true(fe_send(&dst.fe, VHOST_USER_CHECK_DEVICE_STATE, 0, NULL,
                                0, NULL, 0));
        }
        fe_disconnect(&dst.fe);
        fe_connect(&dst.fe);
        handshake(&dst.fe);
        assert_reader_gone(p[1]);
        close(p[1]);
        assert_int_equal(fe_check_state(&dst.fe), ENODATA);
    }
    char *now = view(&dst);
    assert_string_equal(fresh, now);

    assert_int_equal(fe_load_state(&dst.fe, stream, len), 0);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    close(p[0]); /* nobody will read */
    assert_int_equal(
        fe_set_state_fd(&dst.fe, VHOST_USER_TRANSFER_SAVE, &p[1]) & 0xff, 0);
    assert_int_equal(fe_check_state(&dst.fe), EPIPE);
    assert_int_equal(fe_daemon_fds(&dst.fe), fds);
    free(fresh);
    free(now);
    free(stream);
    stop(&dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_guest_moves_to_another_daemon, teardown),
        cmocka_unit_test_teardown(test_hostile_streams_refused, teardown),
        cmocka_unit_test_teardown(test_bad_transfer_requests, teardown),
        cmocka_unit_test_teardown(test_stuck_peer, teardown),
        cmocka_unit_test_teardown(test_stalled_save_holds_nobody, teardown),
        cmocka_unit_test_teardown(test_stalled_load_holds_nobody, teardown),
        cmocka_unit_test_teardown(test_transfers_broken_by_the_frontend,
                                  teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
