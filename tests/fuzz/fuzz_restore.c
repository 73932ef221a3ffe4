/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness for viommu_restore(): each input is a state stream
 * restored into a fresh device whose endpoints sit behind simulated host
 * contexts (testing/hostsim.h) or are emulated, one with a reserved
 * region, two pairs in host groups. Its first byte is not part of the
 * stream: bit 0 asks the harness to write a correct length and checksum
 * over the last 16 bytes (so that mutations reach the checks behind the
 * checksum), bits 1-2 pick a host error and bits 3-7 the host call that
 * fails (0: none).
 *
 * A refusal must leave the device as it was (the same saved bytes) and
 * its host contexts empty. An accepted stream must give a consistent
 * device, contexts holding exactly its domains' mappings, a save that
 * restores into another device and saves to the same bytes, and contexts
 * emptied again when the device is freed.
 *
 * With VIOMMU_RESTORE_SEEDS=DIR in the environment the harness writes the
 * seed corpus (valid streams of busy devices) into DIR and exits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_iommu.h>

#include "driver.h"
#include "hostsim.h"
#include "state.h"

#define NR_HOSTS 2
#define NR_ENDPOINTS 5
#define FIX_TRAILER 1u
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

struct buf {
    uint8_t *data;
    size_t len, cap, pos;
};

static int buf_write(void *opaque, const void *p, size_t len)
{
    struct buf *b = opaque;

    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2;
        b->data = realloc(b->data, b->cap);
        if (b->data == NULL) {
            abort();
        }
    }
    memcpy(b->data + b->len, p, len);
    b->len += len;
    return 0;
}

static ssize_t buf_read(void *opaque, void *p, size_t len)
{
    struct buf *b = opaque;

    if (len > b->len - b->pos) {
        len = b->len - b->pos;
    }
    memcpy(p, b->data + b->pos, len);
    b->pos += len;
    return (ssize_t)len;
}

static struct buf save(struct viommu *v)
{
    struct buf b = {0};

    if (viommu_save(v, buf_write, &b) != 0) {
        abort();
    }
    return b;
}

