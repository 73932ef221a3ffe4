/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Adaptive polling of the request queue loses nothing. The frontend kicks
 * only when the daemon asks for it, as the Linux driver does, so a request
 * the daemon neither polls for nor asks a kick for would never be answered:
 * every wait here is bounded, and a request must come back exactly once
 * (fe_wait_used checks that a single used entry appeared).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/vhost_types.h>
#include <linux/virtio_iommu.h>

#include "driver.h"
#include "frontend.h"

#define OK VIRTIO_IOMMU_S_OK

static struct fe the_fe;

static int teardown(void **state)
{
    (void)state;
    if (the_fe.pid > 0) {
        fe_stop(&the_fe);
    }
    return 0;
}

static void start(const char *poll_max_ns)
{
    char arg[64];
    const char *args[] = {"--endpoint=0x8-0xf", arg, NULL};

    snprintf(arg, sizeof(arg), "--poll-max-ns=%s", poll_max_ns);
    fe_start(&the_fe, args);
    fe_setup(&the_fe);
    the_fe.driver_kicks = true;
}

/* The guest's own work between two requests. */
static void spin_us(double us)
{
    double end = fe_now() * 1e6 + us;

    while (fe_now() * 1e6 < end) {
    }
}

/* MAP or UNMAP of one page, alternately: each must come back OK within a
 * second. */
static void request(unsigned i)
{
    uint64_t iova = 0x100000 + (uint64_t)(i / 2 % 64) * 0x1000;
    uint8_t tail[4];

    if (i % 2 == 0) {
        struct virtio_iommu_req_map m = {
            .head.type = VIRTIO_IOMMU_T_MAP,
            .domain = 1,
            .virt_start = iova,
            .virt_end = iova + 0xfff,
            .phys_start = iova,
            .flags = VIRTIO_IOMMU_MAP_F_READ,
        };
        uint64_t out = fe_post(&the_fe, &m, sizeof(m) - 4, 4, false);
        assert_int_equal(fe_wait_used(&the_fe, 1000), 4);
        memcpy(tail, fe_ptr(&the_fe, out), 4);
    } else {
        struct virtio_iommu_req_unmap u = vdrv_unmap_req(1, iova, iova + 0xfff);
        uint64_t out = fe_post(&the_fe, &u, sizeof(u) - 4, 4, false);
        assert_int_equal(fe_wait_used(&the_fe, 1000), 4);
        memcpy(tail, fe_ptr(&the_fe, out), 4);
    }
    assert_int_equal(tail[0], OK);
}

static void attach(void)
{
    struct virtio_iommu_req_attach a = vdrv_attach_req(1, 8, 0);

    assert_int_equal(fe_status(&the_fe, &a, sizeof(a)), OK);
}

/* Requests spaced from nothing to far beyond the window, many of them
 * just as polling ends: all answered, once each. */
