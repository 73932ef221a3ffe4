/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * B+tree of non-overlapping IOVA intervals keyed by their start.
 *
 * Leaves keep their entries as parallel arrays, and a mapping costs 25 bytes
 * of payload plus the leaves' slack: no allocation per mapping. Leaves are
 * linked so that the predecessor of an address is at most one leaf to the
 * left even when a separator is stale (separators are lower bounds, not
 * exact minima).
 *
 * A lookup is bound by cache misses, so each node is searched in two cache
 * lines: nodes are line-aligned, their first line holds the count and a
 * summary (every 8th key), which picks the one line of 8 keys to compare.
 * That line's children (or its entries' ends and addresses) are fetched
 * while it is compared. Key slots past the count hold UINT64_MAX so that a
 * line is compared whole.
 *
 * A full leaf first spills entries into a sibling with room: with random
 * insertions, leaves are then about 85% full instead of 70%. Otherwise,
 * insertion preallocates every node its splits need before it changes
 * anything, so it either completes or fails with -ENOMEM and no change.
 * Deletion allocates nothing and keeps every non-root node at least half
 * full by borrowing from or merging with a sibling.
 */
#include "mapstore.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define LINE 64
#define LINE_KEYS (LINE / sizeof(uint64_t))
#define SLOTS 64 /* keys or children per node */
#define LINES (SLOTS / LINE_KEYS)
#define LEAF_MAX SLOTS
#define LEAF_MIN (LEAF_MAX / 2)
#define INNER_MAX SLOTS /* children */
#define INNER_MIN (INNER_MAX / 2)
#define MAX_HEIGHT 12  /* 32^12 entries at least: beyond any cap */
#define PAD UINT64_MAX /* key slots past the count */

/*
 * The summary of a node's sorted keys a[] is sum[j] = a[8j + 7]: the last
 * key of each line of a but the last line. For a leaf, a = start + 1 (see
 * leaf_count_le).
 */
struct leaf {
    uint16_t n;
    uint64_t sum[LINES - 1];
    uint64_t start[LEAF_MAX];
    uint64_t end[LEAF_MAX];
    uint64_t phys[LEAF_MAX];
    uint8_t flags[LEAF_MAX];
    struct leaf *prev, *next;
};

/* child[i] holds starts in [key[i-1], key[i]). */
struct inner {
    uint16_t n; /* children */
    uint64_t sum[LINES - 1];
    uint64_t key[INNER_MAX]; /* the last one is always PAD */
    void *child[INNER_MAX];
};

_Static_assert(LINE_KEYS == 8, "line_count_le compares 7 keys");
_Static_assert(offsetof(struct leaf, start) == LINE &&
                   offsetof(struct leaf, end) % LINE == 0 &&
                   offsetof(struct leaf, phys) % LINE == 0 &&
                   offsetof(struct inner, key) == LINE &&
                   offsetof(struct inner, child) % LINE == 0,
               "the summary fills the first line, key lines are aligned");

/*
 * The inner nodes on the way to a leaf and the child taken in each, by level
 * 1..height. One array of pairs, not two arrays: GCC 12.2 -O2 miscompiled
 * two arrays filled by one loop once inner_child was inlined into it (a
 * split's new child was never added to the parent).
 */
struct path {
    struct {
        struct inner *node;
        unsigned idx;
    } at[MAX_HEIGHT + 1];
};

/*
 * Number of a[0..6] that are <= x: a summary, or a line of keys but its
 * last, which the summary says is above x. Written out: GCC keeps the loop
 * rolled, and lookups were a fifth slower.
 */
static unsigned line_count_le(const uint64_t *a, uint64_t x)
{
    return (unsigned)(a[0] <= x) + (a[1] <= x) + (a[2] <= x) + (a[3] <= x) +
           (a[4] <= x) + (a[5] <= x) + (a[6] <= x);
}

/* Refreshes the summary of a after a change to its keys from index `from`
 * on. */
