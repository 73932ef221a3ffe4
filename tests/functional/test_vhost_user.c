/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * viommu-vhost-user driven over a real UNIX socket by the frontend in
 * frontend.c: handshake, config space, requests through split rings (with
 * and without indirect descriptors), and hostile or broken peers. After
 * each hostile act the daemon must still answer, leak no fd, and serve the
 * next connection.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <linux/vhost_types.h>
#include <linux/virtio_iommu.h>
#include <linux/virtio_ring.h>

#include "driver.h"
#include "frontend.h"

#define OK VIRTIO_IOMMU_S_OK
#define RW (VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE)

static const char *const endpoints[] = {"--endpoint=0x8-0xf", NULL};

static void start(struct fe *f)
{
    fe_start(f, endpoints);
    fe_setup(f);
}

/* Each test's frontend; teardown stops a daemon a failed test left. */
static struct fe the_fe;

static int teardown(void **state)
{
    (void)state;
    if (the_fe.pid > 0) {
        fe_stop(&the_fe);
    }
    return 0;
}

static uint8_t attach(struct fe *f, uint32_t domain, uint32_t ep)
{
    struct virtio_iommu_req_attach r = vdrv_attach_req(domain, ep, 0);
    return fe_status(f, &r, sizeof(r));
}

static struct virtio_iommu_req_map map_req(uint32_t domain, uint64_t start,
                                           uint64_t end)
{
    return (struct virtio_iommu_req_map){
        .head.type = VIRTIO_IOMMU_T_MAP,
        .domain = htole32(domain),
        .virt_start = htole64(start),
        .virt_end = htole64(end),
        .phys_start = htole64(0x100000),
        .flags = htole32(RW),
    };
}

static uint8_t map(struct fe *f, uint32_t domain, uint64_t start, uint64_t end)
{
    struct virtio_iommu_req_map r = map_req(domain, start, end);
    return fe_status(f, &r, sizeof(r));
}

/* The daemon answers a simple request: it is alive and in sync. */
static void assert_alive(struct fe *f)
{
    assert_int_equal(fe_get_u64(f, VHOST_USER_GET_QUEUE_NUM), 2);
}

/* Posts a MAP in domain 1 without waiting; returns the guest address of
 * its tail. */
static uint64_t post_map(struct fe *f)
{
    struct virtio_iommu_req_map r = map_req(1, 0x10000, 0x1ffff);
    return fe_post(f, &r, sizeof(r) - 4, 4, false);
}

/* The request posted last stays unanswered on a stopped ring: no call
 * within a bounded wait, and once the daemon has answered a message sent
 * after the kick, the used index is still `used`. */
static void assert_not_answered(struct fe *f, uint16_t used)
{
    assert_int_equal(fe_wait_used(f, 300), -1);
    assert_alive(f);
    assert_int_equal(fe_used_idx(f, 0), used);
}

/* The request posted last is answered OK, the used index now `used`. */
static void assert_answered_ok(struct fe *f, uint64_t tail, uint16_t used)
{
    assert_int_equal(fe_wait_used(f, 2000), 4);
    assert_int_equal(*(uint8_t *)fe_ptr(f, tail), OK);
    assert_int_equal(fe_used_idx(f, 0), used);
}

static void kick(struct fe *f, unsigned q)
{
    uint64_t one = 1;

    assert_int_equal(write(f->q[q].kick, &one, 8), 8);
}

/* True if the device wrote none of the len bytes at gpa (see fe_post). */
static bool untouched(struct fe *f, uint64_t gpa, size_t len)
{
    const uint8_t *p = fe_ptr(f, gpa);

    for (size_t i = 0; i < len; i++) {
        if (p[i] != FE_POISON) {
            return false;
        }
    }
    return true;
}

static void test_print_capabilities(void **state)
{
    char cmd[512], out[512] = {0};

    (void)state;
    snprintf(cmd, sizeof(cmd), "%s --print-capabilities",
             getenv("VIOMMU_VHOST_USER"));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    assert_int_equal(pclose(p), 0);
    assert_true(n > 0);
    struct json_object *caps = json_tokener_parse(out);
    struct json_object *type;
    assert_non_null(caps);
    assert_true(json_object_object_get_ex(caps, "type", &type));
    assert_string_equal(json_object_get_string(type), "iommu");
    json_object_put(caps);
}

