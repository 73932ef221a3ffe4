/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Request path benchmark. The same MAP and UNMAP request bytes are handled:
 *  - in process, by viommu_handle_request (the baseline);
 *  - by viommu-vhost-user through split rings, batched: the frontend posts
 *    128 requests (a full ring of two-descriptor chains) and kicks once;
 *  - by viommu-vhost-user one at a time, the way the Linux driver sends them:
 *    add one chain, kick, spin until the used index moves (its request
 *    queue has no interrupt).
 * Each figure is the best of 3 runs of about 0.5 s; every reply is checked.
 * Then the paced table: one request at a time with the guest's own work
 * between two (0, 10, 50, 200 us), kicking only when the device asks, with
 * the daemon's polling off and on: the round trip a guest sees (median,
 * 99th percentile) and the daemon's CPU time per request.
 *
 * Usage: bench-request   (VIOMMU_VHOST_USER names the daemon binary)
 */
#include <endian.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/virtio_iommu.h>
#include <linux/virtio_ring.h>

#include "bench.h"
#include "driver.h"
#include "frontend.h"

#define BATCH (FE_QUEUE_SIZE / 2)
#define REPEAT 3
#define RUN_SECONDS 0.5
#define ENDPOINT 8u
#define DOMAIN 1u

struct slot {
    uint64_t in, out; /* guest addresses */
};

/* Request i of a stream: MAP of a page, then UNMAP of the same page. */
static void make_request(unsigned i, struct virtio_iommu_req_map *map,
                         struct virtio_iommu_req_unmap *unmap, bool *is_map)
{
    uint64_t iova = 0x100000 + (uint64_t)(i / 2 % 4096) * 0x1000;

    *is_map = i % 2 == 0;
    *map = (struct virtio_iommu_req_map){
        .head.type = VIRTIO_IOMMU_T_MAP,
        .domain = htole32(DOMAIN),
        .virt_start = htole64(iova),
        .virt_end = htole64(iova + 0xfff),
        .phys_start = htole64(iova),
        .flags = htole32(VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE),
    };
    *unmap = vdrv_unmap_req(DOMAIN, iova, iova + 0xfff);
}

/* Lays out BATCH requests (alternately MAP and UNMAP) as chains 2i, 2i+1. */
static void lay_out(struct fe *f, struct slot *slots)
{
    struct vring_desc *desc = fe_ptr(f, f->q[0].desc);

    for (unsigned i = 0; i < BATCH; i++) {
        struct virtio_iommu_req_map map;
        struct virtio_iommu_req_unmap unmap;
        bool is_map;
        make_request(i, &map, &unmap, &is_map);
        size_t len = is_map ? sizeof(map) - 4 : sizeof(unmap) - 4;
        slots[i].in = fe_alloc(f, len);
        slots[i].out = fe_alloc(f, 4);
        memcpy(fe_ptr(f, slots[i].in), is_map ? (void *)&map : (void *)&unmap,
               len);
        desc[2 * i] =
            (struct vring_desc){htole64(slots[i].in), htole32(len),
                                htole16(VRING_DESC_F_NEXT), htole16(2 * i + 1)};
        desc[2 * i + 1] = (struct vring_desc){htole64(slots[i].out), htole32(4),
                                              htole16(VRING_DESC_F_WRITE), 0};
    }
    /* No interrupts: the driver spins on the used ring. */
    struct vring_avail *avail = fe_ptr(f, f->q[0].avail);
    avail->flags = htole16(VRING_AVAIL_F_NO_INTERRUPT);
}

/* Posts chains first..first+n-1 of the layout, kicks, spins until the
 * device has used them all. */
static void post_and_wait(struct fe *f, unsigned first, unsigned n)
{
    struct fe_queue *q = &f->q[0];
    struct vring_avail *avail = fe_ptr(f, q->avail);
    struct vring_used *used = fe_ptr(f, q->used);
    uint64_t one = 1;

    for (unsigned i = 0; i < n; i++) {
        avail->ring[(q->avail_idx + i) % FE_QUEUE_SIZE] =
            htole16((uint16_t)(2 * (first + i)));
    }
    q->avail_idx += n;
    __atomic_store_n(&avail->idx, htole16(q->avail_idx), __ATOMIC_RELEASE);
    if (write(q->kick, &one, sizeof(one)) != sizeof(one)) {
        abort();
    }
    while (le16toh(__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE)) !=
           q->avail_idx) {
    }
    q->last_used = q->avail_idx;
}