static void paced_requests(const char *poll_max_ns)
{
    static const double gaps_us[] = {0,  1,  2,  4,  8,   16,  24,  30,
                                     32, 34, 40, 64, 100, 200, 1000};
    unsigned n = 0;

    start(poll_max_ns);
    attach();
    uint16_t used = fe_used_idx(&the_fe, 0);
    for (int round = 0; round < 20; round++) {
        for (size_t g = 0; g < sizeof(gaps_us) / sizeof(gaps_us[0]); g++) {
            spin_us(gaps_us[g]);
            request(n++);
        }
    }
    assert_int_equal((uint16_t)(fe_used_idx(&the_fe, 0) - used), n);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* Thousands of requests spaced around where a short window ends: one
 * landing after the daemon's last look but before it asks for kicks again
 * would never be answered. */
static void test_requests_as_polling_ends(void **state)
{
    uint64_t rng = 1;

    (void)state;
    start("4000");
    attach();
    for (unsigned i = 0; i < 20000; i++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        spin_us((double)(rng >> 33) / (double)(1ULL << 31) * 6.0);
        request(i);
    }
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* A Linux guest under TCG does 5 to 20 us of its own work between an
 * answer and its next request. With the default window, polling catches
 * such requests after a few: the driver seldom kicks (a few per 2,000 on
 * an idle machine; the bound leaves room for a loaded one) (every kick is a
 * vCPU exit and a wake-up of the daemon, tens of microseconds). A window
 * that grows only when polling finds requests never grew past 1 us here,
 * and every request was kicked. */
static void test_guest_work_between_requests_polled(void **state)
{
    const char *const args[] = {"--endpoint=0x8-0xf", NULL};
    const unsigned n = 2000;

    (void)state;
    fe_start(&the_fe, args);
    fe_setup(&the_fe);
    the_fe.driver_kicks = true;
    attach();
    unsigned kicks = the_fe.kicks;
    for (unsigned i = 0; i < n; i++) {
        spin_us(i % 2 ? 6 : 15);
        request(i);
    }
    kicks = the_fe.kicks - kicks;
    print_message("# %u kicks for %u requests\n", kicks, n);
    assert_true(kicks < n / 4); /* every one without polling in time */
    assert_int_equal(fe_stop(&the_fe), 0);
}

static void test_paced_requests_polling(void **state)
{
    (void)state;
    paced_requests("32768");
}

static void test_paced_requests_no_polling(void **state)
{
    (void)state;
    paced_requests("0");
}

/* While the daemon polls, the driver does not kick: requests still come
 * back. Then the driver goes quiet for longer than any window, the daemon
 * asks for kicks again, and the next request wakes it. */
static void test_quiet_then_resume(void **state)
{
    (void)state;
    start("1000000"); /* up to 1 ms */
    attach();
    for (unsigned i = 0; i < 200; i++) {
        request(i);
    }
    usleep(20000); /* far beyond the window: the daemon sleeps */
    request(200);
    request(201);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* The ring stopped (GET_VRING_BASE) while the daemon polls it: nothing is
 * served on the stopped ring, and once it is started again the request
 * waiting there comes back exactly once. */
static void test_ring_reset_while_polling(void **state)
{
    struct vhost_vring_state base = {0, 0};

    (void)state;
    start("1000000");
    attach();
    request(0);
    assert_true(
        fe_send(&the_fe, VHOST_USER_GET_VRING_BASE, 0, &base, 8, NULL, 0));
    assert_int_equal(fe_recv(&the_fe, VHOST_USER_GET_VRING_BASE, &base, 8), 8);
    uint16_t used = fe_used_idx(&the_fe, 0);
    struct virtio_iommu_req_unmap u = vdrv_unmap_req(1, 0x100000, 0x100fff);
    the_fe.driver_kicks = false; /* a stopped ring takes kicks to no end */
    uint64_t out = fe_post(&the_fe, &u, sizeof(u) - 4, 4, false);
    assert_int_equal(fe_wait_used(&the_fe, 300), -1);
    assert_int_equal(fe_used_idx(&the_fe, 0), used);
    fe_start_ring(&the_fe, 0, (uint16_t)base.num);
    the_fe.driver_kicks = true;
    assert_int_equal(fe_wait_used(&the_fe, 1000), 4);
    assert_int_equal(*(uint8_t *)fe_ptr(&the_fe, out), OK);
    assert_int_equal((uint16_t)(fe_used_idx(&the_fe, 0) - used), 1);
    request(2);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* The ring stopped while the daemon polls, with nothing waiting: once it
 * is started again the driver is asked to kick, and its next request is
 * answered (the stopped ring had told it not to kick, and the daemon's
 * polling ended meanwhile). */
static void test_ring_restarted_idle_after_polling(void **state)
{
    struct vhost_vring_state base = {0, 0};

    (void)state;
    start("1000000");
    attach();
    for (unsigned i = 0; i < 200; i++) { /* the window grows past 30 us */
        spin_us(20);
        request(i);
    }
    assert_true(
        fe_send(&the_fe, VHOST_USER_GET_VRING_BASE, 0, &base, 8, NULL, 0));
    assert_int_equal(fe_recv(&the_fe, VHOST_USER_GET_VRING_BASE, &base, 8), 8);
    usleep(20000); /* far beyond the window: polling has ended */
    fe_start_ring(&the_fe, 0, (uint16_t)base.num);
    request(200);
    request(201);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* The frontend goes away while the daemon polls: the next one is served
 * from a clean device. */
static void test_disconnect_while_polling(void **state)
{
    (void)state;
    start("1000000");
    attach();
    for (unsigned i = 0; i < 10; i++) {
        request(i);
    }
    fe_disconnect(&the_fe);
    fe_connect(&the_fe);
    fe_setup(&the_fe);
    attach();
    request(0);
    request(1);
    assert_int_equal(fe_stop(&the_fe), 0);
}

/* The daemon's CPU time, in clock ticks (utime + stime of /proc/PID/stat). */
static unsigned long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long utime = 0, stime = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    /* Fields 14 and 15, counted after the command name in parentheses. */
    const char *p = strrchr(buf, ')');
    assert_non_null(p);
    assert_int_equal(sscanf(p + 2,
                            "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
                            "%*u %lu %lu",
                            &utime, &stime),
                     2);
    return utime + stime;
}

/* Polling stops when the guest does: an idle second costs the daemon no
 * CPU time (at most one tick of rounding). */
static void test_idle_costs_nothing(void **state)
{
    (void)state;
    start("1000000");
    attach();
    for (unsigned i = 0; i < 1000; i++) {
        request(i);
    }
    usleep(50000);
    unsigned long before = cpu_ticks(the_fe.pid);
    sleep(1);
    assert_true(cpu_ticks(the_fe.pid) - before <= 1);
    assert_int_equal(fe_stop(&the_fe), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_guest_work_between_requests_polled,
                                  teardown),
        cmocka_unit_test_teardown(test_paced_requests_polling, teardown),
        cmocka_unit_test_teardown(test_requests_as_polling_ends, teardown),
        cmocka_unit_test_teardown(test_paced_requests_no_polling, teardown),
        cmocka_unit_test_teardown(test_quiet_then_resume, teardown),
        cmocka_unit_test_teardown(test_ring_reset_while_polling, teardown),
        cmocka_unit_test_teardown(test_ring_restarted_idle_after_polling,
                                  teardown),
        cmocka_unit_test_teardown(test_disconnect_while_polling, teardown),
        cmocka_unit_test_teardown(test_idle_costs_nothing, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
