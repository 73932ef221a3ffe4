/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Save and restore: a round trip gives the same bytes and the same
 * translations, host contexts get exactly the restored mappings, and every
 * stream that is corrupt, hostile or meant for another device is refused
 * with the device (and its host contexts) unchanged and a reason logged.
 */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#endif
#ifdef UNDER_ASAN
#include <sanitizer/allocator_interface.h>
#else
#include <malloc.h>
#endif

#define BYPASS VIRTIO_IOMMU_ATTACH_F_BYPASS
#define EP4 4u
#define EP5 5u
#define EP6 6u
#define EP9 9u

/* Bytes the heap holds for the program. */
static size_t heap_used(void)
{
#ifdef UNDER_ASAN
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#endif
}

/* ---- streams in memory ---- */

struct stream {
    uint8_t *data;
    size_t len, cap;
    size_t pos;      /* next byte read */
    size_t max_read; /* 0: as much as asked */
    size_t fail_at;  /* 0: never; else the reader or writer fails there */
};

static int stream_write(void *opaque, const void *buf, size_t len)
{
    struct stream *s = opaque;

    if (s->fail_at != 0 && s->len + len >= s->fail_at) {
        return -ENOSPC;
    }
    if (s->len + len > s->cap) {
        s->cap = (s->len + len) * 2;
        s->data = realloc(s->data, s->cap);
        assert_non_null(s->data);
    }
    memcpy(s->data + s->len, buf, len);
    s->len += len;
    return 0;
}

static ssize_t stream_read(void *opaque, void *buf, size_t len)
{
    struct stream *s = opaque;

    if (s->fail_at != 0 && s->pos >= s->fail_at) {
        return -EIO;
    }
    if (s->max_read != 0 && len > s->max_read) {
        len = s->max_read;
    }
    if (len > s->len - s->pos) {
        len = s->len - s->pos;
    }
    memcpy(buf, s->data + s->pos, len);
    s->pos += len;
    return (ssize_t)len;
}

static void save(struct viommu *v, struct stream *s)
{
    memset(s, 0, sizeof(*s));
    assert_int_equal(viommu_save(v, stream_write, s), 0);
}

static int restore(struct viommu *v, const uint8_t *data, size_t len)
{
    struct stream s = {.data = (uint8_t *)data, .len = len};

    return viommu_restore(v, stream_read, &s);
}

static void assert_same_bytes(const struct stream *a, const struct stream *b)
{
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->data, b->data, a->len);
}

/* ---- devices ---- */

static char last_log[256];
static unsigned nr_logs;

static void capture(void *opaque, enum viommu_log_level level,
                    enum viommu_log_source source, const char *msg)
{
    snprintf(last_log, sizeof(last_log), "%s", msg);
    nr_logs++;
}

/* The configuration of these tests: errors logged into last_log, and a
 * fault queue small enough to overflow. */
static void test_config(struct viommu_config *c)
{
    c->log = capture;
    c->max_log_level = VIOMMU_LOG_ERR;
    c->max_pending_faults = 4;
}

/* EP1-EP3, EP4 with a reserved region, EP5 and EP6 in one host group. */
static struct viommu *device(void (*tweak)(struct viommu_config *c))
{
    struct viommu *v = new_device(tweak);
    struct viommu_endpoint_config ep = {
        .size = sizeof(ep), .flags = VIOMMU_EP_GROUP, .group = 7};

    add_endpoint_with(v, EP4, 0x100000, 0x1fffff, VIOMMU_RESV_RESERVED);
    ep.id = EP5;
    assert_int_equal(viommu_endpoint_add(v, &ep), 0);
    ep.id = EP6;
    assert_int_equal(viommu_endpoint_add(v, &ep), 0);
    return v;
}

/* A device holding a bit of everything: a translated domain with
 * mappings of every kind, a bypass domain, config bypass, faults pending
 * and dropped. */
static struct viommu *busy_device(void)
{
    struct viommu *v = device(test_config);
    struct viommu_translation t = {.size = sizeof(t)};

    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 3, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 3, EP5, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 3, EP6, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 9, EP2, BYPASS),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 3, 0x10000, 0x1ffff, 0x80000, RW),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 3, 0x20000, 0x20fff, 0x40000,
                              VIRTIO_IOMMU_MAP_F_READ),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_map(VDRV_LOCAL(v), 3, 0x30000, 0x30fff, 0xc0000000,
                              RW | VIRTIO_IOMMU_MAP_F_MMIO),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(
        vdrv_map(VDRV_LOCAL(v), 3, 0xfffffffffffff000, UINT64_MAX, 0x1000, RW),
        VIRTIO_IOMMU_S_OK);
    /* Six faults: four queued, two dropped. */
    for (uint64_t i = 0; i < 6; i++) {
        assert_int_equal(viommu_translate(v, i % 2 ? EP3 : EP1, 0x50000 + i,
                                          VIOMMU_ACCESS_WRITE, &t),
                         -EFAULT);
    }
    assert_int_equal(viommu_config_write(v, 36, &(uint8_t){1}, 1), 0);
    return v;
}

static struct viommu *fresh_device(void)
{
    return device(test_config);
}

static void assert_same_translation(const struct viommu_translation *a,
                                    const struct viommu_translation *b)
{
    assert_int_equal(a->gpa, b->gpa);
    assert_int_equal(a->iova_last, b->iova_last);
    assert_int_equal(a->flags, b->flags);
}

