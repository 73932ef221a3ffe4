/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Save and restore of the guest-visible state (snapshot, live migration) as
 * a byte stream, every number little-endian:
 *
 *   header       "VIOMMUST", u32 format version (1)
 *   device       u64 accepted features, u8 config `bypass`
 *   attachments  u32 count, then per attached endpoint in ID order:
 *                u32 endpoint, u32 domain
 *   domains      u32 count, then per domain in ID order: u32 ID, u32 flags
 *                (bit 0: bypass), u64 count of mappings, then per mapping in
 *                IOVA order: u64 start, u64 end (inclusive), u64 physical
 *                start, u32 flags (VIRTIO_IOMMU_MAP_F_*)
 *   faults       u32 count, u64 reports dropped, then per pending report,
 *                oldest first: u8 reason, u32 flags, u32 endpoint, u64 address
 *   trailer      u64 length of the stream before this field, u64 FNV-1a of
 *                every byte before the checksum (the length included)
 *
 * Endpoints are not in the stream: the destination declares its own, and
 * the stream only names their IDs. Attachments come before the domains so
 * that each mapping is checked against the reserved regions of its domain's
 * endpoints as it is read. Both directions go through one fixed-size
 * buffer; the stream is never whole in memory. A restore builds the new
 * domains aside (that memory is the restored state itself), checks every
 * field, pushes the mappings into the host contexts, and only then swaps
 * the new state in, in restore_commit().
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_iommu.h>

#include "group.h"
#include "host.h"
#include "iotlb.h"
#include "log.h"

#define STREAM_MAGIC "VIOMMUST"
#define STREAM_MAGIC_SIZE 8
#define STREAM_VERSION 1u
#define CHUNK (16u * 1024)
#define MAPPING_SIZE 28u
#define FAULT_SIZE 17u
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

#define DOMAIN_F_BYPASS 1u
#define FAULT_FLAGS                                                            \
    (VIRTIO_IOMMU_FAULT_F_READ | VIRTIO_IOMMU_FAULT_F_WRITE |                  \
     VIRTIO_IOMMU_FAULT_F_EXEC | VIRTIO_IOMMU_FAULT_F_ADDRESS)

static uint64_t fnv1a(uint64_t hash, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        hash = (hash ^ p[i]) * FNV_PRIME;
    }
    return hash;
}

static void le32_put(uint8_t *p, uint32_t x)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(x >> (8 * i));
    }
}

static void le64_put(uint8_t *p, uint64_t x)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(x >> (8 * i));
    }
}

static uint32_t le32_get(const uint8_t *p)
{
    uint32_t x = 0;

    for (int i = 0; i < 4; i++) {
        x |= (uint32_t)p[i] << (8 * i);
    }
    return x;
}

static uint64_t le64_get(const uint8_t *p)
{
    uint64_t x = 0;

    for (int i = 0; i < 8; i++) {
        x |= (uint64_t)p[i] << (8 * i);
    }
    return x;
}

/* ---- save ---- */

struct saver {
    struct viommu *v;
    viommu_write_fn write;
    void *opaque;
    uint64_t length; /* bytes produced so far */
    uint64_t hash;
    size_t used;
    int err; /* the first error of the writer; nothing is written after */
    uint8_t buf[CHUNK];
};

static void flush(struct saver *s)
{
    if (s->err == 0 && s->used > 0) {
        int err;
        CALLBACK(s->v, err = s->write(s->opaque, s->buf, s->used));
        s->err = err > 0 ? -EIO : err;
    }
    s->used = 0;
}

/* Appends len bytes (at most one record) to the stream. */
static void put(struct saver *s, const uint8_t *p, size_t len, bool hashed)
{
    if (CHUNK - s->used < len) {
        flush(s);
    }
    memcpy(s->buf + s->used, p, len);
    s->used += len;
    s->length += len;
    if (hashed) {
        s->hash = fnv1a(s->hash, p, len);
    }
}