static void summarize(uint64_t *sum, const uint64_t *a, unsigned from)
{
    for (unsigned j = from / LINE_KEYS; j < LINES - 1; j++) {
        sum[j] = a[j * LINE_KEYS + LINE_KEYS - 1];
    }
}

/* A zeroed node, line-aligned so that a line of keys is one cache line. */
static void *node_alloc(size_t size)
{
    void *node;

    if (posix_memalign(&node, LINE, size) != 0) {
        return NULL;
    }
    return memset(node, 0, size);
}

static struct leaf *leaf_new(void)
{
    struct leaf *l = node_alloc(sizeof(*l));

    if (l == NULL) {
        return NULL;
    }
    for (unsigned i = 0; i < LEAF_MAX; i++) {
        l->start[i] = PAD;
    }
    summarize(l->sum, l->start + 1, 0);
    return l;
}

static struct inner *inner_new(void)
{
    struct inner *in = node_alloc(sizeof(*in));

    if (in == NULL) {
        return NULL;
    }
    for (unsigned i = 0; i < INNER_MAX; i++) {
        in->key[i] = PAD;
    }
    summarize(in->sum, in->key, 0);
    return in;
}

/* The child of in where key belongs. */
static unsigned inner_child(const struct inner *in, uint64_t key)
{
    unsigned g = line_count_le(in->sum, key) * LINE_KEYS;

    __builtin_prefetch(&in->child[g]);
    unsigned c = g + line_count_le(&in->key[g], key);
    /* Only key == PAD counts padding. */
    return c < in->n - 1u ? c : in->n - 1u;
}

/*
 * Number of l's starts that are <= key. The summary covers start[1..], so
 * that the entry before that number (the predecessor of key) is in the
 * line that is compared: its end, address and flags are fetched meanwhile.
 */
static unsigned leaf_count_le(const struct leaf *l, uint64_t key)
{
    unsigned g = line_count_le(l->sum, key) * LINE_KEYS;

    __builtin_prefetch(&l->end[g]);
    __builtin_prefetch(&l->phys[g]);
    __builtin_prefetch(&l->flags[g]);
    unsigned c = g + line_count_le(&l->start[g + 1], key);
    if (c == 0) {
        return l->start[0] <= key;
    }
    return c + 1 < l->n ? c + 1 : l->n;
}

void mapstore_init(struct mapstore *ms)
{
    ms->root = NULL;
    ms->height = 0;
    ms->count = 0;
}

static void free_subtree(void *node, unsigned height)
{
    if (height > 0) {
        struct inner *in = node;
        for (unsigned i = 0; i < in->n; i++) {
            free_subtree(in->child[i], height - 1);
        }
    }
    free(node);
}

void mapstore_clear(struct mapstore *ms)
{
    if (ms->root != NULL) {
        free_subtree(ms->root, ms->height);
    }
    mapstore_init(ms);
}

/* The leaf where key belongs. */
static struct leaf *find_leaf(const struct mapstore *ms, uint64_t key)
{
    void *node = ms->root;

    for (unsigned level = ms->height; level > 0; level--) {
        struct inner *in = node;
        node = in->child[inner_child(in, key)];
    }
    return node;
}

/* As find_leaf, recording the inner nodes and child indices on the way. */
static struct leaf *find_leaf_path(const struct mapstore *ms, uint64_t key,
                                   struct path *path)
{
    void *node = ms->root;

    for (unsigned level = ms->height; level > 0; level--) {
        struct inner *in = node;
        unsigned i = inner_child(in, key);
        path->at[level].node = in;
        path->at[level].idx = i;
        node = in->child[i];
    }
    return node;
}

static void leaf_get(const struct leaf *l, unsigned i, struct mapping *out)
{
    out->start = l->start[i];
    out->end = l->end[i];
    out->phys = l->phys[i];
    out->flags = l->flags[i];
}

bool mapstore_find_first(const struct mapstore *ms, uint64_t addr,
                         struct mapping *out)
{
    if (ms->count == 0) {
        return false;
    }
    const struct leaf *l = find_leaf(ms, addr);
    unsigned i = leaf_count_le(l, addr);