static void check_replies(struct fe *f, const struct slot *slots)
{
    for (unsigned i = 0; i < BATCH; i++) {
        uint8_t *status = fe_ptr(f, slots[i].out);
        if (*status != VIRTIO_IOMMU_S_OK) {
            fprintf(stderr, "request %u answered %s\n", i,
                    vdrv_status_name(*status));
            exit(1);
        }
        *status = 0xff;
    }
}

/* Requests per second through the daemon, `per_kick` at a time. */
static double daemon_rate(struct fe *f, const struct slot *slots,
                          unsigned per_kick)
{
    double best = 0;

    for (int r = 0; r < REPEAT; r++) {
        unsigned long done = 0;
        double start = now(), elapsed;
        do {
            for (unsigned first = 0; first < BATCH; first += per_kick) {
                post_and_wait(f, first, per_kick);
            }
            check_replies(f, slots);
            done += BATCH;
        } while ((elapsed = now() - start) < RUN_SECONDS);
        if (done / elapsed > best) {
            best = done / elapsed;
        }
    }
    return best;
}

static double in_process_rate(void)
{
    struct viommu_config cfg = {.size = sizeof(cfg)};
    struct viommu_endpoint_config ep = {.size = sizeof(ep), .id = ENDPOINT};
    struct viommu *v = viommu_new(&cfg);
    double best = 0;

    if (v == NULL || viommu_endpoint_add(v, &ep) != 0 ||
        vdrv_attach(VDRV_LOCAL(v), DOMAIN, ENDPOINT, 0) != VIRTIO_IOMMU_S_OK) {
        abort();
    }
    for (int r = 0; r < REPEAT; r++) {
        unsigned long done = 0;
        double start = now(), elapsed;
        do {
            for (unsigned i = 0; i < BATCH; i++) {
                struct virtio_iommu_req_map map;
                struct virtio_iommu_req_unmap unmap;
                uint8_t tail[4];
                bool is_map;
                make_request(i, &map, &unmap, &is_map);
                size_t len = is_map ? sizeof(map) - 4 : sizeof(unmap) - 4;
                vdrv_send(VDRV_LOCAL(v), is_map ? (void *)&map : (void *)&unmap,
                          len, tail, sizeof(tail));
                if (tail[0] != VIRTIO_IOMMU_S_OK) {
                    abort();
                }
            }
            done += BATCH;
        } while ((elapsed = now() - start) < RUN_SECONDS);
        if (done / elapsed > best) {
            best = done / elapsed;
        }
    }
    viommu_free(v);
    return best;
}

/* The daemon's CPU time so far, in seconds: the first field of
 * /proc/PID/schedstat, in nanoseconds (stat's ticks are too coarse for a
 * request's worth). */
static double daemon_cpu(pid_t pid)
{
    char path[64];
    unsigned long long ns = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL || fscanf(f, "%llu", &ns) != 1) {
        abort();
    }
    fclose(f);
    return (double)ns * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

#define PACED_REQUESTS 4000

struct paced {
    double median_us, p99_us, cpu_us; /* cpu: the daemon's, per request */
};

/*
 * One request at a time as a Linux guest sends them, `gap_us` of the
 * guest's own work between two: it kicks only when the device asks (the
 * avail event index), then spins on the used ring.
 */
static struct paced paced_run(struct fe *f, double gap_us)
{
    static double rtt[PACED_REQUESTS];
    struct fe_queue *q = &f->q[0];
    struct vring_avail *avail = fe_ptr(f, q->avail);
    struct vring_used *used = fe_ptr(f, q->used);
    double cpu = daemon_cpu(f->pid);
    uint64_t one = 1;

