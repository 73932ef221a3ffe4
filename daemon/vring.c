/* SPDX-License-Identifier: BSD-3-Clause */
#include "vring.h"

#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

void vq_init(struct vq *vq)
{
    memset(vq, 0, sizeof(*vq));
    vq->kick_fd = vq->call_fd = vq->err_fd = -1;
}

static void close_fd(int fd)
{
    if (fd >= 0) {
        close(fd);
    }
}

void vq_reset(struct vq *vq)
{
    bool enabled = vq->enabled, event_idx = vq->event_idx;

    close_fd(vq->kick_fd);
    close_fd(vq->call_fd);
    close_fd(vq->err_fd);
    vq_init(vq);
    vq->enabled = enabled;
    vq->event_idx = event_idx;
}

int vq_map(struct vq *vq, const struct mem_table *mem)
{
    uint64_t n = vq->num;

    if (n == 0) {
        return -EINVAL;
    }
    /* Sizes and alignments of the split ring (virtio 1.x 2.7). */
    vq->desc = mem_uva(mem, vq->desc_uva, 16 * n);
    vq->avail = mem_uva(mem, vq->avail_uva, 4 + 2 * n + 2);
    vq->used = mem_uva(mem, vq->used_uva, 4 + 8 * n + 2);
    /* The host addresses too: the rings are read with atomics. */
    if (vq->desc == NULL || vq->avail == NULL || vq->used == NULL ||
        (uintptr_t)vq->desc % 16 || (uintptr_t)vq->avail % 2 ||
        (uintptr_t)vq->used % 4) {
        vq->desc = NULL;
        vq->avail = NULL;
        vq->used = NULL;
        return -EFAULT;
    }
    vq->used_idx = le16toh(__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE));
    return 0;
}

int vq_remap(struct vq *vq, const struct mem_table *mem)
{
    if (!vq->addr_set) {
        return 0;
    }
    return vq_map(vq, mem);
}

bool vq_ready(const struct vq *vq)
{
    return vq->desc != NULL && vq->enabled && vq->kick_fd >= 0 && !vq->broken;
}

/* Adds [addr, addr + len) of guest memory to the chain, one iovec per
 * memory region it spans. */
static int add_buffer(const struct mem_table *mem, struct chain *c,
                      uint64_t addr, uint32_t len, bool writable,
                      const char **why)
{
    if (addr + len < addr) {
        *why = "buffer wraps around the address space";
        return -EFAULT;
    }
    while (len > 0) {
        uint64_t contig;
        void *p = mem_gpa(mem, addr, len, &contig);
        unsigned *nr = writable ? &c->nr_resp : &c->nr_req;
        struct iovec *iov = writable ? c->resp : c->req;
        if (p == NULL) {
            *why = "buffer outside guest memory";
            return -EFAULT;
        }
        if (*nr == CHAIN_MAX_IOV) {
            *why = "chain has too many buffers";
            return -E2BIG;
        }
        iov[(*nr)++] = (struct iovec){p, contig};
        addr += contig;
        len -= (uint32_t)contig;
    }
    return 0;
}

static int walk(struct vq *vq, const struct mem_table *mem, uint16_t head,
                struct chain *c, const char **why)
{
    const uint8_t *table = (const uint8_t *)vq->desc;
    unsigned max = vq->num, seen = 0, i = head;
    bool indirect = false;