    if (i == 0) {
        /* Stale separator: the predecessor may end the previous leaf. */
        const struct leaf *p = l->prev;
        if (p != NULL && p->end[p->n - 1] >= addr) {
            leaf_get(p, p->n - 1u, out);
            return true;
        }
    } else if (l->end[i - 1] >= addr) {
        leaf_get(l, i - 1, out);
        return true;
    }
    if (i == l->n) {
        l = l->next;
        i = 0;
        if (l == NULL) {
            return false;
        }
    }
    leaf_get(l, i, out);
    return true;
}

bool mapstore_overlaps(const struct mapstore *ms, uint64_t start, uint64_t end)
{
    struct mapping m;

    return mapstore_find_first(ms, start, &m) && m.start <= end;
}

/* Sets the count of l to n once its entries from `changed` on are in place:
 * the slots it gave up are padded and its summary is refreshed. */
static void leaf_settle(struct leaf *l, unsigned n, unsigned changed)
{
    for (unsigned i = n; i < l->n; i++) {
        l->start[i] = PAD;
    }
    l->n = (uint16_t)n;
    summarize(l->sum, l->start + 1, changed > 0 ? changed - 1 : 0);
}

/* As leaf_settle, for an inner node of n children. */
static void inner_settle(struct inner *in, unsigned n, unsigned changed)
{
    for (unsigned i = n; i < in->n; i++) {
        in->key[i - 1] = PAD;
    }
    in->n = (uint16_t)n;
    summarize(in->sum, in->key, changed);
}

static void inner_set_key(struct inner *in, unsigned i, uint64_t key)
{
    in->key[i] = key;
    summarize(in->sum, in->key, i);
}

static void leaf_insert_at(struct leaf *l, unsigned pos,
                           const struct mapping *m)
{
    unsigned tail = l->n - pos;

    memmove(&l->start[pos + 1], &l->start[pos], tail * sizeof(uint64_t));
    memmove(&l->end[pos + 1], &l->end[pos], tail * sizeof(uint64_t));
    memmove(&l->phys[pos + 1], &l->phys[pos], tail * sizeof(uint64_t));
    memmove(&l->flags[pos + 1], &l->flags[pos], tail);
    l->start[pos] = m->start;
    l->end[pos] = m->end;
    l->phys[pos] = m->phys;
    l->flags[pos] = (uint8_t)m->flags;
    leaf_settle(l, l->n + 1u, pos);
}

/* Moves entries [from, from+cnt) of src to dst at position at; the caller
 * settles both. */
static void leaf_move(struct leaf *dst, unsigned at, struct leaf *src,
                      unsigned from, unsigned cnt)
{
    memmove(&dst->start[at], &src->start[from], cnt * sizeof(uint64_t));
    memmove(&dst->end[at], &src->end[from], cnt * sizeof(uint64_t));
    memmove(&dst->phys[at], &src->phys[from], cnt * sizeof(uint64_t));
    memmove(&dst->flags[at], &src->flags[from], cnt);
}

static void leaf_remove_at(struct leaf *l, unsigned pos)
{
    leaf_move(l, pos, l, pos + 1, l->n - pos - 1u);
    leaf_settle(l, l->n - 1u, pos);
}

/* Inserts separator key with its right child at index i+1 of a non-full
 * inner node. */
static void inner_insert_at(struct inner *in, unsigned i, uint64_t key,
                            void *right)
{
    memmove(&in->key[i + 1], &in->key[i], (in->n - 1u - i) * sizeof(uint64_t));
    memmove(&in->child[i + 2], &in->child[i + 1],
            (in->n - 1u - i) * sizeof(void *));
    in->key[i] = key;
    in->child[i + 1] = right;
    inner_settle(in, in->n + 1u, i);
}

/* Removes key i and child i+1. */
static void inner_remove_at(struct inner *in, unsigned i)
{
    memmove(&in->key[i], &in->key[i + 1], (in->n - 2u - i) * sizeof(uint64_t));
    memmove(&in->child[i + 1], &in->child[i + 2],
            (in->n - 2u - i) * sizeof(void *));
    inner_settle(in, in->n - 1u, i);
}