    for (unsigned i = 0; i < PACED_REQUESTS; i++) {
        double until = now() + gap_us * 1e-6;
        while (now() < until) {
        }
        double t0 = now();
        avail->ring[q->avail_idx % FE_QUEUE_SIZE] =
            htole16((uint16_t)(2 * (i % BATCH)));
        q->avail_idx++;
        __atomic_store_n(&avail->idx, htole16(q->avail_idx), __ATOMIC_RELEASE);
        if (fe_device_wants_kick(f, 0) &&
            write(q->kick, &one, sizeof(one)) != sizeof(one)) {
            abort();
        }
        while (le16toh(__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE)) !=
               q->avail_idx) {
        }
        rtt[i] = (now() - t0) * 1e6;
    }
    q->last_used = q->avail_idx;
    struct paced r = {.cpu_us =
                          (daemon_cpu(f->pid) - cpu) * 1e6 / PACED_REQUESTS};
    qsort(rtt, PACED_REQUESTS, sizeof(rtt[0]), cmp_double);
    r.median_us = rtt[PACED_REQUESTS / 2];
    r.p99_us = rtt[PACED_REQUESTS * 99 / 100];
    return r;
}

/* The paced table: for each gap, polling off then on. */
static void paced_table(void)
{
    static const double gaps_us[] = {0, 10, 50, 200};
    static const char *const modes[] = {"--poll-max-ns=0",
                                        "--poll-max-ns=131072"};
    struct paced r[2][4];
    struct slot slots[BATCH];

    for (int m = 0; m < 2; m++) {
        const char *args[] = {"--endpoint=8", modes[m], NULL};
        struct fe f;
        fe_start(&f, args);
        fe_setup(&f);
        struct virtio_iommu_req_attach attach =
            vdrv_attach_req(DOMAIN, ENDPOINT, 0);
        if (fe_status(&f, &attach, sizeof(attach)) != VIRTIO_IOMMU_S_OK) {
            abort();
        }
        lay_out(&f, slots);
        for (int g = 0; g < 4; g++) {
            r[m][g] = paced_run(&f, gaps_us[g]);
            check_replies(&f, slots);
        }
        if (fe_stop(&f) != 0) {
            abort();
        }
    }
    printf("\none request at a time, the guest working between two "
           "(%d requests each; the daemon's CPU per request)\n",
           PACED_REQUESTS);
    printf("%-10s %-10s %11s %11s %11s %14s\n", "gap", "polling", "median",
           "99th pct", "vs gap 0", "daemon CPU");
    for (int g = 0; g < 4; g++) {
        for (int m = 0; m < 2; m++) {
            printf("%7.0f us %-10s %8.1f us %8.1f us %10.2fx %11.2f us\n",
                   gaps_us[g], m == 0 ? "off" : "on (131 us)",
                   r[m][g].median_us, r[m][g].p99_us,
                   r[m][g].median_us / r[m][0].median_us, r[m][g].cpu_us);
        }
    }
}

int main(void)
{
    static const char *const args[] = {"--endpoint=8", NULL};
    struct slot slots[BATCH];
    struct fe f;

    if (getenv("VIOMMU_VHOST_USER") == NULL) {
        setenv("VIOMMU_VHOST_USER", VIOMMU_VHOST_USER, 0);
    }
    double base = in_process_rate();

    fe_start(&f, args);
    fe_setup(&f);
    struct virtio_iommu_req_attach attach =
        vdrv_attach_req(DOMAIN, ENDPOINT, 0);
    if (fe_status(&f, &attach, sizeof(attach)) != VIRTIO_IOMMU_S_OK) {
        fprintf(stderr, "ATTACH through the daemon failed\n");
        return 1;
    }
    lay_out(&f, slots);
    double batched = daemon_rate(&f, slots, BATCH);
    double single = daemon_rate(&f, slots, 1);
    if (fe_stop(&f) != 0) {
        fprintf(stderr, "the daemon did not exit cleanly\n");
        return 1;
    }

    printf("%-36s %14s %12s %8s\n", "request path", "requests/s", "per request",
           "ratio");
    printf("%-36s %14.0f %9.2f us %8s\n", "in process (baseline)", base,
           1e6 / base, "1.00x");
    printf("%-36s %14.0f %9.2f us %7.2fx\n", "daemon, batched (128 per kick)",
           batched, 1e6 / batched, batched / base);
    printf("%-36s %14.0f %9.2f us %7.2fx\n",
           "daemon, one at a time (round trip)", single, 1e6 / single,
           single / base);
    paced_table();
    return 0;
}