/* The same answers to the same accesses, fault reports included. */
static void assert_same_translations(struct viommu *a, struct viommu *b)
{
    static const uint64_t iovas[] = {0,        0x10000,    0x10fff,   0x1ffff,
                                     0x20000,  0x20010,    0x30008,   0x40000,
                                     0x100000, 0xfee00004, UINT64_MAX};
    struct virtio_iommu_fault fa, fb;

    for (uint32_t ep = EP1; ep <= EP9; ep++) {
        for (size_t i = 0; i < sizeof(iovas) / sizeof(iovas[0]); i++) {
            for (uint32_t access = 1; access <= 3; access++) {
                struct viommu_translation ta = {.size = sizeof(ta)},
                                          tb = {.size = sizeof(tb)};
                int ra = viommu_translate(a, ep, iovas[i], access, &ta);
                int rb = viommu_translate(b, ep, iovas[i], access, &tb);
                assert_int_equal(ra, rb);
                assert_same_translation(&ta, &tb);
            }
        }
    }
    for (;;) {
        int ra = pop_fault(a, &fa), rb = pop_fault(b, &fb);
        assert_int_equal(ra, rb);
        if (ra != 0) {
            break;
        }
        assert_memory_equal(&fa, &fb, sizeof(fa));
    }
}

/* A refused stream leaves the device as it was and says why. */
static void assert_refused(struct viommu *v, const uint8_t *data, size_t len,
                           int expected)
{
    struct stream before, after;
    unsigned logs = nr_logs;

    save(v, &before);
    int err = restore(v, data, len);
    if (expected != 0) {
        assert_int_equal(err, expected);
    } else {
        assert_true(err < 0);
    }
    assert_true(nr_logs > logs);
    save(v, &after);
    assert_same_bytes(&before, &after);
    free(before.data);
    free(after.data);
}

/* ---- round trips ---- */

static void test_round_trip_same_bytes_same_answers(void **state)
{
    struct viommu *a = busy_device(), *b = fresh_device();
    struct stream first, second;
    struct viommu_stats sa = {.size = sizeof(sa)}, sb = {.size = sizeof(sb)};

    save(a, &first);
    assert_int_equal(restore(b, first.data, first.len), 0);
    save(b, &second);
    assert_same_bytes(&first, &second);

    assert_int_equal(viommu_get_stats(a, &sa), 0);
    assert_int_equal(viommu_get_stats(b, &sb), 0);
    assert_int_equal(sb.domains, 2);
    assert_int_equal(sb.mappings, 4);
    assert_int_equal(sb.pending_faults, 4);
    assert_int_equal(sb.dropped_faults, 2);
    assert_int_equal(sa.endpoints, sb.endpoints);
    assert_int_equal(sa.host_contexts, sb.host_contexts);
    assert_int_equal(sa.host_errors, sb.host_errors);
    assert_true(viommu_bypass(b));
    assert_int_equal(endpoint_domain(b, EP5), 3);
    assert_int_equal(endpoint_domain(b, EP3), -1);
    assert_same_translations(a, b);

    /* The restored device goes on: the guest maps, unmaps, detaches. */
    assert_int_equal(vdrv_map(VDRV_LOCAL(b), 3, 0x60000, 0x60fff, 0x1000, RW),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_unmap(VDRV_LOCAL(b), 3, 0x10000, 0x1ffff),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_detach(VDRV_LOCAL(b), 9, EP2), VIRTIO_IOMMU_S_OK);
    assert_int_equal(domain_mappings(b, 9), -1);
    free(first.data);
    free(second.data);
    viommu_free(a);
    viommu_free(b);
}

/* Readers may give one byte at a time; the result is the same. */
static void test_round_trip_short_reads(void **state)
{
    struct viommu *a = busy_device();
    struct stream first, second;

    save(a, &first);
    for (size_t chunk = 1; chunk < 40; chunk += 3) {
        struct viommu *b = fresh_device();
        first.pos = 0;
        first.max_read = chunk;
        assert_int_equal(viommu_restore(b, stream_read, &first), 0);
        save(b, &second);
        assert_same_bytes(&first, &second);
        free(second.data);
        viommu_free(b);
    }
    free(first.data);
    viommu_free(a);
}

/* An empty device saves a stream that restores to an empty device. */
static void test_round_trip_empty(void **state)
{
    struct viommu *a = fresh_device(), *b = fresh_device();
    struct stream first, second;

    save(a, &first);
    assert_int_equal(restore(b, first.data, first.len), 0);
    save(b, &second);
    assert_same_bytes(&first, &second);
    free(first.data);
    free(second.data);
    viommu_free(a);
    viommu_free(b);
}

/* A device reset after its restore is as fresh, and restores again. */
static void test_restore_after_reset(void **state)
{
    struct viommu *a = busy_device(), *b = fresh_device();
    struct stream s;

    save(a, &s);
    assert_int_equal(restore(b, s.data, s.len), 0);
    assert_int_equal(restore(b, s.data, s.len), -EBUSY);
    assert_int_equal(viommu_reset(b, VIOMMU_RESET_SYSTEM), 0);
    assert_int_equal(restore(b, s.data, s.len), 0);
    free(s.data);
    viommu_free(a);
    viommu_free(b);
}

/* ---- host contexts ---- */

struct hosts {
    struct hostsim h[2];
    struct hostsim_faults faults;
};

/* EP1 and EP2 share context 0 (one host group), EP3 has context 1, EP4
 * is emulated. */
