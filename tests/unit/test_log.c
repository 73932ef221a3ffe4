/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The log sink: quiet by default, the level filter, messages a guest causes
 * tagged as such and rate limited (at most 10 every 5 seconds, then a count
 * of what was suppressed).
 *
 * The library times the rate limit with clock_gettime(CLOCK_MONOTONIC).
 * This program is linked with -Wl,--wrap=clock_gettime so that the tests
 * set the monotonic time themselves.
 */
#include <stdio.h>
#include <time.h>

#include "common.h"

int __real_clock_gettime(clockid_t clock, struct timespec *ts);
int __wrap_clock_gettime(clockid_t clock, struct timespec *ts);

static struct timespec now = {1000, 0};

int __wrap_clock_gettime(clockid_t clock, struct timespec *ts)
{
    if (clock != CLOCK_MONOTONIC) {
        return __real_clock_gettime(clock, ts);
    }
    *ts = now;
    return 0;
}

static void set_time(time_t sec, long nsec)
{
    now = (struct timespec){sec, nsec};
}

#define MAX_MESSAGES 64

static struct {
    unsigned n;
    struct {
        enum viommu_log_level level;
        enum viommu_log_source source;
        char text[256];
    } m[MAX_MESSAGES];
} got;

static void sink(void *opaque, enum viommu_log_level level,
                 enum viommu_log_source source, const char *msg)
{
    assert_ptr_equal(opaque, &got);
    assert_true(got.n < MAX_MESSAGES);
    got.m[got.n].level = level;
    got.m[got.n].source = source;
    snprintf(got.m[got.n].text, sizeof(got.m[0].text), "%s", msg);
    got.n++;
}

static enum viommu_log_level max_level;

static void with_sink(struct viommu_config *c)
{
    c->log = sink;
    c->log_opaque = &got;
    c->max_log_level = max_level;
}

/* A device logging to the sink at most at `level`; the sink emptied. */
static struct viommu *logging_device(enum viommu_log_level level)
{
    max_level = level;
    set_time(1000, 0);
    struct viommu *v = new_device(with_sink);
    got.n = 0;
    return v;
}

/* One message of each level, the guest causing two of them:
 *   ERR   device  an endpoint the device refuses
 *   WARN  guest   a bypass write of 2
 *   INFO  guest   an ATTACH of an endpoint that does not exist
 *   DEBUG device  an endpoint declared */
static void one_of_each_level(struct viommu *v)
{
    struct viommu_host_geometry big_pages = {.size = sizeof(big_pages),
                                             .page_size_mask = 1ULL << 21};
    struct viommu_endpoint_config ep = {
        .size = sizeof(ep), .id = 20, .geometry = &big_pages};
    uint8_t two = 2;

    assert_int_equal(viommu_endpoint_add(v, &ep), -EINVAL);
    assert_int_equal(
        viommu_config_write(v, offsetof(struct virtio_iommu_config, bypass),
                            &two, 1),
        -EINVAL);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, 99, 0),
                     VIRTIO_IOMMU_S_NOENT);
    ep = (struct viommu_endpoint_config){.size = sizeof(ep), .id = 21};
    assert_int_equal(viommu_endpoint_add(v, &ep), 0);
}

static unsigned count(enum viommu_log_level level,
                      enum viommu_log_source source)
{
    unsigned n = 0;

    for (unsigned i = 0; i < got.n; i++) {
        n += got.m[i].level == level && got.m[i].source == source;
    }
    return n;
}

/* A configured sink hears only errors until the embedder asks for more. */
static void test_quiet_by_default(void **state)
{
    struct viommu_config cfg = {
        .size = sizeof(cfg), .log = sink, .log_opaque = &got};
    struct viommu *v = viommu_new(&cfg);
    struct viommu_translation t = {.size = sizeof(t)};

    assert_non_null(v);
    got.n = 0;
    one_of_each_level(v);
    assert_int_equal(viommu_translate(v, 21, 0x1000, VIOMMU_ACCESS_READ, &t),
                     -EFAULT);
    assert_int_equal(viommu_endpoint_remove(v, 21), 0);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.m[0].level, VIOMMU_LOG_ERR);
    assert_int_equal(got.m[0].source, VIOMMU_LOG_SOURCE_DEVICE);
    viommu_free(v);
}

/* Messages above max_log_level never arrive; the others all do. */
static void test_level_filter(void **state)
{
    for (int max = VIOMMU_LOG_ERR; max <= VIOMMU_LOG_DEBUG; max++) {
        struct viommu *v = logging_device((enum viommu_log_level)max);

        one_of_each_level(v);
        assert_int_equal(got.n, (unsigned)max + 1);
        for (unsigned i = 0; i < got.n; i++) {
            assert_true(got.m[i].level <= (enum viommu_log_level)max);
        }
        assert_int_equal(count(VIOMMU_LOG_ERR, VIOMMU_LOG_SOURCE_DEVICE), 1);
        viommu_free(v);
    }
}

