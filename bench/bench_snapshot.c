/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Save and restore benchmark: a device with one domain of random 4 KiB
 * mappings in a 48-bit IOVA space (made by MAP requests, as a guest would)
 * is saved into memory, then restored into a fresh device with the same
 * endpoint: emulated, then behind a host context (the restore then also
 * pushes every mapping into it; the context only counts them, so that the
 * library's work is measured, not a host's). Each time is the best of 3.
 *
 * Peak extra memory is what the call holds beyond the state itself: for a
 * save, the heap's peak during the call over the heap before it; for a
 * restore, its peak over the heap after it (which holds the new state).
 * The heap is sampled at every callback of the stream.
 *
 * Usage: bench-snapshot [mappings]   (default 1000000)
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/virtio_iommu.h>

#include "bench.h"
#include "driver.h"

#define PAGE 0x1000ull
#define REPEAT 3
#define ENDPOINT 1u
#define RW (VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE)

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* The stream, in a buffer allocated once before anything is measured. */
struct stream {
    uint8_t *data;
    size_t len, cap, pos;
    size_t peak; /* of the heap, sampled at each call */
};

static void sample(struct stream *s)
{
    size_t h = heap_used();

    s->peak = h > s->peak ? h : s->peak;
}

static int stream_write(void *opaque, const void *buf, size_t len)
{
    struct stream *s = opaque;

    sample(s);
    if (len > s->cap - s->len) {
        return -ENOSPC;
    }
    memcpy(s->data + s->len, buf, len);
    s->len += len;
    return 0;
}

static ssize_t stream_read(void *opaque, void *buf, size_t len)
{
    struct stream *s = opaque;

    sample(s);
    if (len > s->len - s->pos) {
        len = s->len - s->pos;
    }
    memcpy(buf, s->data + s->pos, len);
    s->pos += len;
    return (ssize_t)len;
}

struct host {
    size_t maps;
};

static int host_attach(void *ctx, uint32_t ep, bool identity)
{
    return 0;
}

static int host_detach(void *ctx, uint32_t ep)
{
    return 0;
}

static int host_map(void *ctx, uint64_t iova, uint64_t last, uint64_t gpa,
                    uint32_t flags)
{
    ((struct host *)ctx)->maps++;
    return 0;
}

static int host_unmap(void *ctx, uint64_t iova, uint64_t last)
{
    ((struct host *)ctx)->maps--;
    return 0;
}

static const struct viommu_host_ops host_ops = {
    .size = sizeof(struct viommu_host_ops),
    .attach = host_attach,
    .detach = host_detach,
    .map = host_map,
    .unmap = host_unmap,
};

static struct viommu *device(size_t n, struct host *host)
{
    struct viommu_config cfg = {
        .size = sizeof(cfg),
        .max_mappings = (uint32_t)n,
        .max_mappings_per_domain = (uint32_t)n,
    };
    struct viommu_endpoint_config ep = {.size = sizeof(ep), .id = ENDPOINT};
    struct viommu *v = viommu_new(&cfg);

    if (host != NULL) {
        ep.host_ops = &host_ops;
        ep.host_ctx = host;
    }
    if (v == NULL || viommu_endpoint_add(v, &ep) != 0) {
        fprintf(stderr, "bench: cannot set up the device\n");
        exit(1);
    }
    return v;
}

struct result {
    double seconds;
    size_t extra;
};

static void keep_best(struct result *best, double seconds, size_t extra)
{
    if (seconds < best->seconds) {
        best->seconds = seconds;
    }
    if (extra > best->extra) {
        best->extra = extra;
    }
}

static struct result bench_save(struct viommu *v, struct stream *s)
{
    struct result best = {1e30, 0};

    for (int r = 0; r < REPEAT; r++) {
        s->len = 0;
        size_t before = heap_used();
        s->peak = before;
        double t0 = now();
        if (viommu_save(v, stream_write, s) != 0) {
            fprintf(stderr, "bench: save failed\n");
            exit(1);
        }
        keep_best(&best, now() - t0, s->peak - before);
    }
    return best;
}