static void put_u8(struct saver *s, uint8_t x)
{
    put(s, &x, 1, true);
}

static void put_u32(struct saver *s, uint32_t x)
{
    uint8_t b[4];

    le32_put(b, x);
    put(s, b, sizeof(b), true);
}

static void put_u64(struct saver *s, uint64_t x)
{
    uint8_t b[8];

    le64_put(b, x);
    put(s, b, sizeof(b), true);
}

static int save_mapping(void *opaque, const struct mapping *m)
{
    struct saver *s = opaque;
    uint8_t b[MAPPING_SIZE];

    le64_put(b, m->start);
    le64_put(b + 8, m->end);
    le64_put(b + 16, m->phys);
    le32_put(b + 24, m->flags);
    put(s, b, sizeof(b), true);
    return s->err;
}

static void save_state(struct viommu *v, struct saver *s)
{
    uint32_t attached = 0;

    put(s, (const uint8_t *)STREAM_MAGIC, STREAM_MAGIC_SIZE, true);
    put_u32(s, STREAM_VERSION);
    put_u64(s, v->accepted);
    put_u8(s, v->bypass);

    for (uint32_t i = 0; i < v->endpoints.n; i++) {
        attached += ((struct endpoint *)v->endpoints.items[i])->domain != NULL;
    }
    put_u32(s, attached);
    for (uint32_t i = 0; i < v->endpoints.n; i++) {
        const struct endpoint *ep = (struct endpoint *)v->endpoints.items[i];
        if (ep->domain != NULL) {
            put_u32(s, ep->id);
            put_u32(s, ep->domain->id);
        }
    }

    put_u32(s, v->domains.n);
    for (uint32_t i = 0; i < v->domains.n && s->err == 0; i++) {
        const struct domain *d = (struct domain *)v->domains.items[i];
        put_u32(s, d->id);
        put_u32(s, d->bypass ? DOMAIN_F_BYPASS : 0);
        put_u64(s, d->maps.count);
        mapstore_foreach(&d->maps, save_mapping, s);
    }

    put_u32(s, v->faults.count);
    put_u64(s, v->faults.dropped);
    for (uint32_t i = 0; i < v->faults.count; i++) {
        const struct fault *f =
            &v->faults.ring[(v->faults.head + i) % v->cfg.max_pending_faults];
        uint8_t b[FAULT_SIZE];
        b[0] = f->reason;
        le32_put(b + 1, f->flags);
        le32_put(b + 5, f->endpoint);
        le64_put(b + 9, f->address);
        put(s, b, sizeof(b), true);
    }

    put_u64(s, s->length);
    uint8_t sum[8];
    le64_put(sum, s->hash);
    put(s, sum, sizeof(sum), false);
    flush(s);
}