/*
 * Splits the full inner node `in` while inserting (key, right) after child
 * i. The upper half moves to the empty node `sib`; returns the separator
 * pushed up.
 */
static uint64_t inner_split_insert(struct inner *in, unsigned i, uint64_t key,
                                   void *right, struct inner *sib)
{
    uint64_t keys[INNER_MAX];
    void *children[INNER_MAX + 1];
    unsigned left_n = (INNER_MAX + 1) / 2;
    unsigned right_n = INNER_MAX + 1 - left_n;

    memcpy(keys, in->key, i * sizeof(uint64_t));
    keys[i] = key;
    memcpy(&keys[i + 1], &in->key[i], (INNER_MAX - 1 - i) * sizeof(uint64_t));
    memcpy(children, in->child, (i + 1) * sizeof(void *));
    children[i + 1] = right;
    memcpy(&children[i + 2], &in->child[i + 1],
           (INNER_MAX - 1 - i) * sizeof(void *));

    memcpy(in->key, keys, (left_n - 1) * sizeof(uint64_t));
    memcpy(in->child, children, left_n * sizeof(void *));
    inner_settle(in, left_n, 0);
    memcpy(sib->key, &keys[left_n], (right_n - 1) * sizeof(uint64_t));
    memcpy(sib->child, &children[left_n], right_n * sizeof(void *));
    inner_settle(sib, right_n, 0);
    return keys[left_n - 1];
}

/*
 * Makes room in the full leaf *l, child i of p, by moving entries to the
 * emptier sibling if it has room: no allocation, and fuller leaves than
 * splits alone leave. *l and *pos then say where the entry at *pos goes;
 * both are unchanged when neither sibling has room.
 */
static void leaf_spill(struct leaf **l, unsigned *pos, struct inner *p,
                       unsigned i)
{
    struct leaf *full = *l;
    struct leaf *left = i > 0 ? p->child[i - 1] : NULL;
    struct leaf *right = i + 1 < p->n ? p->child[i + 1] : NULL;

    if (right != NULL && (left == NULL || right->n <= left->n)) {
        unsigned k = (LEAF_MAX - right->n) / 2, keep = LEAF_MAX - k;
        if (k == 0) {
            return;
        }
        leaf_move(right, k, right, 0, right->n);
        leaf_move(right, 0, full, keep, k);
        leaf_settle(right, right->n + k, 0);
        leaf_settle(full, keep, keep);
        inner_set_key(p, i, right->start[0]);
        if (*pos > keep) {
            *l = right;
            *pos -= keep;
        }
    } else if (left != NULL) {
        unsigned k = (LEAF_MAX - left->n) / 2, at = left->n;
        if (k == 0) {
            return;
        }
        leaf_move(left, at, full, 0, k);
        leaf_settle(left, at + k, at);
        leaf_move(full, 0, full, k, LEAF_MAX - k);
        leaf_settle(full, LEAF_MAX - k, 0);
        inner_set_key(p, i - 1, full->start[0]);
        if (*pos <= k) {
            *l = left;
            *pos += at;
        } else {
            *pos -= k;
        }
    }
}