/* What a guest's requests and DMA cause is tagged GUEST; what the embedder
 * does is tagged DEVICE. */
static void test_guest_messages_tagged_guest(void **state)
{
    struct viommu *v = logging_device(VIOMMU_LOG_DEBUG);
    struct viommu_translation t = {.size = sizeof(t)};
    uint8_t unknown[8] = {0x7f}, tail[4];

    one_of_each_level(v);
    assert_int_equal(count(VIOMMU_LOG_WARN, VIOMMU_LOG_SOURCE_GUEST), 1);
    assert_int_equal(count(VIOMMU_LOG_INFO, VIOMMU_LOG_SOURCE_GUEST), 1);
    assert_int_equal(count(VIOMMU_LOG_ERR, VIOMMU_LOG_SOURCE_DEVICE), 1);
    assert_int_equal(count(VIOMMU_LOG_DEBUG, VIOMMU_LOG_SOURCE_DEVICE), 1);

    got.n = 0;
    assert_int_equal(
        vdrv_send(VDRV_LOCAL(v), unknown, sizeof(unknown), tail, 4), 0);
    assert_int_equal(viommu_translate(v, EP1, 0x1000, VIOMMU_ACCESS_READ, &t),
                     -EFAULT);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.m[0].source, VIOMMU_LOG_SOURCE_GUEST);
    assert_int_equal(got.m[1].source, VIOMMU_LOG_SOURCE_GUEST);

    got.n = 0;
    assert_int_equal(viommu_endpoint_remove(v, EP2), 0);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.m[0].source, VIOMMU_LOG_SOURCE_DEVICE);
    viommu_free(v);
}

/* n guest messages (refused ATTACHes, logged at INFO). */
static void guest_errors(struct viommu *v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, 99, 0),
                         VIRTIO_IOMMU_S_NOENT);
    }
}

/* The count of the "N guest error messages suppressed" message at i. */
static unsigned suppressed_at(unsigned i)
{
    unsigned n = 0;

    assert_true(i < got.n);
    assert_int_equal(got.m[i].level, VIOMMU_LOG_WARN);
    assert_int_equal(got.m[i].source, VIOMMU_LOG_SOURCE_GUEST);
    assert_int_equal(
        sscanf(got.m[i].text, "%u guest error messages suppressed", &n), 1);
    return n;
}

static void test_guest_rate_limit(void **state)
{
    struct viommu *v = logging_device(VIOMMU_LOG_DEBUG);
    struct viommu_endpoint_config ep = {.size = sizeof(ep), .id = 30};

    /* A burst of 10, then nothing for the rest of the 5 seconds... */
    guest_errors(v, 25);
    assert_int_equal(got.n, 10);
    set_time(1004, 999999999);
    guest_errors(v, 3);
    assert_int_equal(got.n, 10);
    /* ...while what the device says still arrives. */
    assert_int_equal(viommu_endpoint_add(v, &ep), 0);
    assert_int_equal(got.n, 11);
    assert_int_equal(got.m[10].source, VIOMMU_LOG_SOURCE_DEVICE);

    /* 5 seconds on: the count of what was dropped, then a new burst. */
    set_time(1005, 0);
    got.n = 0;
    guest_errors(v, 12);
    assert_int_equal(got.n, 1 + 10);
    assert_int_equal(suppressed_at(0), 15 + 3);
    for (unsigned i = 1; i < got.n; i++) {
        assert_int_equal(got.m[i].level, VIOMMU_LOG_INFO);
        assert_int_equal(got.m[i].source, VIOMMU_LOG_SOURCE_GUEST);
    }
    set_time(1009, 999999999);
    guest_errors(v, 1);
    assert_int_equal(got.n, 11);

    set_time(1010, 0);
    got.n = 0;
    guest_errors(v, 1);
    assert_int_equal(got.n, 2);
    assert_int_equal(suppressed_at(0), 2 + 1);

    /* After a quiet window, no count: nothing was dropped. */
    set_time(2000, 0);
    got.n = 0;
    guest_errors(v, 1);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.m[0].level, VIOMMU_LOG_INFO);
    viommu_free(v);
}

/* Messages the level filter drops do not use up the guest's burst. */
static void test_filtered_messages_do_not_count(void **state)
{
    struct viommu *v = logging_device(VIOMMU_LOG_WARN);
    uint8_t two = 2;

    guest_errors(v, 30); /* INFO: filtered */
    assert_int_equal(got.n, 0);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(
            viommu_config_write(v, offsetof(struct virtio_iommu_config, bypass),
                                &two, 1),
            -EINVAL);
    }
    assert_int_equal(count(VIOMMU_LOG_WARN, VIOMMU_LOG_SOURCE_GUEST), 10);
    viommu_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quiet_by_default),
        cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_guest_messages_tagged_guest),
        cmocka_unit_test(test_guest_rate_limit),
        cmocka_unit_test(test_filtered_messages_do_not_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