int viommu_save(struct viommu *v, viommu_write_fn write, void *opaque)
{
    if (v == NULL || write == NULL) {
        return -EINVAL;
    }
    if (v->busy) {
        return -EBUSY;
    }
    struct saver *s = malloc(sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    s->v = v;
    s->write = write;
    s->opaque = opaque;
    s->length = 0;
    s->hash = FNV_OFFSET;
    s->used = 0;
    s->err = 0;
    save_state(v, s);
    int err = s->err;
    if (err != 0) {
        vlog(v, VIOMMU_LOG_ERR, VIOMMU_LOG_SOURCE_DEVICE,
             "save: the stream's writer failed after %llu bytes (errno %d)",
             (unsigned long long)s->length, -err);
    }
    free(s);
    return err;
}

/* ---- restore ---- */

/* An endpoint the stream attaches, and the new domain it goes into. */
struct attachment {
    struct endpoint *ep;
    uint32_t domain;
    struct domain *d; /* set once the domain is read */
};

struct restore {
    struct viommu *v;
    viommu_read_fn read;
    void *opaque;
    uint64_t length; /* bytes taken so far */
    uint64_t hash;
    size_t pos, len; /* of the bytes read into buf */

    uint64_t accepted;
    uint8_t bypass;
    struct attachment *att; /* in endpoint ID order */
    uint32_t nr_att;
    struct attachment **by_domain; /* the same, in domain ID order */
    struct idtable domains;        /* the new domains, aside */
    uint64_t nr_mappings;
    struct fault *faults;
    uint32_t nr_faults;
    uint64_t dropped;
    uint32_t pushed; /* attachments already entered in host contexts */
    uint8_t buf[CHUNK];
};

/* Logs why the stream is refused and evaluates to err. */
#define REFUSE(r, err, ...)                                                    \
    (vlog((r)->v, VIOMMU_LOG_ERR, VIOMMU_LOG_SOURCE_DEVICE,                    \
          "restore refused: " __VA_ARGS__),                                    \
     (err))

#define END_OF_STREAM 1

/* Reads the next bytes of the stream into buf: 0, END_OF_STREAM, or the
 * reader's error. */
static int fill(struct restore *r)
{
    ssize_t n;

    CALLBACK(r->v, n = r->read(r->opaque, r->buf, sizeof(r->buf)));

    if (n < 0) {
        return n < INT_MIN ? -EIO : (int)n;
    }
    if (n == 0) {
        return END_OF_STREAM;
    }
    if ((size_t)n > sizeof(r->buf)) {
        return -EIO;
    }
    r->pos = 0;
    r->len = (size_t)n;
    return 0;
}

/* Takes the next len bytes of the stream. */
static int take(struct restore *r, uint8_t *p, size_t len, bool hashed)
{
    while (len > 0) {
        if (r->pos == r->len) {
            int err = fill(r);
            if (err == END_OF_STREAM) {
                return REFUSE(r, -EINVAL, "the stream ends after %llu bytes",
                              (unsigned long long)r->length);
            }
            if (err != 0) {
                return REFUSE(r, err, "the stream's reader failed (errno %d)",
                              -err);
            }
        }
        size_t n = r->len - r->pos < len ? r->len - r->pos : len;
        memcpy(p, r->buf + r->pos, n);
        if (hashed) {
            r->hash = fnv1a(r->hash, p, n);
        }
        r->pos += n;
        r->length += n;
        p += n;
        len -= n;
    }
    return 0;
}

static int take_u32(struct restore *r, uint32_t *x)
{
    uint8_t b[4];
    int err = take(r, b, sizeof(b), true);

    if (err == 0) {
        *x = le32_get(b);
    }
    return err;
}

static int take_u64(struct restore *r, uint64_t *x)
{
    uint8_t b[8];
    int err = take(r, b, sizeof(b), true);

    if (err == 0) {
        *x = le64_get(b);
    }
    return err;
}

static int read_header(struct restore *r)
{
    const struct viommu *v = r->v;
    uint8_t magic[STREAM_MAGIC_SIZE], b[1];
    uint32_t version;
    int err;

    /* Field by field: something else than a stream is told as such. */
    if ((err = take(r, magic, sizeof(magic), true)) != 0) {
        return err;
    }
    if (memcmp(magic, STREAM_MAGIC, STREAM_MAGIC_SIZE) != 0) {
        return REFUSE(r, -EINVAL, "not a viommu state stream");
    }
    if ((err = take_u32(r, &version)) != 0) {
        return err;
    }
    if (version != STREAM_VERSION) {
        return REFUSE(r, -EPROTO,
                      "stream format version %u, this library reads %u",
                      version, STREAM_VERSION);
    }
    if ((err = take_u64(r, &r->accepted)) != 0 ||
        (err = take(r, b, sizeof(b), true)) != 0) {
        return err;
    }
    r->bypass = b[0];
    if ((r->accepted & ~v->offered) != 0 ||
        !(r->accepted & VIOMMU_F_VERSION_1)) {
        return REFUSE(r, -EINVAL,
                      "accepted features %#llx are not a valid choice among "
                      "the %#llx this device offers",
                      (unsigned long long)r->accepted,
                      (unsigned long long)v->offered);
    }
    if (r->bypass > 1) {
        return REFUSE(r, -EINVAL, "config bypass %u", r->bypass);
    }
    return 0;
}

static const struct attachment *find_attachment(const struct restore *r,
                                                uint32_t ep)
{
    uint32_t lo = 0, hi = r->nr_att;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r->att[mid].ep->id < ep) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < r->nr_att && r->att[lo].ep->id == ep ? &r->att[lo] : NULL;
}