int mapstore_insert(struct mapstore *ms, const struct mapping *m)
{
    struct path path;
    void *spare[MAX_HEIGHT + 2];
    unsigned nspare = 0, used = 0;

    if (ms->root == NULL) {
        struct leaf *l = leaf_new();
        if (l == NULL) {
            return -ENOMEM;
        }
        ms->root = l;
    }
    struct leaf *l = find_leaf_path(ms, m->start, &path);
    unsigned pos = leaf_count_le(l, m->start);

    /* The neighbours are at pos - 1 and pos, or across a leaf boundary. */
    const struct leaf *pl = pos > 0 ? l : l->prev;
    const struct leaf *nl = pos < l->n ? l : l->next;
    if ((pl != NULL && pl->end[pos > 0 ? pos - 1 : pl->n - 1u] >= m->start) ||
        (nl != NULL && nl->start[pos < l->n ? pos : 0] <= m->end)) {
        return -EEXIST;
    }

    if (l->n == LEAF_MAX && ms->height > 0) {
        leaf_spill(&l, &pos, path.at[1].node, path.at[1].idx);
    }
    /* Count the splits this insertion causes and allocate them first. */
    if (l->n == LEAF_MAX) {
        unsigned need = 1;
        for (unsigned level = 1;
             level <= ms->height && path.at[level].node->n == INNER_MAX;
             level++) {
            need++;
        }
        if (need > ms->height) {
            need++; /* a new root */
        }
        if (ms->height + 1 > MAX_HEIGHT) {
            return -ENOMEM;
        }
        for (; nspare < need; nspare++) {
            spare[nspare] =
                nspare == 0 ? (void *)leaf_new() : (void *)inner_new();
            if (spare[nspare] == NULL) {
                while (nspare > 0) {
                    free(spare[--nspare]);
                }
                return -ENOMEM;
            }
        }
    }

    ms->count++;
    if (l->n < LEAF_MAX) {
        leaf_insert_at(l, pos, m);
        return 0;
    }

    struct leaf *r = spare[used++];
    leaf_move(r, 0, l, LEAF_MAX / 2, LEAF_MAX - LEAF_MAX / 2);
    leaf_settle(r, LEAF_MAX - LEAF_MAX / 2, 0);
    leaf_settle(l, LEAF_MAX / 2, LEAF_MAX / 2);
    r->next = l->next;
    r->prev = l;
    if (r->next != NULL) {
        r->next->prev = r;
    }
    l->next = r;
    if (pos > l->n) {
        leaf_insert_at(r, pos - l->n, m);
    } else {
        leaf_insert_at(l, pos, m);
    }

    uint64_t sep = r->start[0];
    void *right = r;
    for (unsigned level = 1; level <= ms->height; level++) {
        struct inner *in = path.at[level].node;
        unsigned i = path.at[level].idx;
        if (in->n < INNER_MAX) {
            inner_insert_at(in, i, sep, right);
            return 0;
        }
        struct inner *sib = spare[used++];
        sep = inner_split_insert(in, i, sep, right, sib);
        right = sib;
    }
    struct inner *root = spare[used++];
    root->key[0] = sep;
    root->child[0] = ms->root;
    root->child[1] = right;
    inner_settle(root, 2, 0);
    ms->root = root;
    ms->height++;
    return 0;
}

/* Restores the fill of leaf l (child i of parent p) after a removal. */
static void leaf_rebalance(struct leaf *l, struct inner *p, unsigned i)
{
    struct leaf *left = i > 0 ? p->child[i - 1] : NULL;
    struct leaf *right = i + 1 < p->n ? p->child[i + 1] : NULL;

    if (left != NULL && left->n > LEAF_MIN) {
        leaf_move(l, 1, l, 0, l->n);
        leaf_move(l, 0, left, left->n - 1u, 1);
        leaf_settle(left, left->n - 1u, left->n - 1u);
        leaf_settle(l, l->n + 1u, 0);
        inner_set_key(p, i - 1, l->start[0]);
    } else if (right != NULL && right->n > LEAF_MIN) {
        leaf_move(l, l->n, right, 0, 1);
        leaf_settle(l, l->n + 1u, l->n);
        leaf_remove_at(right, 0);
        inner_set_key(p, i, right->start[0]);
    } else {
        /* Merge the right one of the pair into the left one. */
        struct leaf *dst = left != NULL ? left : l;
        struct leaf *src = left != NULL ? l : right;
        leaf_move(dst, dst->n, src, 0, src->n);
        leaf_settle(dst, dst->n + src->n, dst->n);
        dst->next = src->next;
        if (dst->next != NULL) {
            dst->next->prev = dst;
        }
        inner_remove_at(p, left != NULL ? i - 1 : i);
        free(src);
    }
}