static struct viommu *host_device(struct hosts *hs)
{
    struct viommu_config cfg = {
        .size = sizeof(cfg), .log = capture, .max_log_level = VIOMMU_LOG_ERR};
    struct viommu *v = viommu_new(&cfg);

    assert_non_null(v);
    memset(hs, 0, sizeof(*hs));
    hostsim_init(&hs->h[0], "ctx0");
    hostsim_init(&hs->h[1], "ctx1");
    for (uint32_t id = EP1; id <= EP4; id++) {
        struct viommu_endpoint_config ep = {.size = sizeof(ep), .id = id};
        if (id <= EP3) {
            ep.host_ops = &hostsim_ops;
            ep.host_ctx = &hs->h[id == EP3];
        }
        if (id <= EP2) {
            ep.flags = VIOMMU_EP_GROUP;
            ep.group = 12;
        }
        assert_int_equal(viommu_endpoint_add(v, &ep), 0);
    }
    /* Failures count host calls from here on. */
    hs->h[0].faults = hs->h[1].faults = &hs->faults;
    return v;
}

static void assert_hosts_hold(struct viommu *v, struct hosts *hs)
{
    struct hostsim_binding b[] = {
        {EP1, &hs->h[0]}, {EP2, &hs->h[0]}, {EP3, &hs->h[1]}, {EP4, NULL}};
    struct hostsim *h[] = {&hs->h[0], &hs->h[1]};
    char why[1024] = "";

    if (!hostsim_check(v, b, 4, h, 2, why, sizeof(why))) {
        fail_msg("%s", why);
    }
}

static void host_world(struct viommu *v)
{
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP1, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 1, EP2, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 2, EP3, 0), VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(v), 4, EP4, 0), VIRTIO_IOMMU_S_OK);
    for (uint64_t i = 0; i < 5; i++) {
        assert_int_equal(vdrv_map(VDRV_LOCAL(v), 1, i * 0x10000,
                                  i * 0x10000 + 0x1fff, i << 20, RW),
                         VIRTIO_IOMMU_S_OK);
        assert_int_equal(vdrv_map(VDRV_LOCAL(v), 2, i * 0x8000,
                                  i * 0x8000 + 0xfff, i << 24,
                                  VIRTIO_IOMMU_MAP_F_WRITE),
                         VIRTIO_IOMMU_S_OK);
        assert_int_equal(vdrv_map(VDRV_LOCAL(v), 4, i * 0x4000,
                                  i * 0x4000 + 0xfff, i << 12, 0),
                         VIRTIO_IOMMU_S_OK);
    }
}

static void destroy(struct viommu *v, struct hosts *hs)
{
    viommu_free(v);
    hostsim_destroy(&hs->h[0]);
    hostsim_destroy(&hs->h[1]);
}

static void test_host_contexts_get_the_mappings(void **state)
{
    struct hosts src, dst;
    struct viommu *a = host_device(&src), *b = host_device(&dst);
    struct stream first, second;

    host_world(a);
    save(a, &first);
    assert_int_equal(restore(b, first.data, first.len), 0);
    assert_hosts_hold(b, &dst);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(dst.h[i].nr_maps, 5);
        assert_int_equal(dst.h[i].nr_maps, src.h[i].nr_maps);
        for (size_t k = 0; k < 5; k++) {
            assert_int_equal(dst.h[i].maps[k].iova, src.h[i].maps[k].iova);
            assert_int_equal(dst.h[i].maps[k].last, src.h[i].maps[k].last);
            assert_int_equal(dst.h[i].maps[k].gpa, src.h[i].maps[k].gpa);
            assert_int_equal(dst.h[i].maps[k].flags, src.h[i].maps[k].flags);
        }
    }
    save(b, &second);
    assert_same_bytes(&first, &second);

    /* The guest goes on; the contexts follow. */
    assert_int_equal(vdrv_unmap(VDRV_LOCAL(b), 1, 0, 0x1fff),
                     VIRTIO_IOMMU_S_OK);
    assert_int_equal(vdrv_detach(VDRV_LOCAL(b), 2, EP3), VIRTIO_IOMMU_S_OK);
    assert_hosts_hold(b, &dst);
    assert_int_equal(dst.h[1].nr_maps, 0);
    free(first.data);
    free(second.data);
    destroy(a, &src);
    destroy(b, &dst);
}

/* Whichever host call fails, the restore is refused with the host's error
 * as a request would get it, and every context is as before. */
static void test_host_failure_changes_nothing(void **state)
{
    static const struct {
        int host, expected;
    } errs[] = {{-ENOMEM, -ENOMEM}, {-EIO, -EREMOTEIO}, {-ERANGE, -ERANGE}};
    struct hosts src;
    struct viommu *a = host_device(&src);
    struct stream s, empty, after;
    unsigned failures = 0;

    host_world(a);
    save(a, &s);
    for (size_t e = 0; e < sizeof(errs) / sizeof(errs[0]); e++) {
        for (unsigned k = 1;; k++) {
            struct hosts dst;
            struct viommu *b = host_device(&dst);
            dst.faults =
                (struct hostsim_faults){.fail_at = k, .err = errs[e].host};
            save(b, &empty);
            int err = restore(b, s.data, s.len);
            if (!dst.faults.fired) {
                assert_int_equal(err, 0);
                assert_hosts_hold(b, &dst);
                destroy(b, &dst);
                free(empty.data);
                break;
            }
            failures++;
            assert_int_equal(err, errs[e].expected);
            save(b, &after);
            assert_same_bytes(&empty, &after);
            for (int i = 0; i < 2; i++) {
                assert_int_equal(dst.h[i].nr_maps, 0);
                assert_int_equal(dst.h[i].nr_attached, 0);
            }
            struct viommu_stats st = {.size = sizeof(st)};
            assert_int_equal(viommu_get_stats(b, &st), 0);
            assert_int_equal(st.host_errors, 0);
            free(empty.data);
            free(after.data);
            destroy(b, &dst);
        }
    }
    /* Each call of the push failed once: 5 mappings and 2 attaches in
     * context 0, 5 mappings and 1 attach in context 1. */
    assert_int_equal(failures, 3 * (5 + 2 + 5 + 1));
    free(s.data);
    destroy(a, &src);
}