/* R15: the host cannot tell the members of a group apart. */
static int check_groups(struct restore *r)
{
    for (uint32_t i = 0; i < r->nr_att; i++) {
        const struct endpoint *ep = r->att[i].ep;
        for (const struct endpoint *m = ep->group->members; m != NULL;
             m = m->next_in_group) {
            const struct attachment *a = find_attachment(r, m->id);
            if (a != NULL && a->domain != r->att[i].domain) {
                return REFUSE(r, -EINVAL,
                              "endpoints %u and %u share a host group but "
                              "are in domains %u and %u",
                              ep->id, m->id, r->att[i].domain, a->domain);
            }
        }
    }
    return 0;
}

static int cmp_domain(const void *a, const void *b)
{
    const struct attachment *x = *(struct attachment *const *)a;
    const struct attachment *y = *(struct attachment *const *)b;

    if (x->domain != y->domain) {
        return x->domain < y->domain ? -1 : 1;
    }
    return x->ep->id < y->ep->id ? -1 : x->ep->id > y->ep->id;
}

static int read_attachments(struct restore *r)
{
    const struct viommu *v = r->v;
    uint32_t n;
    int err = take_u32(r, &n);

    if (err != 0 || n == 0) {
        return err;
    }
    /* Each one names a different declared endpoint: more are refused
     * before they need room. */
    uint32_t room = n < v->endpoints.n ? n : v->endpoints.n;
    if (room > 0) {
        r->att = calloc(room, sizeof(*r->att));
        r->by_domain = calloc(room, sizeof(*r->by_domain));
        if (r->att == NULL || r->by_domain == NULL) {
            return REFUSE(r, -ENOMEM, "out of memory");
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        uint8_t b[8];
        if ((err = take(r, b, sizeof(b), true)) != 0) {
            return err;
        }
        uint32_t id = le32_get(b), domain = le32_get(b + 4);
        struct endpoint *ep = idtable_find(&v->endpoints, id);
        if (ep == NULL) {
            return REFUSE(r, -ENOENT,
                          "endpoint %u is not declared on this device", id);
        }
        if (i > 0 && id <= r->att[i - 1].ep->id) {
            return REFUSE(r, -EINVAL, "attachment of endpoint %u out of order",
                          id);
        }
        if (domain < v->cfg.domain_start || domain > v->cfg.domain_end) {
            return REFUSE(r, -EINVAL,
                          "endpoint %u in domain %u, outside the domain range",
                          id, domain);
        }
        r->att[i] = (struct attachment){ep, domain, NULL};
        r->by_domain[i] = &r->att[i];
        r->nr_att++;
    }
    qsort(r->by_domain, r->nr_att, sizeof(*r->by_domain), cmp_domain);
    return check_groups(r);
}

static int read_mapping(struct restore *r, struct domain *d,
                        struct attachment *const *eps, uint32_t nr_eps,
                        bool first, uint64_t *prev_end)
{
    const struct viommu *v = r->v;
    uint32_t known = VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE;
    uint64_t mask = v->granule - 1;
    uint8_t b[MAPPING_SIZE];
    int err = take(r, b, sizeof(b), true);

    if (err != 0) {
        return err;
    }
    struct mapping m = {le64_get(b), le64_get(b + 8), le64_get(b + 16),
                        le32_get(b + 24)};
    if (r->accepted & (1ULL << VIRTIO_IOMMU_F_MMIO)) {
        known |= VIRTIO_IOMMU_MAP_F_MMIO;
    }
    if ((m.flags & ~known) != 0) {
        return REFUSE(r, -EINVAL,
                      "mapping at %#llx of domain %u has flags %#x, not valid "
                      "with the accepted features",
                      (unsigned long long)m.start, d->id, m.flags);
    }
    /* As MAP checks them (R24); end + 1 may wrap to 0, which is aligned. */
    if (m.end < m.start || (m.start & mask) || (m.phys & mask) ||
        ((m.end + 1) & mask) || m.start < v->cfg.input_start ||
        m.end > v->cfg.input_end || m.phys > UINT64_MAX - (m.end - m.start)) {
        return REFUSE(r, -EINVAL,
                      "mapping [%#llx, %#llx] -> %#llx of domain %u is "
                      "misaligned or out of range",
                      (unsigned long long)m.start, (unsigned long long)m.end,
                      (unsigned long long)m.phys, d->id);
    }
    if (!first && m.start <= *prev_end) {
        return REFUSE(r, -EINVAL,
                      "mapping at %#llx of domain %u overlaps or is out of "
                      "order",
                      (unsigned long long)m.start, d->id);
    }
    for (uint32_t i = 0; i < nr_eps; i++) {
        if (endpoint_resv_overlaps(eps[i]->ep, m.start, m.end)) {
            return REFUSE(r, -EINVAL,
                          "mapping [%#llx, %#llx] of domain %u is in a "
                          "reserved region of endpoint %u",
                          (unsigned long long)m.start,
                          (unsigned long long)m.end, d->id, eps[i]->ep->id);
        }
    }
    /* In order and disjoint: the insertion can only run out of memory. */
    if (mapstore_insert(&d->maps, &m) != 0) {
        return REFUSE(r, -ENOMEM, "out of memory");
    }
    *prev_end = m.end;
    return 0;
}

static int read_domain(struct restore *r, uint32_t *next)
{
    const struct viommu *v = r->v;
    uint8_t b[16];
    int err = take(r, b, sizeof(b), true);

    if (err != 0) {
        return err;
    }
    uint32_t id = le32_get(b), flags = le32_get(b + 4);
    uint64_t count = le64_get(b + 8);
    bool bypass = flags & DOMAIN_F_BYPASS;
    if (r->domains.n > 0 && id <= *r->domains.items[r->domains.n - 1]) {
        return REFUSE(r, -EINVAL, "domain %u out of order", id);
    }
    if (id < v->cfg.domain_start || id > v->cfg.domain_end) {
        return REFUSE(r, -EINVAL, "domain %u outside the domain range", id);
    }
    if ((flags & ~DOMAIN_F_BYPASS) != 0 ||
        (bypass && !(r->accepted & (1ULL << VIRTIO_IOMMU_F_BYPASS_CONFIG)))) {
        return REFUSE(r, -EINVAL,
                      "domain %u has flags %#x, not valid with the accepted "
                      "features",
                      id, flags);
    }
    if (bypass && count != 0) {
        return REFUSE(r, -EINVAL, "bypass domain %u has mappings", id);
    }
    if (count > v->cfg.max_mappings_per_domain ||
        count > v->cfg.max_mappings - r->nr_mappings) {
        return REFUSE(r, -ENOMEM,
                      "domain %u has %llu mappings: more than "
                      "max_mappings_per_domain or max_mappings allow",
                      id, (unsigned long long)count);
    }
    /* Its endpoints: the next run of attachments in domain order. */
    uint32_t first = *next;
    if (first < r->nr_att && r->by_domain[first]->domain < id) {
        return REFUSE(r, -EINVAL,
                      "endpoint %u is in domain %u, which the "
                      "stream does not hold",
                      r->by_domain[first]->ep->id, r->by_domain[first]->domain);
    }
    while (*next < r->nr_att && r->by_domain[*next]->domain == id) {
        (*next)++;
    }
    if (*next == first) {
        return REFUSE(r, -EINVAL, "domain %u has no endpoint", id);
    }

    struct domain *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return REFUSE(r, -ENOMEM, "out of memory");
    }
    d->id = id;
    d->bypass = bypass;
    mapstore_init(&d->maps);
    if (idtable_insert(&r->domains, d) != 0) {
        free(d);
        return REFUSE(r, -ENOMEM, "out of memory");
    }
    for (uint32_t i = first; i < *next; i++) {
        r->by_domain[i]->d = d;
    }
    uint64_t prev_end = 0;
    for (uint64_t i = 0; i < count; i++) {
        err = read_mapping(r, d, &r->by_domain[first], *next - first, i == 0,
                           &prev_end);
        if (err != 0) {
            return err;
        }
    }
    r->nr_mappings += count;
    return 0;
}