/* Restores the fill of inner node c (child i of parent p). */
static void inner_rebalance(struct inner *c, struct inner *p, unsigned i)
{
    struct inner *left = i > 0 ? p->child[i - 1] : NULL;
    struct inner *right = i + 1 < p->n ? p->child[i + 1] : NULL;

    if (left != NULL && left->n > INNER_MIN) {
        memmove(&c->key[1], &c->key[0], (c->n - 1u) * sizeof(uint64_t));
        memmove(&c->child[1], &c->child[0], c->n * sizeof(void *));
        c->key[0] = p->key[i - 1];
        c->child[0] = left->child[left->n - 1];
        inner_settle(c, c->n + 1u, 0);
        inner_set_key(p, i - 1, left->key[left->n - 2]);
        inner_settle(left, left->n - 1u, left->n - 2u);
    } else if (right != NULL && right->n > INNER_MIN) {
        c->key[c->n - 1] = p->key[i];
        c->child[c->n] = right->child[0];
        inner_settle(c, c->n + 1u, c->n - 1u);
        inner_set_key(p, i, right->key[0]);
        memmove(&right->key[0], &right->key[1],
                (right->n - 2u) * sizeof(uint64_t));
        memmove(&right->child[0], &right->child[1],
                (right->n - 1u) * sizeof(void *));
        inner_settle(right, right->n - 1u, 0);
    } else {
        struct inner *dst = left != NULL ? left : c;
        struct inner *src = left != NULL ? c : right;
        unsigned sep = left != NULL ? i - 1 : i;
        dst->key[dst->n - 1] = p->key[sep];
        memcpy(&dst->key[dst->n], src->key, (src->n - 1u) * sizeof(uint64_t));
        memcpy(&dst->child[dst->n], src->child, src->n * sizeof(void *));
        inner_settle(dst, dst->n + src->n, dst->n - 1u);
        inner_remove_at(p, sep);
        free(src);
    }
}

/* Removes the mapping that starts exactly at start (it must exist). */
static void remove_start(struct mapstore *ms, uint64_t start)
{
    struct path path;
    struct leaf *l = find_leaf_path(ms, start, &path);
    unsigned pos = leaf_count_le(l, start) - 1u;

    leaf_remove_at(l, pos);
    ms->count--;
    if (ms->height == 0) {
        if (l->n == 0) {
            free(l);
            ms->root = NULL;
        }
        return;
    }
    if (l->n >= LEAF_MIN) {
        return;
    }
    leaf_rebalance(l, path.at[1].node, path.at[1].idx);
    for (unsigned level = 1; level < ms->height; level++) {
        struct inner *in = path.at[level].node;
        if (in->n >= INNER_MIN) {
            break;
        }
        inner_rebalance(in, path.at[level + 1].node, path.at[level + 1].idx);
    }
    struct inner *root = ms->root;
    if (root->n == 1) {
        ms->root = root->child[0];
        ms->height--;
        free(root);
    }
}

/* The first mapping inside [start, end]: 1 with *m, 0 when there is none,
 * -ERANGE when a mapping straddles start or end. */
static int first_inside(const struct mapstore *ms, uint64_t start, uint64_t end,
                        struct mapping *m)
{
    struct mapping last;

    if (!mapstore_find_first(ms, start, m) || m->start > end) {
        return 0;
    }
    if (m->start < start || m->end > end) {
        return -ERANGE;
    }
    /* Some later mapping may straddle end; the common single-mapping
     * UNMAP (m->end == end) needs no second look. */
    if (m->end < end && mapstore_find_first(ms, end, &last) &&
        last.start <= end && last.end > end) {
        return -ERANGE;
    }
    return 1;
}

bool mapstore_straddles(const struct mapstore *ms, uint64_t start, uint64_t end)
{
    struct mapping m;

    return first_inside(ms, start, end, &m) < 0;
}

int64_t mapstore_unmap(struct mapstore *ms, uint64_t start, uint64_t end)
{
    struct mapping m;
    int64_t removed = 0;
    int found = first_inside(ms, start, end, &m);

    if (found <= 0) {
        return found;
    }
    for (;;) {
        remove_start(ms, m.start);
        removed++;
        if (m.end == end || !mapstore_find_first(ms, m.end + 1, &m) ||
            m.start > end) {
            return removed;
        }
    }
}

