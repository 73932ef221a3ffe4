/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Mapping store benchmark: viommu against the structure QEMU's virtio-iommu
 * uses (a GTree keyed by an IOVA interval, with a key and a value allocated
 * per mapping), on the same random 4 KiB mappings in one run.
 *
 * viommu is measured through its public API the way a VMM drives it: MAP and
 * UNMAP as guest request bytes through viommu_handle_request (decoding and
 * validation included), lookups through viommu_translate (endpoint lookup
 * and permission check included). The baseline does what QEMU's handlers
 * do with the tree and nothing else. Each figure is the best of 3 runs.
 *
 * Lookups come at random over all the mappings (every one a cache miss at
 * a million of them), or over a hot set of a few pages, as a device's DMA
 * goes back to the same buffers.
 *
 * Usage: bench-mapping [max_mappings]   (default 1000000)
 */
#include <endian.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>
#include <linux/virtio_iommu.h>

#include "bench.h"
#include "driver.h"

#define PAGE 0x1000ull
#define REPEAT 3
#define HOT_PAGES 16

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A page-aligned IOVA in a 48-bit space. */
static uint64_t rnd_iova(void)
{
    return (rnd() >> 16) & ~(PAGE - 1);
}

/* ---- baseline: QEMU's interval-keyed GTree ---- */

struct interval {
    uint64_t low, high;
};

struct qmapping {
    uint64_t phys_addr;
    uint32_t flags;
};

static gint interval_cmp(gconstpointer a, gconstpointer b, gpointer data)
{
    const struct interval *x = a, *y = b;

    if (x->high < y->low) {
        return -1;
    } else if (y->high < x->low) {
        return 1;
    }
    return 0;
}

static GTree *base_new(void)
{
    return g_tree_new_full(interval_cmp, NULL, g_free, g_free);
}

static bool base_map(GTree *t, uint64_t iova)
{
    struct interval *key = g_new0(struct interval, 1);
    struct qmapping *m;

    key->low = iova;
    key->high = iova + PAGE - 1;
    if (g_tree_lookup(t, key) != NULL) {
        g_free(key);
        return false;
    }
    m = g_new0(struct qmapping, 1);
    m->phys_addr = iova ^ 0x40000000;
    m->flags = VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE;
    g_tree_insert(t, key, m);
    return true;
}

static void base_unmap(GTree *t, uint64_t iova)
{
    struct interval range = {iova, iova + PAGE - 1};
    gpointer key, value;

    /* As QEMU: look up intersecting mappings until none is left. */
    while (g_tree_lookup_extended(t, &range, &key, &value)) {
        g_tree_remove(t, key);
    }
}

static uint64_t base_translate(GTree *t, uint64_t iova)
{
    struct interval key = {iova, iova};
    gpointer k, value;

    if (!g_tree_lookup_extended(t, &key, &k, &value)) {
        return 0;
    }
    return ((struct qmapping *)value)->phys_addr +
           (iova - ((struct interval *)k)->low);
}

/* ---- viommu ---- */

static struct viommu *dev_new(size_t n)
{
    struct viommu_config cfg = {
        .size = sizeof(cfg),
        .max_mappings = (uint32_t)(n + 16),
        .max_mappings_per_domain = (uint32_t)(n + 16),
    };
    struct viommu_endpoint_config ep = {.size = sizeof(ep), .id = 1};
    struct viommu *v = viommu_new(&cfg);

    if (v == NULL || viommu_endpoint_add(v, &ep) != 0 ||
        vdrv_attach(VDRV_LOCAL(v), 1, 1, 0) != VIRTIO_IOMMU_S_OK) {
        fprintf(stderr, "bench: cannot set up the device\n");
        exit(1);
    }
    return v;
}

static bool dev_map(struct viommu *v, uint64_t iova)
{
    return vdrv_map(VDRV_LOCAL(v), 1, iova, iova + PAGE - 1, iova ^ 0x40000000,
                    VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE) ==
           VIRTIO_IOMMU_S_OK;
}

static uint64_t dev_translate(struct viommu *v, uint64_t iova)
{
    struct viommu_translation t = {.size = sizeof(t)};

    if (viommu_translate(v, 1, iova, VIOMMU_ACCESS_READ, &t) != 0) {
        return 0;
    }
    return t.gpa;
}

/* ---- the workloads ---- */

struct result {
    double dev, base;
};

