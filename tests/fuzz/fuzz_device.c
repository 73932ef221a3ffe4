/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness: each input is a sequence of operations on one device
 * (raw requests, well-formed requests with small IDs, translations, endpoint
 * changes, config writes, event pops, resets, feature writes). Endpoints
 * may sit behind simulated host contexts (testing/hostsim.h) with a
 * narrow geometry, in a host group, and with one host call set to fail.
 * After every operation the device's structure is checked: used lengths are
 * 0 or the whole writable size, every domain has endpoints, every attached
 * endpoint is listed in its domain, the mapping counts add up, no domain
 * or mapping is of a kind the accepted features exclude (bypass without
 * BYPASS_CONFIG, MMIO without MMIO: a restore refuses those), and every
 * host context holds exactly its endpoints' domains' mappings (until a host
 * failure that could not be undone was counted, as the API documents).
 *
 * A VMM's cache of translations rides along: every translation the device
 * hands out is kept until config.invalidate names it, and after every
 * operation each kept one, and each one in the library's own cache, must
 * equal a fresh lookup: never stale. Inside the callback, the calls the
 * contract forbids must be refused with -EBUSY.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_iommu.h>

#include "input.h"
#include "hostsim.h"
#include "state.h"
#include "translate.h"

#define NR_HOSTS 3

static struct hostsim hosts[NR_HOSTS];
static struct hostsim_faults faults;

/* The VMM's cache: [start, last] of endpoint ep translated to gpa. */
#define VMM_CACHE 32
static struct iotlb_entry vmm_cache[VMM_CACHE];
static unsigned vmm_cached;
static struct viommu *dev;

static void vmm_invalidate(void *opaque, uint32_t ep, uint64_t start,
                           uint64_t last)
{
    uint32_t used;
    struct iovec iov = {NULL, 0};

    (void)opaque;
    if (viommu_handle_request(dev, &iov, 0, &iov, 0, &used) != -EBUSY ||
        viommu_endpoint_remove(dev, ep) != -EBUSY ||
        viommu_reset(dev, VIOMMU_RESET_DEVICE) != -EBUSY) {
        abort(); /* the embedding contract */
    }
    for (unsigned i = 0; i < vmm_cached;) {
        const struct iotlb_entry *e = &vmm_cache[i];
        if (e->endpoint == ep && e->start <= last && start <= e->last) {
            vmm_cache[i] = vmm_cache[--vmm_cached];
        } else {
            i++;
        }
    }
}

static void vmm_remember(uint32_t ep, uint64_t iova,
                         const struct viommu_translation *t)
{
    if (vmm_cached < VMM_CACHE) {
        vmm_cache[vmm_cached++] = (struct iotlb_entry){
            .start = iova,
            .last = t->iova_last,
            .gpa = t->gpa,
            .endpoint = ep,
            .flags = t->flags,
        };
    }
}

/* A cached translation must be what a fresh lookup says, at both ends. */
static void check_fresh(struct viommu *v, const struct iotlb_entry *e)
{
    uint32_t access =
        e->flags & VIOMMU_XLATE_READ ? VIOMMU_ACCESS_READ : VIOMMU_ACCESS_WRITE;
    uint64_t ends[2] = {e->start, e->last};

    for (int i = 0; i < 2; i++) {
        struct iotlb_entry f;
        if (translate_uncached(v, e->endpoint, ends[i],
                               access | VIOMMU_ACCESS_NO_REPORT, &f) != 0 ||
            f.gpa + (ends[i] - f.start) != e->gpa + (ends[i] - e->start) ||
            f.flags != e->flags || f.last < e->last) {
            abort(); /* a stale translation */
        }
    }
}

static void check_caches(struct viommu *v)
{
    for (unsigned i = 0; i < vmm_cached; i++) {
        check_fresh(v, &vmm_cache[i]);
    }
    for (unsigned i = 0; i < IOTLB_SLOTS; i++) {
        if (v->iotlb.e[i].start <= v->iotlb.e[i].last) {
            check_fresh(v, &v->iotlb.e[i]);
        }
    }
}

static void check_hosts(struct viommu *v)
{
    struct hostsim_binding b[64];
    struct hostsim *h[NR_HOSTS];
    size_t nr = 0;
    char why[1024];

    if (v->host_errors != 0) {
        return;
    }
    for (uint32_t i = 0; i < v->endpoints.n && nr < 64; i++) {
        const struct endpoint *ep =
            (const struct endpoint *)v->endpoints.items[i];
        b[nr++] = (struct hostsim_binding){
            ep->id, ep->host != NULL ? ep->host->opaque : NULL};
    }
    for (int i = 0; i < NR_HOSTS; i++) {
        h[i] = &hosts[i];
    }
    if (!hostsim_check(v, b, nr, h, NR_HOSTS, why, sizeof(why))) {
        abort();
    }
}