/* Restores into fresh devices; *state gets the bytes the state takes. */
static struct result bench_restore(struct stream *s, size_t n, bool with_host,
                                   size_t *state)
{
    struct result best = {1e30, 0};

    for (int r = 0; r < REPEAT; r++) {
        struct host host = {0};
        struct viommu *v = device(n, with_host ? &host : NULL);
        s->pos = 0;
        size_t before = heap_used();
        s->peak = before;
        double t0 = now();
        if (viommu_restore(v, stream_read, s) != 0) {
            fprintf(stderr, "bench: restore failed\n");
            exit(1);
        }
        double t = now() - t0;
        size_t after = heap_used();
        *state = after - before;
        keep_best(&best, t, s->peak > after ? s->peak - after : 0);
        if (with_host && host.maps != n) {
            fprintf(stderr, "bench: the host holds %zu mappings\n", host.maps);
            exit(1);
        }
        viommu_free(v);
    }
    return best;
}

/* One row; `ratio` is the baseline's time over this operation's. */
static void row(const char *what, size_t n, size_t bytes, struct result r,
                double baseline)
{
    printf("%-28s %9zu %9.1f %9.1f %9.2f %10.1f %7.1fx\n", what, n,
           r.seconds * 1e3, bytes / r.seconds / 1e6, (double)bytes / n,
           r.extra / 1024.0, baseline / r.seconds);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
    size_t state = 0;

    if (n == 0 || n > UINT32_MAX) {
        fprintf(stderr, "usage: bench-snapshot [mappings]\n");
        return 1;
    }
    struct viommu *v = device(n, NULL);
    if (vdrv_attach(VDRV_LOCAL(v), 1, ENDPOINT, 0) != VIRTIO_IOMMU_S_OK) {
        return 1;
    }
    /* The baseline: the same state made by MAP requests, as a guest
     * replaying its mappings into a device without restore would. */
    double t0 = now();
    for (size_t count = 0; count < n;) {
        uint64_t iova = (rnd() >> 16) & ~(PAGE - 1);
        count += vdrv_map(VDRV_LOCAL(v), 1, iova, iova + PAGE - 1,
                          iova ^ 0x40000000, RW) == VIRTIO_IOMMU_S_OK;
    }
    double replay = now() - t0;
    struct stream s = {.cap = 64 + 28 * n + 64};
    s.data = malloc(s.cap);
    if (s.data == NULL) {
        return 1;
    }
    memset(s.data, 0, s.cap);

    printf("viommu save/restore: one domain of %zu random 4 KiB mappings, "
           "best of %d\n",
           n, REPEAT);
    printf("made by: ./build/bench/bench-snapshot %zu  (or: meson test -C "
           "build --benchmark snapshot)\n\n",
           n);
    printf("%-28s %9s %9s %9s %9s %10s %8s\n", "operation", "mappings", "ms",
           "MB/s", "B/mapping", "extra KiB", "vs MAPs");
    printf("%-28s %9zu %9.1f %9s %9s %10s %7.1fx\n", "MAP requests (baseline)",
           n, replay * 1e3, "-", "-", "-", 1.0);
    struct result saved = bench_save(v, &s);
    row("save", n, s.len, saved, replay);
    struct result plain = bench_restore(&s, n, false, &state);
    row("restore (emulated endpoint)", n, s.len, plain, replay);
    struct result host = bench_restore(&s, n, true, &state);
    row("restore + push to a host", n, s.len, host, replay);
    printf("\n(MB/s and B/mapping: of the stream; extra KiB: peak heap "
           "beyond the state; the restored state takes %.1f bytes per "
           "mapping; vs MAPs: how many times faster than making the same "
           "state by MAP requests, in the same run)\n",
           (double)state / n);
    viommu_free(v);
    free(s.data);
    return 0;
}