/* A failure while undoing a failure is counted, as for requests; the
 * device itself is unchanged. */
static void test_host_failure_while_undoing(void **state)
{
    struct hosts src, dst;
    struct viommu *a = host_device(&src), *b = host_device(&dst);
    struct stream s;
    struct viommu_stats st = {.size = sizeof(st)};

    host_world(a);
    save(a, &s);
    /* Context 0 takes EP1's 5 mappings and attach, then EP2's attach;
     * context 1 fails at its 2nd mapping, and again when it undoes the
     * 1st. */
    dst.faults = (struct hostsim_faults){
        .fail_at = 5 + 1 + 1 + 2, .fail_also = 5 + 1 + 1 + 3, .err = -ENOSPC};
    assert_int_equal(restore(b, s.data, s.len), -ENOMEM);
    assert_int_equal(viommu_get_stats(b, &st), 0);
    assert_int_equal(st.domains, 0);
    assert_int_equal(st.host_errors, 1);
    free(s.data);
    destroy(a, &src);
    destroy(b, &dst);
}

/* ---- refusals ---- */

static void test_truncated_at_every_byte(void **state)
{
    struct viommu *a = busy_device(), *b = fresh_device();
    struct stream s;

    save(a, &s);
    for (size_t len = 0; len < s.len; len++) {
        assert_refused(b, s.data, len, -EINVAL);
    }
    free(s.data);
    viommu_free(a);
    viommu_free(b);
}

static void test_every_byte_flipped(void **state)
{
    struct viommu *a = busy_device(), *b = fresh_device();
    struct stream s;

    save(a, &s);
    for (size_t i = 0; i < s.len; i++) {
        for (unsigned bit = 0; bit < 8; bit += 7) {
            s.data[i] ^= (uint8_t)(1u << bit);
            assert_refused(b, s.data, s.len, 0);
            s.data[i] ^= (uint8_t)(1u << bit);
        }
        s.data[i] ^= 0xff;
        assert_refused(b, s.data, s.len, 0);
        s.data[i] ^= 0xff;
    }
    assert_int_equal(restore(b, s.data, s.len), 0);
    free(s.data);
    viommu_free(a);
    viommu_free(b);
}

static void test_trailing_bytes(void **state)
{
    struct viommu *a = busy_device(), *b = fresh_device();
    struct stream s;

    save(a, &s);
    assert_int_equal(stream_write(&s, "x", 1), 0);
    assert_refused(b, s.data, s.len, -EINVAL);
    assert_string_equal(last_log,
                        "restore refused: bytes after the end of the stream");
    for (int i = 0; i < 20000; i++) {
        assert_int_equal(stream_write(&s, "garbage", 7), 0);
    }
    assert_refused(b, s.data, s.len, -EINVAL);
    free(s.data);
    viommu_free(a);
    viommu_free(b);
}

/* A device that is not fresh or reset refuses: -EBUSY. */
static void test_busy_destination(void **state)
{
    struct viommu *a = busy_device(), *b = fresh_device();
    struct viommu_translation t = {.size = sizeof(t)};
    struct stream s;

    save(a, &s);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(b), 1, EP3, 0), VIRTIO_IOMMU_S_OK);
    assert_refused(b, s.data, s.len, -EBUSY);
    assert_int_equal(vdrv_detach(VDRV_LOCAL(b), 1, EP3), VIRTIO_IOMMU_S_OK);
    assert_int_equal(viommu_translate(b, EP3, 0, VIOMMU_ACCESS_READ, &t),
                     -EFAULT);
    assert_refused(b, s.data, s.len, -EBUSY);
    assert_int_equal(viommu_reset(b, VIOMMU_RESET_DEVICE), 0);
    assert_int_equal(restore(b, s.data, s.len), 0);
    free(s.data);
    viommu_free(a);
    viommu_free(b);
}

/* The destination lacks an endpoint the stream names: -ENOENT. */
static void test_undeclared_endpoint(void **state)
{
    struct viommu *a = busy_device(), *b = fresh_device();
    struct viommu_endpoint_config ep = {.size = sizeof(ep), .id = EP9};
    struct viommu_translation t = {.size = sizeof(t)};
    struct stream s;

    assert_int_equal(viommu_endpoint_add(a, &ep), 0);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(a), 5, EP9, 0), VIRTIO_IOMMU_S_OK);
    save(a, &s);
    assert_refused(b, s.data, s.len, -ENOENT);
    assert_string_equal(
        last_log, "restore refused: endpoint 9 is not declared on this device");
    free(s.data);

    /* Named by a fault report only. */
    assert_int_equal(vdrv_detach(VDRV_LOCAL(a), 5, EP9), VIRTIO_IOMMU_S_OK);
    assert_int_equal(viommu_config_write(a, 36, &(uint8_t){0}, 1), 0);
    while (pop_fault(a, &(struct virtio_iommu_fault){0}) == 0) {
    }
    assert_int_equal(viommu_translate(a, EP9, 0, VIOMMU_ACCESS_READ, &t),
                     -EFAULT);
    save(a, &s);
    assert_refused(b, s.data, s.len, -ENOENT);
    free(s.data);
    viommu_free(a);
    viommu_free(b);
}