int mapstore_foreach(const struct mapstore *ms,
                     int (*fn)(void *opaque, const struct mapping *m),
                     void *opaque)
{
    if (ms->count == 0) {
        return 0;
    }
    const struct leaf *l = find_leaf(ms, 0);
    for (; l != NULL; l = l->next) {
        for (unsigned i = 0; i < l->n; i++) {
            struct mapping m;
            leaf_get(l, i, &m);
            int ret = fn(opaque, &m);
            if (ret != 0) {
                return ret;
            }
        }
    }
    return 0;
}

struct check {
    const struct leaf *last; /* the leaf before, in order */
    uint64_t count;
};

/* Checks a leaf whose starts must lie in [lo, hi), or [lo, ...) when
 * !bounded. */
static const char *check_leaf(const struct leaf *l, bool root, uint64_t lo,
                              uint64_t hi, bool bounded, struct check *c)
{
    if (l->n < (root ? 1 : LEAF_MIN) || l->n > LEAF_MAX) {
        return "leaf fill";
    }
    if (l->prev != c->last || (c->last != NULL && c->last->next != l)) {
        return "leaf links";
    }
    for (unsigned i = 0; i < l->n; i++) {
        if (l->start[i] < lo || (bounded && l->start[i] >= hi)) {
            return "leaf start outside its separators";
        }
        if (l->end[i] < l->start[i]) {
            return "leaf entry ends before it starts";
        }
        if (i > 0 && l->start[i] <= l->end[i - 1]) {
            return "leaf entries out of order or overlapping";
        }
    }
    if (c->last != NULL && l->start[0] <= c->last->end[c->last->n - 1]) {
        return "leaves out of order or overlapping";
    }
    for (unsigned i = l->n; i < LEAF_MAX; i++) {
        if (l->start[i] != PAD) {
            return "leaf padding";
        }
    }
    for (unsigned j = 0; j < LINES - 1; j++) {
        if (l->sum[j] != l->start[j * LINE_KEYS + LINE_KEYS]) {
            return "leaf summary";
        }
    }
    c->last = l;
    c->count += l->n;
    return NULL;
}

static const char *check_node(const void *node, unsigned height, bool root,
                              uint64_t lo, uint64_t hi, bool bounded,
                              struct check *c)
{
    const struct inner *in = node;

    if (height == 0) {
        return check_leaf(node, root, lo, hi, bounded, c);
    }
    if (in->n < (root ? 2 : INNER_MIN) || in->n > INNER_MAX) {
        return "inner node fill";
    }
    for (unsigned i = in->n - 1u; i < INNER_MAX; i++) {
        if (in->key[i] != PAD) {
            return "inner padding";
        }
    }
    for (unsigned j = 0; j < LINES - 1; j++) {
        if (in->sum[j] != in->key[j * LINE_KEYS + LINE_KEYS - 1]) {
            return "inner summary";
        }
    }
    for (unsigned i = 0; i < in->n; i++) {
        uint64_t child_lo = i > 0 ? in->key[i - 1] : lo;
        bool last = i + 1 == in->n;
        uint64_t child_hi = last ? hi : in->key[i];
        if (child_lo < lo || (bounded && !last && child_hi > hi)) {
            return "separator outside its parent's";
        }
        const char *err = check_node(in->child[i], height - 1, false, child_lo,
                                     child_hi, bounded || !last, c);
        if (err != NULL) {
            return err;
        }
    }
    return NULL;
}

const char *mapstore_check(const struct mapstore *ms)
{
    struct check c = {NULL, 0};

    if (ms->root == NULL) {
        return ms->count == 0 && ms->height == 0 ? NULL : "empty root";
    }
    const char *err = check_node(ms->root, ms->height, true, 0, 0, false, &c);
    if (err != NULL) {
        return err;
    }
    if (c.last->next != NULL) {
        return "leaf links";
    }
    return c.count == ms->count ? NULL : "count";
}