static int mmio_mapping(void *opaque, uint64_t iova, uint64_t last,
                        uint64_t gpa, uint32_t flags)
{
    (void)opaque;
    (void)iova;
    (void)last;
    (void)gpa;
    return (flags & VIOMMU_XLATE_MMIO) != 0;
}

static void check(struct viommu *v)
{
    uint64_t mappings = 0;

    for (uint32_t i = 0; i < v->domains.n; i++) {
        const struct domain *d = (const struct domain *)v->domains.items[i];
        if (d->endpoints == NULL) {
            abort(); /* a domain lives only while it has endpoints */
        }
        for (const struct endpoint *ep = d->endpoints; ep != NULL;
             ep = ep->next_in_domain) {
            if (ep->domain != d) {
                abort();
            }
        }
        if (d->bypass && d->maps.count != 0) {
            abort();
        }
        /* Only what the accepted features allow, as a restore checks. */
        if ((d->bypass && !viommu_has(v, VIRTIO_IOMMU_F_BYPASS_CONFIG)) ||
            (!viommu_has(v, VIRTIO_IOMMU_F_MMIO) &&
             viommu_domain_foreach_mapping(v, d->id, 0, mmio_mapping, NULL))) {
            abort();
        }
        mappings += d->maps.count;
    }
    if (mappings != v->nr_mappings || mappings > v->cfg.max_mappings ||
        v->domains.n > v->cfg.max_domains) {
        abort();
    }
    for (uint32_t i = 0; i < v->endpoints.n; i++) {
        const struct endpoint *ep =
            (const struct endpoint *)v->endpoints.items[i];
        if (ep->domain != NULL &&
            idtable_find(&v->domains, ep->domain->id) != ep->domain) {
            abort();
        }
    }
    check_hosts(v);
}

/* Splits buf into up to three iovecs at positions taken from the input. */
static unsigned split(struct input *in, uint8_t *buf, size_t len,
                      struct iovec *iov)
{
    size_t a = len ? take(in, 1) % (len + 1) : 0;
    size_t b = a + (len - a ? take(in, 1) % (len - a + 1) : 0);

    iov[0] = (struct iovec){buf, a};
    iov[1] = (struct iovec){buf + a, b - a};
    iov[2] = (struct iovec){buf + b, len - b};
    return 3;
}

static void send(struct viommu *v, struct input *in, uint8_t *req, size_t rlen,
                 size_t wlen)
{
    static uint8_t out[VIOMMU_MAX_WRITABLE + 16];
    struct iovec riov[3], wiov[3];
    uint32_t used = 1;

    unsigned rc = split(in, req, rlen, riov);
    unsigned wc = split(in, out, wlen, wiov);
    if (viommu_handle_request(v, riov, rc, wiov, wc, &used) != 0 ||
        (used != 0 && used != wlen)) {
        abort();
    }
}

/* A well-formed request of a random type with IDs from small ranges, so
 * that requests meet each other's domains, endpoints and mappings. */
static void structured(struct viommu *v, struct input *in)
{
    uint8_t req[sizeof(struct virtio_iommu_req_probe)] = {0};
    uint8_t type = 1 + take(in, 1) % 5;
    uint32_t domain = htole32(take(in, 1) % 6);
    uint32_t ep = htole32(take(in, 1) % 6);
    uint64_t start = take(in, 2) * 0x1000;
    uint64_t end = htole64(start + (take(in, 1) % 16 + 1) * 0x1000 - 1);
    uint32_t flags = htole32(take(in, 1) % 8);
    size_t wlen = 4;

    start = htole64(start);
    req[0] = type;
    switch (type) {
    case VIRTIO_IOMMU_T_ATTACH:
    case VIRTIO_IOMMU_T_DETACH:
        memcpy(req + 4, &domain, 4);
        memcpy(req + 8, &ep, 4);
        if (type == VIRTIO_IOMMU_T_ATTACH) {
            flags = htole32(take(in, 1) % 4 == 0);
            memcpy(req + 12, &flags, 4);
        }
        break;
    case VIRTIO_IOMMU_T_MAP:
    case VIRTIO_IOMMU_T_UNMAP:
        memcpy(req + 4, &domain, 4);
        memcpy(req + 8, &start, 8);
        memcpy(req + 16, &end, 8);
        if (type == VIRTIO_IOMMU_T_MAP) {
            memcpy(req + 24, &start, 8);
            memcpy(req + 32, &flags, 4);
        }
        break;
    default:
        memcpy(req + 4, &ep, 4);
        wlen += v->cfg.probe_size;
        break;
    }
    send(v, in, req, sizeof(req), wlen);
}