static bool same(const struct buf *a, const struct buf *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* A device of the harness: endpoints 1 and 2 share context 0 and a host
 * group, 3 has context 1 with a 39-bit IOVA space, 4 and 5 are emulated,
 * 4 with a reserved region, both in another group. */
static struct viommu *new_device(struct hostsim *hosts)
{
    struct viommu_config cfg = {
        .size = sizeof(cfg),
        .max_domains = 6,
        .max_mappings_per_domain = 64,
        .max_mappings = 128,
        .max_pending_faults = 8,
    };
    struct viommu_resv_region resv =
        VIOMMU_RESV_REGION(0x100000, 0x1fffff, VIOMMU_RESV_RESERVED);
    struct viommu *v = viommu_new(&cfg);

    if (v == NULL) {
        abort();
    }
    hostsim_init(&hosts[0], "ctx0");
    hostsim_init(&hosts[1], "ctx1");
    hostsim_set_address_bits(&hosts[1], 39);
    for (uint32_t id = 1; id <= NR_ENDPOINTS; id++) {
        struct viommu_endpoint_config ep = {.size = sizeof(ep), .id = id};
        if (id <= 3) {
            ep.host_ops = &hostsim_ops;
            ep.host_ctx = &hosts[id == 3];
        }
        if (id != 3) {
            ep.flags = VIOMMU_EP_GROUP;
            ep.group = id <= 2 ? 1 : 2;
        }
        if (id == 4) {
            ep.resv = &resv;
            ep.nr_resv = 1;
        }
        if (viommu_endpoint_add(v, &ep) != 0) {
            abort();
        }
    }
    return v;
}

static void check_hosts(struct viommu *v, struct hostsim *hosts)
{
    struct hostsim_binding b[NR_ENDPOINTS] = {
        {1, &hosts[0]}, {2, &hosts[0]}, {3, &hosts[1]}, {4, NULL}, {5, NULL}};
    struct hostsim *h[NR_HOSTS] = {&hosts[0], &hosts[1]};
    char why[1024];

    if (!hostsim_check(v, b, NR_ENDPOINTS, h, NR_HOSTS, why, sizeof(why))) {
        fprintf(stderr, "%s\n", why);
        abort();
    }
}

static bool hosts_empty(const struct hostsim *hosts)
{
    for (int i = 0; i < NR_HOSTS; i++) {
        if (hosts[i].nr_maps != 0 || hosts[i].nr_attached != 0) {
            return false;
        }
    }
    return true;
}

/* Frees the device; its contexts must be left empty. */
static void destroy(struct viommu *v, struct hostsim *hosts)
{
    viommu_free(v);
    if (!hosts_empty(hosts)) {
        abort();
    }
    for (int i = 0; i < NR_HOSTS; i++) {
        hostsim_destroy(&hosts[i]);
    }
}

/* Every domain has endpoints that point back at it; counts add up. */
static void check_device(const struct viommu *v)
{
    uint64_t mappings = 0;

    for (uint32_t i = 0; i < v->domains.n; i++) {
        const struct domain *d = (const struct domain *)v->domains.items[i];
        if (d->endpoints == NULL || (d->bypass && d->maps.count != 0)) {
            abort();
        }
        for (const struct endpoint *ep = d->endpoints; ep != NULL;
             ep = ep->next_in_domain) {
            if (ep->domain != d) {
                abort();
            }
        }
        mappings += d->maps.count;
    }
    if (mappings != v->nr_mappings || v->domains.n > v->cfg.max_domains ||
        mappings > v->cfg.max_mappings ||
        v->faults.count > v->cfg.max_pending_faults) {
        abort();
    }
}

/* Writes the length and checksum a stream of len bytes should end with. */
static void fix_trailer(uint8_t *s, size_t len)
{
    uint64_t hash = FNV_OFFSET, length = len - 16;

    for (int i = 0; i < 8; i++) {
        s[len - 16 + i] = (uint8_t)(length >> (8 * i));
    }
    for (size_t i = 0; i < len - 8; i++) {
        hash = (hash ^ s[i]) * FNV_PRIME;
    }
    for (int i = 0; i < 8; i++) {
        s[len - 8 + i] = (uint8_t)(hash >> (8 * i));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int errs[] = {-ENOMEM, -EIO, -EEXIST, -ERANGE};
    struct hostsim hosts[NR_HOSTS], again_hosts[NR_HOSTS];
    struct hostsim_faults faults;

    if (size == 0) {
        return 0;
    }
    struct buf in = {malloc(size), size - 1, size - 1, 0};
    if (in.data == NULL) {
        abort();
    }
    memcpy(in.data, data + 1, size - 1);
    if ((data[0] & FIX_TRAILER) && in.len >= 16) {
        fix_trailer(in.data, in.len);
    }

    struct viommu *v = new_device(hosts);
    faults = (struct hostsim_faults){.fail_at = data[0] >> 3,
                                     .err = errs[(data[0] >> 1) & 3]};
    hosts[0].faults = hosts[1].faults = &faults;
    struct buf before = save(v);
    int err = viommu_restore(v, buf_read, &in);
    struct buf after = save(v);
    faults.fail_at = 0;
    if (err != 0) {
        if (err > 0 || !same(&before, &after) || !hosts_empty(hosts) ||
            v->host_errors != 0) {
            abort();
        }
    } else {
        check_device(v);
        check_hosts(v, hosts);
        struct viommu *w = new_device(again_hosts);
        struct buf again = {after.data, after.len, after.cap, 0};
        if (viommu_restore(w, buf_read, &again) != 0) {
            abort();
        }
        check_hosts(w, again_hosts);
        struct buf resaved = save(w);
        if (!same(&after, &resaved)) {
            abort();
        }
        free(resaved.data);
        destroy(w, again_hosts);
    }
    free(before.data);
    free(after.data);
    free(in.data);
    destroy(v, hosts);
    return 0;
}

/* ---- the seed corpus ---- */

static void seed(const char *dir, const char *name, struct viommu *v)
{
    char path[512];
    struct buf b = save(v);
    uint8_t mode = FIX_TRAILER;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(&mode, 1, 1, f) != 1 ||
        fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0) {
        abort();
    }
    free(b.data);
}

static void ok(uint8_t status)
{
    if (status != VIRTIO_IOMMU_S_OK) {
        abort();
    }
}

static void write_seeds(const char *dir)
{
    struct hostsim hosts[NR_HOSTS];
    struct viommu_translation t = {.size = sizeof(t)};
    struct viommu *v = new_device(hosts);

    seed(dir, "empty", v);

    ok(vdrv_attach(VDRV_LOCAL(v), 1, 1, 0));
    ok(vdrv_attach(VDRV_LOCAL(v), 1, 2, 0));
    ok(vdrv_attach(VDRV_LOCAL(v), 2, 3, 0));
    ok(vdrv_attach(VDRV_LOCAL(v), 7, 4, VIRTIO_IOMMU_ATTACH_F_BYPASS));
    for (uint64_t i = 0; i < 6; i++) {
        ok(vdrv_map(VDRV_LOCAL(v), 1, i << 16, (i << 16) + 0x1fff, i << 24,
                    VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE));
        ok(vdrv_map(VDRV_LOCAL(v), 2, i << 20, (i << 20) + 0xfff, 0x1000 * i,
                    VIRTIO_IOMMU_MAP_F_WRITE));
    }
    seed(dir, "hosts", v);

    ok(vdrv_attach(VDRV_LOCAL(v), 7, 5, VIRTIO_IOMMU_ATTACH_F_BYPASS));
    ok(vdrv_map(VDRV_LOCAL(v), 1, 0x30000000, 0x3fffffff, 0x80000000,
                VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_MMIO));
    ok(vdrv_map(VDRV_LOCAL(v), 1, 0xfffffffffffff000, UINT64_MAX, 0, 0));
    for (uint64_t i = 0; i < 20; i++) {
        (void)viommu_translate(v, 1 + i % NR_ENDPOINTS, 0x40000000 + i,
                               VIOMMU_ACCESS_READ, &t);
    }
    uint8_t bypass = 1;
    if (viommu_config_write(v, 36, &bypass, 1) != 0) {
        abort();
    }
    seed(dir, "faults", v);
    destroy(v, hosts);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("VIOMMU_RESTORE_SEEDS");

    (void)argc;
    (void)argv;
    if (dir != NULL) {
        write_seeds(dir);
        exit(0);
    }
    return 0;
}