/* Best times of viommu and of the baseline translating the same probes. */
static struct result time_translate(struct viommu *v, GTree *t,
                                    const uint64_t *probe, size_t cnt,
                                    uint64_t *sink)
{
    struct result best = {1e30, 1e30};

    for (int r = 0; r < REPEAT; r++) {
        double t0 = now();
        for (size_t i = 0; i < cnt; i++) {
            *sink += dev_translate(v, probe[i]);
        }
        double t1 = now();
        for (size_t i = 0; i < cnt; i++) {
            *sink += base_translate(t, probe[i]);
        }
        double t2 = now();
        best.dev = t1 - t0 < best.dev ? t1 - t0 : best.dev;
        best.base = t2 - t1 < best.base ? t2 - t1 : best.base;
    }
    return best;
}

int main(int argc, char **argv)
{
    size_t max_n = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
    const size_t sizes[] = {1000, 100000, 1000000};
    const size_t lookups = 1000000, pairs = 200000;
    uint64_t sink = 0;

    printf("viommu mapping benchmark: viommu vs QEMU-style GTree keyed by "
           "interval\n");
    printf("random 4 KiB mappings in a 48-bit IOVA space; ops/s, best of "
           "%d\n\n",
           REPEAT);
    printf("%-26s %9s %14s %14s %8s\n", "workload", "mappings", "viommu",
           "GTree", "ratio");
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t n = sizes[s];
        if (n > max_n) {
            break;
        }
        uint64_t *live = malloc(n * sizeof(*live));
        if (live == NULL) {
            return 1;
        }

        /* Populate both with the same IOVAs, measuring heap growth. */
        size_t h0 = heap_used();
        struct viommu *v = dev_new(n);
        size_t count = 0;
        while (count < n) {
            uint64_t iova = rnd_iova();
            if (dev_map(v, iova)) {
                live[count++] = iova;
            }
        }
        size_t h1 = heap_used();
        GTree *t = base_new();
        for (size_t i = 0; i < n; i++) {
            base_map(t, live[i]);
        }
        size_t h2 = heap_used();

        /* Lookups of live IOVAs at random offsets. */
        uint64_t *probe = malloc(lookups * sizeof(*probe));
        for (size_t i = 0; i < lookups; i++) {
            probe[i] = live[rnd() % n] + rnd() % PAGE;
        }
        struct result xl = time_translate(v, t, probe, lookups, &sink);

        /* As many lookups, at random offsets of a few distinct live pages
         * taken in random order: the buffers a device's DMA returns to. */
        uint64_t hot[HOT_PAGES];
        for (size_t i = 0; i < HOT_PAGES; i++) {
            hot[i] = live[i * (n / HOT_PAGES)];
        }
        for (size_t i = 0; i < lookups; i++) {
            probe[i] = hot[rnd() % HOT_PAGES] + rnd() % PAGE;
        }
        struct result hs = time_translate(v, t, probe, lookups, &sink);

        /* MAP then UNMAP of a fresh page (from the upper half of the space,
         * where live ones rarely are), n mappings live. */
        uint64_t *fresh = probe; /* reused: pairs <= lookups */
        for (size_t i = 0; i < pairs; i++) {
            fresh[i] = rnd_iova() | (1ull << 47);
        }
        struct result mu = {1e30, 1e30};
        for (int r = 0; r < REPEAT; r++) {
            double t0 = now();
            for (size_t i = 0; i < pairs; i++) {
                if (dev_map(v, fresh[i])) {
                    sink += vdrv_unmap(VDRV_LOCAL(v), 1, fresh[i],
                                       fresh[i] + PAGE - 1);
                }
            }
            double t1 = now();
            for (size_t i = 0; i < pairs; i++) {
                if (base_map(t, fresh[i])) {
                    base_unmap(t, fresh[i]);
                }
            }
            double t2 = now();
            mu.dev = t1 - t0 < mu.dev ? t1 - t0 : mu.dev;
            mu.base = t2 - t1 < mu.base ? t2 - t1 : mu.base;
        }

        double bytes_dev = (double)(h1 - h0) / n;
        double bytes_base = (double)(h2 - h1) / n;
        printf("%-26s %9zu %14.0f %14.0f %7.1fx\n", "translate", n,
               lookups / xl.dev, lookups / xl.base, xl.base / xl.dev);
        printf("%-26s %9zu %14.0f %14.0f %7.1fx\n", "translate hot set", n,
               lookups / hs.dev, lookups / hs.base, hs.base / hs.dev);
        printf("%-26s %9zu %14.0f %14.0f %7.1fx\n", "MAP+UNMAP pairs", n,
               pairs / mu.dev, pairs / mu.base, mu.base / mu.dev);
        printf("%-26s %9zu %14.1f %14.1f %7.2fx\n", "bytes per mapping", n,
               bytes_dev, bytes_base, bytes_dev / bytes_base);

        g_tree_destroy(t);
        viommu_free(v);
        free(probe);
        free(live);
    }
    printf("\n(ratio: viommu speed over GTree's; for bytes, viommu's size "
           "over GTree's)\n");
    return sink == 42 ? 2 : 0;
}