static void test_reader_and_writer_errors(void **state)
{
    struct viommu *a = busy_device(), *b = fresh_device();
    struct stream s, broken = {.fail_at = 100};

    assert_int_equal(viommu_save(a, stream_write, &broken), -ENOSPC);
    free(broken.data);
    save(a, &s);
    s.fail_at = 50;
    s.max_read = 10;
    struct stream before, after;
    save(b, &before);
    assert_int_equal(viommu_restore(b, stream_read, &s), -EIO);
    save(b, &after);
    assert_same_bytes(&before, &after);
    assert_int_equal(viommu_save(NULL, stream_write, &s), -EINVAL);
    assert_int_equal(viommu_restore(b, NULL, &s), -EINVAL);
    free(s.data);
    free(before.data);
    free(after.data);
    viommu_free(a);
    viommu_free(b);
}

/* ---- hostile streams, well formed but wrong ---- */

#define MAX_ITEMS 16

/* A stream described field by field, written as the format says (an
 * encoder of its own, so the tests check the format too). Counts may say
 * more than the arrays hold: only what they hold is written. */
struct spec {
    char magic[8];
    uint32_t version;
    uint64_t features;
    uint8_t bypass;
    uint32_t nr_att;
    uint32_t att[MAX_ITEMS][2];
    uint32_t nr_domains;
    struct {
        uint32_t id, flags;
        uint64_t nr_maps;
        struct {
            uint64_t start, end, phys;
            uint32_t flags;
        } maps[MAX_ITEMS];
    } dom[MAX_ITEMS];
    uint32_t nr_faults;
    uint64_t dropped;
    struct {
        uint8_t reason;
        uint32_t flags, ep;
        uint64_t address;
    } faults[MAX_ITEMS];
    int64_t length_error; /* added to the length field */
};

struct encoder {
    struct stream s;
    uint64_t hash;
};

static void enc(struct encoder *e, uint64_t x, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++) {
        uint8_t b = (uint8_t)(x >> (8 * i));
        e->hash = (e->hash ^ b) * 0x100000001b3ULL;
        assert_int_equal(stream_write(&e->s, &b, 1), 0);
    }
}

static size_t min_items(uint64_t n)
{
    return n < MAX_ITEMS ? (size_t)n : MAX_ITEMS;
}

static struct stream encode(const struct spec *sp)
{
    struct encoder e = {.hash = 0xcbf29ce484222325ULL};

    for (int i = 0; i < 8; i++) {
        enc(&e, (uint8_t)sp->magic[i], 1);
    }
    enc(&e, sp->version, 4);
    enc(&e, sp->features, 8);
    enc(&e, sp->bypass, 1);
    enc(&e, sp->nr_att, 4);
    for (size_t i = 0; i < min_items(sp->nr_att); i++) {
        enc(&e, sp->att[i][0], 4);
        enc(&e, sp->att[i][1], 4);
    }
    enc(&e, sp->nr_domains, 4);
    for (size_t i = 0; i < min_items(sp->nr_domains); i++) {
        enc(&e, sp->dom[i].id, 4);
        enc(&e, sp->dom[i].flags, 4);
        enc(&e, sp->dom[i].nr_maps, 8);
        for (size_t k = 0; k < min_items(sp->dom[i].nr_maps); k++) {
            enc(&e, sp->dom[i].maps[k].start, 8);
            enc(&e, sp->dom[i].maps[k].end, 8);
            enc(&e, sp->dom[i].maps[k].phys, 8);
            enc(&e, sp->dom[i].maps[k].flags, 4);
        }
    }
    enc(&e, sp->nr_faults, 4);
    enc(&e, sp->dropped, 8);
    for (size_t i = 0; i < min_items(sp->nr_faults); i++) {
        enc(&e, sp->faults[i].reason, 1);
        enc(&e, sp->faults[i].flags, 4);
        enc(&e, sp->faults[i].ep, 4);
        enc(&e, sp->faults[i].address, 8);
    }
    enc(&e, e.s.len + (uint64_t)sp->length_error, 8);
    enc(&e, e.hash, 8);
    return e.s;
}

static void hostile_config(struct viommu_config *c)
{
    test_config(c);
    c->domain_start = 1;
    c->domain_end = 100;
    c->input_end = (1ULL << 48) - 1;
    c->max_domains = 4;
    c->max_mappings_per_domain = 8;
    c->max_mappings = 12;
}

/* Valid for device(hostile_config): EP1 and EP2 in domain 1 with two
 * mappings, EP3 in bypass domain 2, one fault report. */