static void test_handshake_and_config(void **state)
{
    const uint32_t bypass = offsetof(struct virtio_iommu_config, bypass);
    const uint8_t one = 1, two = 2, junk[4] = {0xff, 0xff, 0xff, 0xff};
    struct virtio_iommu_config c, after;
    uint8_t b = 0xaa;

    (void)state;
    start(&the_fe);
    assert_true(the_fe.features & (1ULL << 32)); /* VERSION_1 */
    assert_true(the_fe.features & (1ULL << VIRTIO_IOMMU_F_MAP_UNMAP));
    assert_true(the_fe.features & (1ULL << VIRTIO_RING_F_EVENT_IDX));
    assert_true(the_fe.features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC));
    assert_alive(&the_fe);

    assert_int_equal(fe_config_read(&the_fe, 0, &c, sizeof(c)), 0);
    assert_true(le64toh(c.page_size_mask) & 0x1000);
    assert_int_equal(le32toh(c.probe_size), 512);
    assert_int_equal(c.bypass, 0);
    /* Out of range: an empty reply says it failed. */
    assert_int_equal(fe_config_read(&the_fe, 60, &after, 8), -EINVAL);

    /* SET_CONFIG of `bypass` is read back by GET_CONFIG. */
    assert_int_equal(fe_config_write(&the_fe, bypass, &one, 1), 0);
    assert_int_equal(fe_config_read(&the_fe, bypass, &b, 1), 0);
    assert_int_equal(b, 1);
    /* R7: it takes only 0 or 1, and no other field is writable. */
    assert_int_not_equal(fe_config_write(&the_fe, bypass, &two, 1), 0);
    assert_int_not_equal(fe_config_write(&the_fe, 0, junk, sizeof(junk)), 0);
    assert_int_not_equal(
        fe_config_write(&the_fe,
                        offsetof(struct virtio_iommu_config, probe_size), junk,
                        sizeof(junk)),
        0);
    assert_int_equal(fe_config_read(&the_fe, 0, &after, sizeof(after)), 0);
    assert_int_equal(after.bypass, 1);
    after.bypass = c.bypass;
    assert_memory_equal(&after, &c, sizeof(c));
    assert_int_equal(fe_config_write(&the_fe, bypass, &c.bypass, 1), 0);
    assert_int_equal(fe_config_read(&the_fe, bypass, &b, 1), 0);
    assert_int_equal(b, 0);
    assert_int_equal(fe_stop(&the_fe), 0);
}