static int read_domains(struct restore *r)
{
    uint32_t n, next = 0;
    int err = take_u32(r, &n);

    if (err != 0) {
        return err;
    }
    if (n > r->v->cfg.max_domains) {
        return REFUSE(r, -ENOMEM, "%u domains, more than max_domains %u", n,
                      r->v->cfg.max_domains);
    }
    for (uint32_t i = 0; i < n; i++) {
        if ((err = read_domain(r, &next)) != 0) {
            return err;
        }
    }
    if (next < r->nr_att) {
        return REFUSE(r, -EINVAL,
                      "endpoint %u is in domain %u, which the stream does "
                      "not hold",
                      r->by_domain[next]->ep->id, r->by_domain[next]->domain);
    }
    return 0;
}

static int read_faults(struct restore *r)
{
    const struct viommu *v = r->v;
    uint32_t n;
    int err = take_u32(r, &n);

    if (err == 0) {
        err = take_u64(r, &r->dropped);
    }
    if (err != 0 || n == 0) {
        return err;
    }
    if (n > v->cfg.max_pending_faults) {
        return REFUSE(r, -ENOMEM,
                      "%u pending fault reports, more than max_pending_faults "
                      "%u",
                      n, v->cfg.max_pending_faults);
    }
    r->faults = calloc(n, sizeof(*r->faults));
    if (r->faults == NULL) {
        return REFUSE(r, -ENOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < n; i++) {
        uint8_t b[FAULT_SIZE];
        if ((err = take(r, b, sizeof(b), true)) != 0) {
            return err;
        }
        struct fault f = {b[0], le32_get(b + 1), le32_get(b + 5),
                          le64_get(b + 9)};
        if (idtable_find(&v->endpoints, f.endpoint) == NULL) {
            return REFUSE(r, -ENOENT,
                          "fault report names endpoint %u, not declared on "
                          "this device",
                          f.endpoint);
        }
        if (f.reason > VIRTIO_IOMMU_FAULT_R_MAPPING ||
            (f.flags & ~FAULT_FLAGS) != 0) {
            return REFUSE(r, -EINVAL,
                          "fault report of endpoint %u has reason %u, flags "
                          "%#x",
                          f.endpoint, f.reason, f.flags);
        }
        r->faults[r->nr_faults++] = f;
    }
    return 0;
}

static int read_trailer(struct restore *r)
{
    uint64_t counted = r->length, length, sum;
    uint8_t b[8];
    int err = take_u64(r, &length);

    if (err != 0) {
        return err;
    }
    if (length != counted) {
        return REFUSE(r, -EINVAL,
                      "the stream says it has %llu bytes before its trailer, "
                      "it has %llu",
                      (unsigned long long)length, (unsigned long long)counted);
    }
    uint64_t hash = r->hash;
    if ((err = take(r, b, sizeof(b), false)) != 0) {
        return err;
    }
    sum = le64_get(b);
    if (sum != hash) {
        return REFUSE(r, -EINVAL, "checksum mismatch");
    }
    if (r->pos == r->len) {
        err = fill(r);
        if (err == END_OF_STREAM) {
            return 0;
        }
        if (err != 0) {
            return REFUSE(r, err, "the stream's reader failed (errno %d)",
                          -err);
        }
    }
    return REFUSE(r, -EINVAL, "bytes after the end of the stream");
}

/* Enters every attached endpoint with a host context into its new domain,
 * which pushes the domain's mappings into the context. All or nothing. */
static int restore_push(struct restore *r)
{
    for (; r->pushed < r->nr_att; r->pushed++) {
        struct attachment *a = &r->att[r->pushed];
        int err = host_enter(r->v, a->ep, a->d);
        if (err != 0) {
            return REFUSE(r, err,
                          "the host context of endpoint %u refused domain "
                          "%u (errno %d)",
                          a->ep->id, a->d->id, -err);
        }
    }
    return 0;
}

static void restore_unpush(struct restore *r)
{
    while (r->pushed > 0) {
        struct attachment *a = &r->att[--r->pushed];
        int undo = 0;
        a->ep->domain = a->d; /* host_leave() takes it from the endpoint */
        host_leave(r->v, a->ep, &undo);
        a->ep->domain = NULL;
    }
}

/*
 * The one place where the restored state becomes the device's. Nothing
 * here can fail, and nothing the guest can see changed before it.
 */
static void restore_commit(struct restore *r)
{
    struct viommu *v = r->v;

    for (uint32_t i = 0; i < r->nr_att; i++) {
        struct endpoint *ep = r->att[i].ep;
        struct domain *d = r->att[i].d;
        ep->domain = d;
        ep->next_in_domain = d->endpoints;
        d->endpoints = ep;
    }
    idtable_free(&v->domains);
    v->domains = r->domains;
    r->domains = (struct idtable){0};
    v->nr_mappings = r->nr_mappings;
    if (r->nr_faults > 0) {
        memcpy(v->faults.ring, r->faults, r->nr_faults * sizeof(*r->faults));
    }
    v->faults.head = 0;
    v->faults.count = r->nr_faults;
    v->faults.dropped = r->dropped;
    v->accepted = r->accepted;
    v->bypass = r->bypass;
    invalidate_all(v);
}

static void restore_free(struct restore *r)
{
    for (uint32_t i = 0; i < r->domains.n; i++) {
        struct domain *d = (struct domain *)r->domains.items[i];
        mapstore_clear(&d->maps);
        host_links_free(d);
        free(d);
    }
    idtable_free(&r->domains);
    free(r->att);
    free(r->by_domain);
    free(r->faults);
    free(r);
}

int viommu_restore(struct viommu *v, viommu_read_fn read, void *opaque)
{
    int err;

    if (v == NULL || read == NULL) {
        return -EINVAL;
    }
    if (v->busy) {
        return -EBUSY;
    }
    if (v->domains.n > 0 || v->faults.count > 0) {
        vlog(v, VIOMMU_LOG_ERR, VIOMMU_LOG_SOURCE_DEVICE,
             "restore refused: the device has domains or pending fault "
             "reports (reset it first)");
        return -EBUSY;
    }
    struct restore *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return -ENOMEM;
    }
    r->v = v;
    r->read = read;
    r->opaque = opaque;
    r->hash = FNV_OFFSET;
    if ((err = read_header(r)) == 0 && (err = read_attachments(r)) == 0 &&
        (err = read_domains(r)) == 0 && (err = read_faults(r)) == 0 &&
        (err = read_trailer(r)) == 0 && (err = restore_push(r)) == 0) {
        restore_commit(r);
        vlog(v, VIOMMU_LOG_INFO, VIOMMU_LOG_SOURCE_DEVICE,
             "restored %u domains, %llu mappings, %u attached endpoints, %u "
             "fault reports",
             v->domains.n, (unsigned long long)v->nr_mappings, r->nr_att,
             r->nr_faults);
    } else {
        restore_unpush(r);
    }
    restore_free(r);
    return err;
}