static void baseline(struct spec *sp, uint64_t features)
{
    memset(sp, 0, sizeof(*sp));
    memcpy(sp->magic, "VIOMMUST", 8);
    sp->version = 1;
    sp->features = features;
    sp->nr_att = 3;
    sp->att[0][0] = EP1, sp->att[0][1] = 1;
    sp->att[1][0] = EP2, sp->att[1][1] = 1;
    sp->att[2][0] = EP3, sp->att[2][1] = 2;
    sp->nr_domains = 2;
    sp->dom[0].id = 1;
    sp->dom[0].nr_maps = 2;
    sp->dom[0].maps[0].start = 0x10000;
    sp->dom[0].maps[0].end = 0x10fff;
    sp->dom[0].maps[0].phys = 0x80000;
    sp->dom[0].maps[0].flags = RW;
    sp->dom[0].maps[1].start = 0x20000;
    sp->dom[0].maps[1].end = 0x21fff;
    sp->dom[0].maps[1].phys = 0x90000;
    sp->dom[0].maps[1].flags = VIRTIO_IOMMU_MAP_F_READ;
    sp->dom[1].id = 2;
    sp->dom[1].flags = 1;
    sp->nr_faults = 1;
    sp->dropped = 3;
    sp->faults[0].reason = VIRTIO_IOMMU_FAULT_R_MAPPING;
    sp->faults[0].flags =
        VIRTIO_IOMMU_FAULT_F_READ | VIRTIO_IOMMU_FAULT_F_ADDRESS;
    sp->faults[0].ep = EP1;
    sp->faults[0].address = 0x5000;
}

/* Mapping k of domain i: one page at k * 0x10000. */
static void page(struct spec *sp, int i, int k)
{
    sp->dom[i].maps[k].start = 0x100000000ULL + (uint64_t)k * 0x10000;
    sp->dom[i].maps[k].end = sp->dom[i].maps[k].start + 0xfff;
    sp->dom[i].maps[k].phys = 0;
    sp->dom[i].maps[k].flags = RW;
}

#define MAP0 dom[0].maps[0]
#define MMIO_BIT (1ULL << VIRTIO_IOMMU_F_MMIO)
#define BYPASS_BIT (1ULL << VIRTIO_IOMMU_F_BYPASS_CONFIG)

static void h_valid(struct spec *sp)
{
    (void)sp;
}
static void h_magic(struct spec *sp)
{
    sp->magic[0] = 'X';
}
static void h_version_2(struct spec *sp)
{
    sp->version = 2;
}
static void h_version_0(struct spec *sp)
{
    sp->version = 0;
}
static void h_legacy_bypass_feature(struct spec *sp)
{
    sp->features |= 1ULL << VIRTIO_IOMMU_F_BYPASS;
}
static void h_no_version_1(struct spec *sp)
{
    sp->features &= ~VIOMMU_F_VERSION_1;
}
static void h_config_bypass_2(struct spec *sp)
{
    sp->bypass = 2;
}
static void h_attachment_repeated(struct spec *sp)
{
    sp->att[1][0] = EP1;
}
static void h_attachments_out_of_order(struct spec *sp)
{
    sp->att[0][0] = EP2;
    sp->att[1][0] = EP1;
}
static void h_attachment_undeclared(struct spec *sp)
{
    sp->att[2][0] = 42;
}
static void h_attachment_domain_0(struct spec *sp)
{
    sp->att[2][1] = 0;
    sp->dom[1].id = 0;
}
static void h_domain_101(struct spec *sp)
{
    sp->dom[1].id = 101;
}
static void h_domain_twice(struct spec *sp)
{
    sp->dom[1].id = 1;
}
static void h_domain_flags(struct spec *sp)
{
    sp->dom[0].flags = 2;
}
static void h_bypass_without_feature(struct spec *sp)
{
    sp->features &= ~BYPASS_BIT;
}
static void h_bypass_domain_mapped(struct spec *sp)
{
    sp->dom[0].flags = 1;
}
static void h_domain_without_endpoint(struct spec *sp)
{
    sp->nr_att = 2;
}
static void h_endpoint_in_missing_domain(struct spec *sp)
{
    sp->nr_att = 4;
    sp->att[3][0] = EP4, sp->att[3][1] = 5;
}
static void h_endpoint_in_skipped_domain(struct spec *sp)
{
    sp->att[1][1] = 2;
    sp->att[2][1] = 3;
    sp->dom[1].flags = 0;
    sp->dom[1].id = 3;
}
static void h_misaligned_start(struct spec *sp)
{
    sp->MAP0.start += 0x800;
}
static void h_misaligned_end(struct spec *sp)
{
    sp->MAP0.end -= 0x800;
}
static void h_misaligned_phys(struct spec *sp)
{
    sp->MAP0.phys += 0x10;
}
static void h_end_before_start(struct spec *sp)
{
    sp->MAP0.end = sp->MAP0.start - 1;
}
static void h_overlap(struct spec *sp)
{
    sp->dom[0].maps[1].start = 0x10000;
}
static void h_mappings_out_of_order(struct spec *sp)
{
    sp->MAP0.start = 0x30000;
    sp->MAP0.end = 0x30fff;
}
static void h_mmio_without_feature(struct spec *sp)
{
    sp->features &= ~MMIO_BIT;
    sp->MAP0.flags |= VIRTIO_IOMMU_MAP_F_MMIO;
}
static void h_unknown_map_flag(struct spec *sp)
{
    sp->MAP0.flags |= 8;
}
static void h_msi_window(struct spec *sp)
{
    sp->dom[0].maps[1].start = 0xfee00000;
    sp->dom[0].maps[1].end = 0xfee00fff;
}
static void h_reserved_region(struct spec *sp)
{
    sp->nr_att = 4;
    sp->att[3][0] = EP4, sp->att[3][1] = 1;
    sp->MAP0.start = 0x1ff000;
    sp->MAP0.end = 0x1fffff;
}
static void h_phys_wraps(struct spec *sp)
{
    sp->MAP0.phys = 0xfffffffffffff000;
    sp->MAP0.end = sp->MAP0.start + 0x1fff;
}
static void h_outside_input_range(struct spec *sp)
{
    sp->dom[0].maps[1].start = 1ULL << 48;
    sp->dom[0].maps[1].end = (1ULL << 48) + 0xfff;
}
static void h_group_split(struct spec *sp)
{
    sp->nr_att = 5;
    sp->att[3][0] = EP5, sp->att[3][1] = 1;
    sp->att[4][0] = EP6, sp->att[4][1] = 2;
}
static void h_too_many_domains(struct spec *sp)
{
    sp->nr_domains = 5;
}
static void h_too_many_mappings_in_domain(struct spec *sp)
{
    sp->dom[0].nr_maps = 9;
    for (int k = 2; k < 9; k++) {
        page(sp, 0, k);
    }
}
static void h_too_many_mappings(struct spec *sp)
{
    sp->dom[0].nr_maps = 8;
    for (int k = 2; k < 8; k++) {
        page(sp, 0, k);
    }
    sp->att[2][1] = 3;
    sp->dom[1].id = 3;
    sp->dom[1].flags = 0;
    sp->dom[1].nr_maps = 5;
    for (int k = 0; k < 5; k++) {
        page(sp, 1, k);
    }
}
static void h_huge_mapping_count(struct spec *sp)
{
    sp->dom[0].nr_maps = 1ULL << 62;
}
static void h_huge_attachment_count(struct spec *sp)
{
    sp->nr_att = UINT32_MAX;
}
static void h_too_many_faults(struct spec *sp)
{
    sp->nr_faults = 5;
}
static void h_fault_undeclared(struct spec *sp)
{
    sp->faults[0].ep = 42;
}
static void h_fault_reason(struct spec *sp)
{
    sp->faults[0].reason = 3;
}
static void h_fault_flags(struct spec *sp)
{
    sp->faults[0].flags |= 0x10;
}
static void h_length_short(struct spec *sp)
{
    sp->length_error = -1;
}
static void h_length_long(struct spec *sp)
{
    sp->length_error = 1;
}