static void test_requests_through_rings(void **state)
{
    uint8_t props[512 + 4];

    (void)state;
    start(&the_fe);
    struct virtio_iommu_req_probe probe = vdrv_probe_req(8);
    assert_int_equal(
        fe_request(&the_fe, &probe, sizeof(probe), props, sizeof(props), false),
        sizeof(props));
    assert_int_equal(props[512], OK);
    struct viommu_resv_region r[4];
    assert_int_equal(vdrv_parse_resv(props, 512, r, 4), 1);
    assert_int_equal(r[0].type, VIOMMU_RESV_MSI);

    assert_int_equal(attach(&the_fe, 1, 8), OK);
    assert_int_equal(map(&the_fe, 1, 0x10000, 0x1ffff), OK);
    assert_int_equal(map(&the_fe, 1, 0x10000, 0x1ffff), VIRTIO_IOMMU_S_INVAL);
    assert_int_equal(attach(&the_fe, 1, 0x20), VIRTIO_IOMMU_S_NOENT);

    /* The same through an indirect table. */
    struct virtio_iommu_req_unmap unmap = vdrv_unmap_req(1, 0x10000, 0x1ffff);
    uint8_t tail[4];
    assert_int_equal(fe_request(&the_fe, &unmap, sizeof(unmap) - 4, tail,
                                sizeof(tail), true),
                     4);
    assert_int_equal(tail[0], OK);

    uint8_t junk[8] = {0x7f};
    uint64_t out = fe_post(&the_fe, junk, sizeof(junk), 4, false);
    /* An unknown request type: used length 0 (R9)... */
    assert_int_equal(fe_wait_used(&the_fe, 2000), 0);
    /* ...and nothing written (R9). */
    assert_true(untouched(&the_fe, out, 4));
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* A frontend that leaves resets the device; the next one starts clean. */
static void test_disconnect_resets_device(void **state)
{

    (void)state;
    start(&the_fe);
    assert_int_equal(attach(&the_fe, 1, 8), OK);
    assert_int_equal(map(&the_fe, 1, 0x10000, 0x1ffff), OK);
    fe_disconnect(&the_fe);
    fe_connect(&the_fe);
    fe_setup(&the_fe);
    assert_int_equal(map(&the_fe, 1, 0x10000, 0x1ffff), VIRTIO_IOMMU_S_NOENT);
    assert_int_equal(attach(&the_fe, 1, 8), OK); /* endpoints stay declared */
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* Rings that do not lie in guest memory are refused. */
static void test_ring_outside_memory(void **state)
{
    struct vhost_vring_addr addr = {.index = 0};

    (void)state;
    start(&the_fe);
    addr.desc_user_addr = (uint64_t)(uintptr_t)the_fe.mem + FE_MEM_SIZE - 16;
    addr.avail_user_addr = (uint64_t)(uintptr_t)the_fe.mem + 0x2000;
    addr.used_user_addr = (uint64_t)(uintptr_t)the_fe.mem + 0x3000;
    assert_int_not_equal(fe_acked(&the_fe, VHOST_USER_SET_VRING_ADDR, &addr,
                                  sizeof(addr), NULL, 0),
                         0);
    addr.index = 7; /* no such queue */
    assert_int_not_equal(fe_acked(&the_fe, VHOST_USER_SET_VRING_ADDR, &addr,
                                  sizeof(addr), NULL, 0),
                         0);
    assert_alive(&the_fe);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* A descriptor loop breaks the queue (err eventfd), not the daemon. */
static void test_descriptor_loop(void **state)
{

    (void)state;
    start(&the_fe);
    struct vring_desc *desc = fe_ptr(&the_fe, the_fe.q[0].desc);
    struct vring_avail *avail = fe_ptr(&the_fe, the_fe.q[0].avail);
    uint64_t buf = fe_alloc(&the_fe, 64);
    desc[0] = (struct vring_desc){htole64(buf), htole32(16),
                                  htole16(VRING_DESC_F_NEXT), htole16(1)};
    desc[1] = (struct vring_desc){htole64(buf), htole32(16),
                                  htole16(VRING_DESC_F_NEXT), htole16(0)};
    avail->ring[0] = 0;
    __atomic_store_n(&avail->idx, htole16(1), __ATOMIC_RELEASE);
    uint64_t one = 1;
    assert_int_equal(write(the_fe.q[0].kick, &one, 8), 8);
    assert_true(fe_signalled(the_fe.q[0].err, 2000));
    assert_alive(&the_fe);
    /* Set up again, the queue works. */
    fe_disconnect(&the_fe);
    fe_connect(&the_fe);
    fe_setup(&the_fe);
    assert_int_equal(attach(&the_fe, 1, 8), OK);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* Memory tables with missing or extra fds, or a file too small. */
static void test_bad_memory_tables(void **state)
{
    struct {
        uint32_t nregions, padding;
        uint64_t gpa, size, uva, offset;
    } mem = {1, 0, 0, FE_MEM_SIZE, 0x7f0000000000ull, 0};

    (void)state;
    start(&the_fe);
    int before = fe_daemon_fds(&the_fe);
    assert_int_not_equal(
        fe_acked(&the_fe, VHOST_USER_SET_MEM_TABLE, &mem, sizeof(mem), NULL, 0),
        0);
    int two[2] = {the_fe.memfd, the_fe.memfd};
    assert_int_not_equal(
        fe_acked(&the_fe, VHOST_USER_SET_MEM_TABLE, &mem, sizeof(mem), two, 2),
        0);
    int small = memfd_create("small", MFD_CLOEXEC);
    assert_int_equal(ftruncate(small, 4096), 0);
    assert_int_not_equal(fe_acked(&the_fe, VHOST_USER_SET_MEM_TABLE, &mem,
                                  sizeof(mem), &small, 1),
                         0);
    close(small);
    /* fds on a message that takes none are closed too. */
    assert_int_equal(fe_acked(&the_fe, VHOST_USER_SET_OWNER, NULL, 0, two, 2),
                     0);
    assert_int_equal(fe_daemon_fds(&the_fe), before);
    assert_alive(&the_fe);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* Truncated and oversized messages end the connection, not the daemon;
 * nothing of the old connection stays open. */
static void test_broken_messages(void **state)
{
    uint32_t header[3] = {VHOST_USER_GET_QUEUE_NUM, 1, 100000};

    (void)state;
    start(&the_fe);
    fe_disconnect(&the_fe);
    fe_connect(&the_fe);
    assert_alive(&the_fe); /* the daemon has let the first connection go */
    int idle = fe_daemon_fds(&the_fe);

    fe_setup(&the_fe);
    assert_int_equal(write(the_fe.sock, header, sizeof(header)),
                     sizeof(header));
    uint64_t ignored;
    assert_int_equal(fe_recv(&the_fe, VHOST_USER_GET_QUEUE_NUM, &ignored, 8),
                     -1);
    fe_disconnect(&the_fe);

    fe_connect(&the_fe);
    assert_int_equal(write(the_fe.sock, header, 6), 6); /* half a header */
    fe_disconnect(&the_fe);

    fe_connect(&the_fe); /* a payload cut short by a disconnect */
    uint32_t partial[4] = {VHOST_USER_SET_FEATURES, 1, 8, 0};
    assert_int_equal(write(the_fe.sock, partial, sizeof(partial)),
                     sizeof(partial));
    fe_disconnect(&the_fe);

    fe_connect(&the_fe);
    uint32_t unknown[3] = {9999, 1 | VHOST_USER_FLAG_NEED_REPLY, 0};
    assert_int_equal(write(the_fe.sock, unknown, sizeof(unknown)),
                     sizeof(unknown));
    assert_alive(&the_fe); /* an unknown request is answered, not fatal */
    assert_int_equal(fe_daemon_fds(&the_fe), idle);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* A disabled ring is not served: a request put on it waits, and is served
 * once the ring is enabled and kicked. */
static void test_disabled_ring_not_served(void **state)
{
    struct vhost_vring_state off = {0, 0}, on = {0, 1};

    (void)state;
    start(&the_fe);
    assert_int_equal(attach(&the_fe, 1, 8), OK);
    assert_int_equal(
        fe_acked(&the_fe, VHOST_USER_SET_VRING_ENABLE, &off, 8, NULL, 0), 0);
    uint64_t tail = post_map(&the_fe);
    assert_not_answered(&the_fe, 1);
    assert_true(untouched(&the_fe, tail, 4));
    assert_int_equal(
        fe_acked(&the_fe, VHOST_USER_SET_VRING_ENABLE, &on, 8, NULL, 0), 0);
    kick(&the_fe, 0);
    assert_answered_ok(&the_fe, tail, 2);
    /* A kick message that promises an fd and carries none is refused. */
    uint64_t no_fd = 0;
    assert_int_not_equal(
        fe_acked(&the_fe, VHOST_USER_SET_VRING_KICK, &no_fd, 8, NULL, 0), 0);
    assert_alive(&the_fe);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* GET_VRING_BASE stops the ring (vhost-user.rst): a request put on it is
 * not answered until the ring is set up again from the base returned. */
static void test_get_vring_base_stops_ring(void **state)
{
    struct vhost_vring_state base = {0, 99}, bad = {7, 0};

    (void)state;
    start(&the_fe);
    assert_int_equal(attach(&the_fe, 1, 8), OK);
    assert_true(
        fe_send(&the_fe, VHOST_USER_GET_VRING_BASE, 0, &base, 8, NULL, 0));
    assert_int_equal(fe_recv(&the_fe, VHOST_USER_GET_VRING_BASE, &base, 8), 8);
    assert_int_equal(base.index, 0);
    assert_int_equal(base.num, 1); /* the ATTACH was taken */

    uint64_t tail = post_map(&the_fe);
    assert_not_answered(&the_fe, 1);
    assert_true(untouched(&the_fe, tail, 4));
    fe_start_ring(&the_fe, 0, (uint16_t)base.num);
    assert_answered_ok(&the_fe, tail, 2);

    /* A GET for a queue that does not exist gets an empty reply. */
    assert_true(
        fe_send(&the_fe, VHOST_USER_GET_VRING_BASE, 0, &bad, 8, NULL, 0));
    assert_int_equal(fe_recv(&the_fe, VHOST_USER_GET_VRING_BASE, &bad, 8), 0);
    assert_alive(&the_fe);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* --fd: the frontend's end of a socketpair; the daemon exits cleanly when
 * the frontend goes. */
static void test_fd_mode(void **state)
{
    int sv[2], status;
    char arg[32];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    snprintf(arg, sizeof(arg), "--fd=%d", sv[1]);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        execl(getenv("VIOMMU_VHOST_USER"), "viommu-vhost-user", arg,
              (char *)NULL);
        _exit(127);
    }
    close(sv[1]);
    uint32_t get_queue_num[3] = {VHOST_USER_GET_QUEUE_NUM, 1, 0};
    uint32_t reply[5];
    assert_int_equal(write(sv[0], get_queue_num, sizeof(get_queue_num)), 12);
    assert_int_equal(read(sv[0], reply, sizeof(reply)), 20);
    assert_int_equal(reply[3], 2);
    close(sv[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Resizing a mapped ring re-checks it: a ring that no longer fits in guest
 * memory is not served (no access beyond memory), and is again once its
 * size fits. */
static void test_ring_resized_beyond_memory_stops(void **state)
{
    struct vhost_vring_state bigger = {0, 512}, fits = {0, FE_QUEUE_SIZE};
    struct vhost_vring_addr addr = {.index = 0};

    (void)state;
    start(&the_fe);
    /* The descriptor table of 256 entries ends where memory ends. */
    the_fe.q[0].desc = FE_MEM_SIZE - 16 * FE_QUEUE_SIZE;
    addr.desc_user_addr =
        (uint64_t)(uintptr_t)fe_ptr(&the_fe, the_fe.q[0].desc);
    addr.avail_user_addr =
        (uint64_t)(uintptr_t)fe_ptr(&the_fe, the_fe.q[0].avail);
    addr.used_user_addr =
        (uint64_t)(uintptr_t)fe_ptr(&the_fe, the_fe.q[0].used);
    assert_int_equal(fe_acked(&the_fe, VHOST_USER_SET_VRING_ADDR, &addr,
                              sizeof(addr), NULL, 0),
                     0);
    assert_int_equal(attach(&the_fe, 1, 8), OK);

    assert_int_not_equal(
        fe_acked(&the_fe, VHOST_USER_SET_VRING_NUM, &bigger, 8, NULL, 0), 0);
    uint64_t tail = post_map(&the_fe);
    assert_not_answered(&the_fe, 1);
    assert_true(untouched(&the_fe, tail, 4));

    assert_int_equal(
        fe_acked(&the_fe, VHOST_USER_SET_VRING_NUM, &fits, 8, NULL, 0), 0);
    kick(&the_fe, 0);
    assert_answered_ok(&the_fe, tail, 2);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* A memory table that no longer holds the rings stops them; with the
 * guest memory back, the request left on the ring is served. */
static void test_mem_table_without_ring_stops(void **state)
{
    struct {
        uint32_t nregions, padding;
        uint64_t gpa, size, uva, offset;
    } mem = {1, 0, 0, 4096, 0x10000000000ull, 0};

    (void)state;
    start(&the_fe);
    assert_int_equal(attach(&the_fe, 1, 8), OK);
    int other = memfd_create("other", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_int_equal(ftruncate(other, 4096), 0);
    assert_int_equal(fe_acked(&the_fe, VHOST_USER_SET_MEM_TABLE, &mem,
                              sizeof(mem), &other, 1),
                     0);
    close(other);

    uint64_t tail = post_map(&the_fe);
    assert_not_answered(&the_fe, 1);
    kick(&the_fe, 1); /* the event queue is not touched either */
    assert_alive(&the_fe);

    assert_int_equal(fe_set_mem_table(&the_fe), 0);
    kick(&the_fe, 0);
    assert_answered_ok(&the_fe, tail, 2);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* A kick fd that is not an eventfd (a pipe whose writer went away) is
 * dropped instead of waking the daemon forever. */
static void test_broken_kick_fd(void **state)
{
    int p[2];
    uint64_t kick = 0;

    (void)state;
    start(&the_fe);
    assert_alive(&the_fe);
    int with_eventfd = fe_daemon_fds(&the_fe);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(
        fe_acked(&the_fe, VHOST_USER_SET_VRING_KICK, &kick, 8, &p[0], 1), 0);
    close(p[0]);
    close(p[1]);
    /* The pipe replaced the eventfd; at its EOF the daemon closes it and
     * the queue has no kick fd left: one fd fewer than before. */
    int fds = with_eventfd;
    for (int tries = 0; tries < 200 && fds != with_eventfd - 1; tries++) {
        assert_alive(&the_fe);
        usleep(5000);
        fds = fe_daemon_fds(&the_fe);
    }
    assert_int_equal(fds, with_eventfd - 1);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* Replaces the frontend's guest memory, before fe_setup(), with a memfd
 * made without MFD_ALLOW_SEALING: it cannot be sealed against shrinking. */
static void use_unsealable_memory(struct fe *f)
{
    munmap(f->mem, FE_MEM_SIZE);
    close(f->memfd);
    f->memfd = memfd_create("unsealable", MFD_CLOEXEC);
    assert_true(f->memfd >= 0);
    assert_int_equal(ftruncate(f->memfd, FE_MEM_SIZE), 0);
    f->mem = mmap(NULL, FE_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                  f->memfd, 0);
    assert_true(f->mem != MAP_FAILED);
}

/* Guest memory that cannot be sealed against shrinking (as hugetlbfs and
 * tmpfs files, QEMU's usual memory-backend-file) is served, and truncated
 * under a request it ends that frontend's connection, never the daemon (it
 * died of SIGBUS); the next frontend is served. */
static void test_truncated_memory_ends_connection(void **state)
{
    /* Without polling, only the kick and the message below touch the
     * truncated memory (a busy machine could stretch a polling window
     * over the truncation). */
    const char *const args[] = {endpoints[0], "--poll-max-ns", "0", NULL};
    struct pollfd pfd;
    char byte;

    (void)state;
    fe_start(&the_fe, args);
    use_unsealable_memory(&the_fe);
    fe_setup(&the_fe);
    assert_int_equal(attach(&the_fe, 1, 8), OK);
    post_map(&the_fe);
    assert_int_equal(ftruncate(the_fe.memfd, 0), 0);
    kick(&the_fe, 0);
    pfd = (struct pollfd){.fd = the_fe.sock, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    assert_true(recv(the_fe.sock, &byte, 1, 0) <= 0); /* hung up on */

    assert_int_equal(ftruncate(the_fe.memfd, FE_MEM_SIZE), 0);
    fe_disconnect(&the_fe);
    fe_connect(&the_fe);
    fe_setup(&the_fe);
    assert_int_equal(attach(&the_fe, 1, 8), OK);

    /* Truncated under a message that reads the rings (SET_VRING_ADDR maps
     * the ring and reads its used index): the same. */
    struct vhost_vring_addr addr = {
        .index = 0,
        .desc_user_addr = (uintptr_t)fe_ptr(&the_fe, the_fe.q[0].desc),
        .used_user_addr = (uintptr_t)fe_ptr(&the_fe, the_fe.q[0].used),
        .avail_user_addr = (uintptr_t)fe_ptr(&the_fe, the_fe.q[0].avail),
    };
    assert_int_equal(ftruncate(the_fe.memfd, 0), 0);
    assert_true(fe_send(&the_fe, VHOST_USER_SET_VRING_ADDR, 0, &addr,
                        sizeof(addr), NULL, 0));
    pfd = (struct pollfd){.fd = the_fe.sock, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    assert_true(recv(the_fe.sock, &byte, 1, 0) <= 0); /* hung up on */
    assert_int_equal(ftruncate(the_fe.memfd, FE_MEM_SIZE), 0);
    fe_disconnect(&the_fe);
    fe_connect(&the_fe);
    fe_setup(&the_fe);
    assert_int_equal(attach(&the_fe, 1, 8), OK);
    assert_int_equal(fe_stop(&the_fe), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_print_capabilities),
        cmocka_unit_test_teardown(test_handshake_and_config, teardown),
        cmocka_unit_test_teardown(test_requests_through_rings, teardown),
        cmocka_unit_test_teardown(test_disconnect_resets_device, teardown),
        cmocka_unit_test_teardown(test_ring_outside_memory, teardown),
        cmocka_unit_test_teardown(test_descriptor_loop, teardown),
        cmocka_unit_test_teardown(test_bad_memory_tables, teardown),
        cmocka_unit_test_teardown(test_broken_messages, teardown),
        cmocka_unit_test_teardown(test_disabled_ring_not_served, teardown),
        cmocka_unit_test_teardown(test_get_vring_base_stops_ring, teardown),
        cmocka_unit_test(test_fd_mode),
        cmocka_unit_test_teardown(test_ring_resized_beyond_memory_stops,
                                  teardown),
        cmocka_unit_test_teardown(test_mem_table_without_ring_stops, teardown),
        cmocka_unit_test_teardown(test_broken_kick_fd, teardown),
        cmocka_unit_test_teardown(test_truncated_memory_ends_connection,
                                  teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