static void add_endpoint(struct viommu *v, struct input *in)
{
    struct viommu_resv_region r[4];
    struct viommu_endpoint_config ep = {
        .size = sizeof(ep), .id = take(in, 1) % 6, .resv = r};
    unsigned host = take(in, 1) % (NR_HOSTS + 1);

    if (host < NR_HOSTS) {
        ep.host_ops = hostsim_ops_of(&hosts[host]);
        ep.host_ctx = &hosts[host];
    }
    if (take(in, 1) % 3 == 0) {
        ep.flags = VIOMMU_EP_GROUP;
        ep.group = host;
    }
    ep.nr_resv = take(in, 1) % 5;
    for (size_t i = 0; i < ep.nr_resv; i++) {
        r[i].start = take(in, 2) * 0x1000;
        r[i].end = r[i].start + take(in, 2) * 0x100;
        r[i].type = (enum viommu_resv_type)(take(in, 1) % 3);
    }
    (void)viommu_endpoint_add(v, &ep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    struct viommu_config cfg = {
        .size = sizeof(cfg),
        .probe_size = 64,
        .max_domains = 4,
        .max_mappings_per_domain = 24,
        .max_mappings = 40,
        .max_pending_faults = 8,
        .boot_bypass = take(&in, 1) & 1,
        .invalidate = vmm_invalidate,
    };
    static const int errs[] = {-ENOMEM, -EIO, -EEXIST, -EOPNOTSUPP};
    struct viommu *v = viommu_new(&cfg);
    uint8_t buf[96];

    if (v == NULL) {
        abort();
    }
    dev = v;
    vmm_cached = 0;
    faults = (struct hostsim_faults){
        .fail_at = take(&in, 1),
        .err = errs[take(&in, 1) % 4],
    };
    for (int i = 0; i < NR_HOSTS; i++) {
        hostsim_init(&hosts[i], "host");
        hosts[i].faults = &faults;
    }
    hostsim_set_address_bits(&hosts[1], 20 + take(&in, 1) % 44);
    hosts[2].per_domain = true; /* a table per domain, as iommufd */
    for (uint32_t id = 0; id < 3; id++) {
        struct viommu_endpoint_config ep = {.size = sizeof(ep), .id = id};
        if (viommu_endpoint_add(v, &ep) != 0) {
            abort();
        }
    }
    while (in.left > 0) {
        switch (take(&in, 1) % 10) {
        case 0: {
            size_t rlen = take(&in, 1) % sizeof(buf);
            size_t wlen = take(&in, 2) % 600;
            memset(buf, 0, sizeof(buf));
            for (size_t i = 0; i < rlen; i++) {
                buf[i] = (uint8_t)take(&in, 1);
            }
            send(v, &in, buf, rlen, wlen);
            break;
        }
        case 1:
        case 2:
        case 3:
            structured(v, &in);
            break;
        case 4: {
            struct viommu_translation t = {.size = sizeof(t)};
            uint32_t ep = take(&in, 1) % 6;
            /* Where structured() maps, so that translations meet mappings. */
            uint64_t iova = take(&in, 2) * 0x1000 + take(&in, 1) * 0x10;
            if (viommu_translate(v, ep, iova, take(&in, 1) % 8, &t) == 0) {
                vmm_remember(ep, iova, &t);
            }
            break;
        }
        case 5:
            add_endpoint(v, &in);
            break;
        case 6:
            (void)viommu_endpoint_remove(v, take(&in, 1) % 6);
            break;
        case 7: {
            uint32_t offset = take(&in, 1) % 48;
            uint32_t len = take(&in, 1) % 5;
            uint8_t val[4] = {(uint8_t)take(&in, 1)};
            (void)viommu_config_write(v, offset, val, len);
            uint8_t b;
            if (viommu_config_read(v, 36, &b, 1) != 0 || b > 1) {
                abort(); /* R7 */
            }
            break;
        }
        case 8: {
            struct iovec iov = {buf, take(&in, 1) % 32};
            uint32_t used;
            (void)viommu_event_pop(v, &iov, 1, &used);
            break;
        }
        default:
            if (take(&in, 1) & 1) {
                (void)viommu_reset(v,
                                   (enum viommu_reset_kind)(take(&in, 1) & 1));
            } else {
                (void)viommu_set_driver_features(v, take(&in, 8));
            }
            break;
        }
        check(v);
        check_caches(v);
    }
    uint64_t host_errors = v->host_errors;
    faults.fired = false;
    viommu_free(v);
    for (int i = 0; i < NR_HOSTS; i++) {
        if (host_errors == 0 && !faults.fired && !hostsim_empty(&hosts[i])) {
            abort(); /* freeing the device releases its host contexts */
        }
        hostsim_destroy(&hosts[i]);
    }
    return 0;
}