    c->nr_req = c->nr_resp = 0;
    for (;;) {
        struct vring_desc d;
        memcpy(&d, table + 16 * (size_t)i, sizeof(d));
        uint16_t flags = le16toh(d.flags);
        uint64_t addr = le64toh(d.addr);
        uint32_t len = le32toh(d.len);
        if (++seen > max) {
            *why = "descriptor loop or chain longer than its table";
            return -ELOOP;
        }
        if (flags & VRING_DESC_F_INDIRECT) {
            uint64_t contig;
            if (indirect || (flags & VRING_DESC_F_NEXT)) {
                *why = "nested or chained indirect table";
                return -EINVAL;
            }
            if (len == 0 || len % 16 != 0 || len / 16 > VRING_MAX_SIZE) {
                *why = "bad indirect table length";
                return -EINVAL;
            }
            table = mem_gpa(mem, addr, len, &contig);
            if (table == NULL || contig != len) {
                *why = "indirect table outside guest memory";
                return -EFAULT;
            }
            indirect = true;
            max = len / 16;
            seen = 0;
            i = 0;
            continue;
        }
        bool writable = flags & VRING_DESC_F_WRITE;
        if (!writable && c->nr_resp > 0) {
            *why = "readable buffer after a writable one";
            return -EINVAL;
        }
        int err = add_buffer(mem, c, addr, len, writable, why);
        if (err != 0) {
            return err;
        }
        if (!(flags & VRING_DESC_F_NEXT)) {
            return 0;
        }
        i = le16toh(d.next);
        if (i >= max) {
            *why = "next descriptor out of the table";
            return -EINVAL;
        }
    }
}

int vq_pop(struct vq *vq, const struct mem_table *mem, struct chain *c,
           const char **why)
{
    uint16_t avail_idx =
        le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE));
    uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
    int err;

    if (pending == 0) {
        return 0;
    }
    if (pending > vq->num) {
        *why = "available index moved more than the ring size";
        err = -EINVAL;
        goto broken;
    }
    uint16_t head = le16toh(vq->avail->ring[vq->last_avail % vq->num]);
    if (head >= vq->num) {
        *why = "head descriptor out of the ring";
        err = -EINVAL;
        goto broken;
    }
    err = walk(vq, mem, head, c, why);
    if (err != 0) {
        goto broken;
    }
    c->head = head;
    vq->last_avail++;
    if (vq->event_idx && !vq->quiet) {
        /* avail_event: kick again once the driver goes past this. */
        __atomic_store_n((uint16_t *)&vq->used->ring[vq->num],
                         htole16(vq->last_avail), __ATOMIC_RELEASE);
    }
    return 1;

broken:
    vq->broken = true;
    return err;
}

void vq_push(struct vq *vq, uint16_t head, uint32_t len)
{
    struct vring_used_elem *e = &vq->used->ring[vq->used_idx % vq->num];

    e->id = htole32(head);
    e->len = htole32(len);
    vq->used_idx++;
    __atomic_store_n(&vq->used->idx, htole16(vq->used_idx), __ATOMIC_RELEASE);
}

bool vq_need_notify(struct vq *vq)
{
    /* The used index store must be visible before the driver's flags or
     * event index are read. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!vq->event_idx) {
        return !(le16toh(vq->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
    }
    uint16_t old = vq->signalled_used, now = vq->used_idx;
    bool valid = vq->signalled_valid;
    uint16_t event =
        le16toh(__atomic_load_n(&vq->avail->ring[vq->num], __ATOMIC_ACQUIRE));

    vq->signalled_used = now;
    vq->signalled_valid = true;
    return !valid || vring_need_event(event, now, old);
}

bool vq_has_avail(const struct vq *vq)
{
    return vq_ready(vq) &&
           le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE)) !=
               vq->last_avail;
}

void vq_set_quiet(struct vq *vq, bool quiet)
{
    vq->quiet = quiet;
    if (vq->used == NULL) {
        return;
    }
    if (vq->event_idx) {
        /* A driver kicks when its avail index passes the event index:
         * one behind the device's position is passed only after a whole
         * wrap of the index, so it stays quiet. */
        uint16_t event = quiet ? vq->last_avail - 1 : vq->last_avail;
        __atomic_store_n((uint16_t *)&vq->used->ring[vq->num], htole16(event),
                         __ATOMIC_RELEASE);
    } else {
        uint16_t flags = le16toh(vq->used->flags);
        flags = quiet ? flags | VRING_USED_F_NO_NOTIFY
                      : flags & ~VRING_USED_F_NO_NOTIFY;
        __atomic_store_n(&vq->used->flags, htole16(flags), __ATOMIC_RELEASE);
    }
    /* Asking for kicks again must be visible before the avail index is
     * read again (the driver orders its side the same way). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}