static const struct {
    const char *name;
    void (*change)(struct spec *sp);
    int expected; /* 0: any refusal */
} hostile[] = {
    {"valid", h_valid, 0},
    {"bad magic", h_magic, -EINVAL},
    {"format version 2", h_version_2, -EPROTO},
    {"format version 0", h_version_0, -EPROTO},
    {"feature not offered", h_legacy_bypass_feature, -EINVAL},
    {"no VERSION_1", h_no_version_1, -EINVAL},
    {"config bypass 2", h_config_bypass_2, -EINVAL},
    {"endpoint attached twice", h_attachment_repeated, -EINVAL},
    {"attachments out of order", h_attachments_out_of_order, -EINVAL},
    {"undeclared endpoint", h_attachment_undeclared, -ENOENT},
    {"domain 0, outside domain_range", h_attachment_domain_0, -EINVAL},
    {"domain 101, outside domain_range", h_domain_101, -EINVAL},
    {"domain listed twice", h_domain_twice, -EINVAL},
    {"unknown domain flag", h_domain_flags, -EINVAL},
    {"bypass domain without BYPASS_CONFIG", h_bypass_without_feature, -EINVAL},
    {"bypass domain with mappings", h_bypass_domain_mapped, -EINVAL},
    {"domain without endpoint", h_domain_without_endpoint, -EINVAL},
    {"endpoint in a domain after the last", h_endpoint_in_missing_domain,
     -EINVAL},
    {"endpoint in a domain between two", h_endpoint_in_skipped_domain, -EINVAL},
    {"misaligned start", h_misaligned_start, -EINVAL},
    {"misaligned end", h_misaligned_end, -EINVAL},
    {"misaligned physical address", h_misaligned_phys, -EINVAL},
    {"end before start", h_end_before_start, -EINVAL},
    {"overlapping mappings", h_overlap, -EINVAL},
    {"mappings out of order", h_mappings_out_of_order, -EINVAL},
    {"MMIO flag without the MMIO feature", h_mmio_without_feature, -EINVAL},
    {"unknown mapping flag", h_unknown_map_flag, -EINVAL},
    {"mapping in the MSI window", h_msi_window, -EINVAL},
    {"mapping in an endpoint's reserved region", h_reserved_region, -EINVAL},
    {"physical range wraps", h_phys_wraps, -EINVAL},
    {"mapping outside input_range", h_outside_input_range, -EINVAL},
    {"host group split", h_group_split, -EINVAL},
    {"domains over max_domains", h_too_many_domains, -ENOMEM},
    {"mappings over max_mappings_per_domain", h_too_many_mappings_in_domain,
     -ENOMEM},
    {"mappings over max_mappings", h_too_many_mappings, -ENOMEM},
    {"2^62 mappings", h_huge_mapping_count, -ENOMEM},
    {"2^32-1 attachments", h_huge_attachment_count, 0},
    {"faults over max_pending_faults", h_too_many_faults, -ENOMEM},
    {"fault of an undeclared endpoint", h_fault_undeclared, -ENOENT},
    {"unknown fault reason", h_fault_reason, -EINVAL},
    {"unknown fault flag", h_fault_flags, -EINVAL},
    {"length field short", h_length_short, -EINVAL},
    {"length field long", h_length_long, -EINVAL},
};

static void test_hostile_streams(void **state)
{
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        struct viommu *v = device(hostile_config);
        struct spec sp;
        baseline(&sp, viommu_device_features(v));
        hostile[i].change(&sp);
        struct stream s = encode(&sp);
        print_message("# %s\n", hostile[i].name);
        if (hostile[i].change == h_valid) {
            assert_int_equal(restore(v, s.data, s.len), 0);
            struct stream again;
            save(v, &again);
            assert_same_bytes(&s, &again);
            free(again.data);
        } else {
            assert_refused(v, s.data, s.len, hostile[i].expected);
        }
        free(s.data);
        viommu_free(v);
    }
}

/* ---- a million mappings in bounded memory ---- */

#define MILLION 1000000u
#define BUFFER_BOUND (64u * 1024) /* what a save or restore may add */

struct fd_stream {
    int fd;
    size_t base, peak; /* heap before, and its peak during the calls */
};

static int fd_write(void *opaque, const void *buf, size_t len)
{
    struct fd_stream *s = opaque;
    size_t h = heap_used();

    s->peak = h > s->peak ? h : s->peak;
    return write(s->fd, buf, len) == (ssize_t)len ? 0 : -EIO;
}

static ssize_t fd_read(void *opaque, void *buf, size_t len)
{
    struct fd_stream *s = opaque;
    size_t h = heap_used();

    s->peak = h > s->peak ? h : s->peak;
    ssize_t n = read(s->fd, buf, len);
    return n < 0 ? -errno : n;
}

static void big_config(struct viommu_config *c)
{
    c->max_mappings_per_domain = MILLION;
    c->max_mappings = MILLION;
}

static void assert_same_files(int a, int b)
{
    static uint8_t x[1 << 16], y[1 << 16];
    off_t la = lseek(a, 0, SEEK_END), lb = lseek(b, 0, SEEK_END);

    assert_int_equal(la, lb);
    for (off_t off = 0; off < la; off += (off_t)sizeof(x)) {
        ssize_t n = pread(a, x, sizeof(x), off);
        assert_true(n > 0);
        assert_int_equal(pread(b, y, sizeof(y), off), n);
        assert_memory_equal(x, y, (size_t)n);
    }
}

static void test_million_mappings_bounded_memory(void **state)
{
    struct viommu *a = new_device(big_config);
    struct fd_stream out = {memfd_create("first", MFD_CLOEXEC), 0, 0};
    struct fd_stream again = {memfd_create("second", MFD_CLOEXEC), 0, 0};
    struct viommu_translation ta = {.size = sizeof(ta)},
                              tb = {.size = sizeof(tb)};

    assert_true(out.fd >= 0 && again.fd >= 0);
    assert_int_equal(vdrv_attach(VDRV_LOCAL(a), 1, EP1, 0), VIRTIO_IOMMU_S_OK);
    for (uint64_t i = 0; i < MILLION; i++) {
        uint64_t iova = (1ULL << 32) + i * 0x2000;
        assert_int_equal(vdrv_map(VDRV_LOCAL(a), 1, iova, iova + 0xfff,
                                  (i * 7919) << 12, RW),
                         VIRTIO_IOMMU_S_OK);
    }

    out.base = out.peak = heap_used();
    assert_int_equal(viommu_save(a, fd_write, &out), 0);
    size_t save_extra = out.peak - out.base;
    off_t size = lseek(out.fd, 0, SEEK_END);
    assert_true(size > 28 * (off_t)MILLION);
    assert_true(size < 29 * (off_t)MILLION);

    struct viommu *b = new_device(big_config);
    assert_int_equal(lseek(out.fd, 0, SEEK_SET), 0);
    out.base = out.peak = heap_used();
    assert_int_equal(viommu_restore(b, fd_read, &out), 0);
    size_t after = heap_used();
    size_t held = after - out.base;
    size_t restore_extra = out.peak > after ? out.peak - after : 0;
    print_message("# save: %zu bytes of heap beyond the state; restore: %zu "
                  "beyond the %zu bytes of state (%.1f per mapping)\n",
                  save_extra, restore_extra, held, (double)held / MILLION);
    assert_true(save_extra <= BUFFER_BOUND);
    assert_true(restore_extra <= BUFFER_BOUND);
    assert_true(held < 100 * (size_t)MILLION);

    assert_int_equal(viommu_save(b, fd_write, &again), 0);
    assert_same_files(out.fd, again.fd);
    for (uint64_t i = 0; i < MILLION; i += 997) {
        uint64_t iova = (1ULL << 32) + i * 0x2000 + (i & 0xfff);
        assert_int_equal(
            viommu_translate(a, EP1, iova, VIOMMU_ACCESS_WRITE, &ta), 0);
        assert_int_equal(
            viommu_translate(b, EP1, iova, VIOMMU_ACCESS_WRITE, &tb), 0);
        assert_same_translation(&ta, &tb);
    }
    close(out.fd);
    close(again.fd);
    viommu_free(a);
    viommu_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_same_bytes_same_answers),
        cmocka_unit_test(test_round_trip_short_reads),
        cmocka_unit_test(test_round_trip_empty),
        cmocka_unit_test(test_restore_after_reset),
        cmocka_unit_test(test_host_contexts_get_the_mappings),
        cmocka_unit_test(test_host_failure_changes_nothing),
        cmocka_unit_test(test_host_failure_while_undoing),
        cmocka_unit_test(test_truncated_at_every_byte),
        cmocka_unit_test(test_every_byte_flipped),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_busy_destination),
        cmocka_unit_test(test_undeclared_endpoint),
        cmocka_unit_test(test_reader_and_writer_errors),
        cmocka_unit_test(test_hostile_streams),
        cmocka_unit_test(test_million_mappings_bounded_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
