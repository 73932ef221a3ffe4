/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The mapping store checked against a model (a plain sorted array) over
 * long random sequences, at sizes that split and merge several tree levels.
 */
#include "common.h"

#include "mapstore.h"

#include <stdlib.h>

struct model {
    struct mapping *m;
    size_t n;
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic across runs and machines. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* Index of the first model mapping whose end >= addr. */
static size_t model_first(const struct model *md, uint64_t addr)
{
    size_t lo = 0, hi = md->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (md->m[mid].end < addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static void model_insert(struct model *md, const struct mapping *m)
{
    size_t i = model_first(md, m->start);

    md->m = realloc(md->m, (md->n + 1) * sizeof(*md->m));
    assert_non_null(md->m);
    memmove(&md->m[i + 1], &md->m[i], (md->n - i) * sizeof(*md->m));
    md->m[i] = *m;
    md->n++;
}

struct cursor {
    const struct model *md;
    size_t i;
};

static int check_one(void *opaque, const struct mapping *m)
{
    struct cursor *c = opaque;

    assert_true(c->i < c->md->n);
    assert_int_equal(m->start, c->md->m[c->i].start);
    assert_int_equal(m->end, c->md->m[c->i].end);
    assert_int_equal(m->phys, c->md->m[c->i].phys);
    assert_int_equal(m->flags, c->md->m[c->i].flags);
    c->i++;
    return 0;
}

/* The tree's own invariants, the summaries lookups trust included. */
static void check_invariants(const struct mapstore *ms)
{
    const char *broken = mapstore_check(ms);

    if (broken != NULL) {
        fail_msg("mapstore invariant broken: %s", broken);
    }
}

static void check_same(const struct mapstore *ms, const struct model *md)
{
    struct cursor c = {md, 0};

    check_invariants(ms);
    assert_int_equal(ms->count, md->n);
    assert_int_equal(mapstore_foreach(ms, check_one, &c), 0);
    assert_int_equal(c.i, md->n);
}

static void check_find(const struct mapstore *ms, const struct model *md,
                       uint64_t addr)
{
    struct mapping got;
    size_t i = model_first(md, addr);
    bool found = mapstore_find_first(ms, addr, &got);

    assert_int_equal(found, i < md->n);
    if (found) {
        assert_int_equal(got.start, md->m[i].start);
        assert_int_equal(got.end, md->m[i].end);
    }
}

/* Random MAP/UNMAP/lookups in a small space, so that they collide. */
static void random_ops(uint64_t seed, unsigned ops, uint64_t space_pages,
                       uint64_t max_len_pages)
{
    struct mapstore ms;
    struct model md = {0};

    rng_state = seed;
    mapstore_init(&ms);
    for (unsigned op = 0; op < ops; op++) {
        uint64_t start = (rnd() % space_pages) * G;
        uint64_t end = start + (1 + rnd() % max_len_pages) * G - 1;
        size_t i = model_first(&md, start);
        bool overlap = i < md.n && md.m[i].start <= end;

        switch (rnd() % 3) {
        case 0:
        case 1: {
            assert_int_equal(mapstore_overlaps(&ms, start, end), overlap);
            if (!overlap) {
                struct mapping m = {start, end, rnd() & ~(G - 1),
                                    (uint32_t)(rnd() % 8)};
                assert_int_equal(mapstore_insert(&ms, &m), 0);
                model_insert(&md, &m);
            }
            break;
        }
        default: {
            size_t j = model_first(&md, end);
            bool split =
                (i < md.n && md.m[i].start < start) ||
                (j < md.n && md.m[j].start <= end && md.m[j].end > end);
            int64_t removed = mapstore_unmap(&ms, start, end);
            if (split) {
                assert_int_equal(removed, -ERANGE);
            } else {
                size_t k = i;
                while (k < md.n && md.m[k].start <= end) {
                    k++;
                }
                assert_int_equal(removed, (int64_t)(k - i));
                memmove(&md.m[i], &md.m[k], (md.n - k) * sizeof(*md.m));
                md.n -= k - i;
            }
            break;
        }
        }
        check_find(&ms, &md, (rnd() % (space_pages + 8)) * G + rnd() % G);
        if (op % 97 == 0) {
            check_same(&ms, &md);
        }
    }
    check_same(&ms, &md);
    mapstore_clear(&ms);
    assert_int_equal(ms.count, 0);
    assert_false(mapstore_find_first(&ms, 0, &(struct mapping){0}));
    free(md.m);
}

static void test_random_small_space(void **state)
{
    random_ops(1, 20000, 256, 4);
}

static void test_random_medium_space(void **state)
{
    random_ops(2, 60000, 20000, 3);
    random_ops(3, 60000, 4096, 64);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Many single-page mappings at random places, then removed in random order:
 * every level of the tree splits, then borrows and merges. */
static void test_grow_and_shrink_many_levels(void **state)
{
    const size_t n = 200000;
    uint64_t *keys = malloc(n * sizeof(*keys));
    uint64_t *scratch = malloc(n * sizeof(*scratch));
    struct mapstore ms;
    struct model md = {0};

    assert_non_null(keys);
    assert_non_null(scratch);
    rng_state = 7;
    mapstore_init(&ms);
    for (size_t i = 0; i < n; i++) {
        keys[i] = (rnd() >> 16) & ~(G - 1);
        struct mapping m = {keys[i], keys[i] + G - 1, keys[i] ^ 0x5000, 3};
        if (mapstore_overlaps(&ms, m.start, m.end)) {
            keys[i] = UINT64_MAX; /* a duplicate: skipped */
            continue;
        }
        assert_int_equal(mapstore_insert(&ms, &m), 0);
    }
    qsort(keys, n, sizeof(*keys), cmp_u64);
    size_t live = 0;
    while (live < n && keys[live] != UINT64_MAX) {
        live++;
    }
    md.m = malloc(live * sizeof(*md.m));
    assert_non_null(md.m);
    for (size_t i = 0; i < live; i++) {
        md.m[i] =
            (struct mapping){keys[i], keys[i] + G - 1, keys[i] ^ 0x5000, 3};
    }
    md.n = live;
    check_same(&ms, &md);
    for (int i = 0; i < 20000; i++) {
        check_find(&ms, &md, rnd() >> 16);
    }

    /* Remove in random order, checking as the tree shrinks. */
    for (size_t i = live; i > 1; i--) {
        size_t j = rnd() % i;
        uint64_t t = keys[j];
        keys[j] = keys[i - 1];
        keys[i - 1] = t;
    }
    for (size_t i = 0; i < live; i++) {
        assert_int_equal(mapstore_unmap(&ms, keys[i], keys[i] + G - 1), 1);
        if (i % 40000 == 0 || live - i < 40) {
            /* Checkpoint: the store holds exactly the keys not removed. */
            size_t left = live - i - 1;
            memcpy(scratch, &keys[i + 1], left * sizeof(*keys));
            qsort(scratch, left, sizeof(*scratch), cmp_u64);
            for (size_t k = 0; k < left; k++) {
                md.m[k] = (struct mapping){scratch[k], scratch[k] + G - 1,
                                           scratch[k] ^ 0x5000, 3};
            }
            md.n = left;
            check_same(&ms, &md);
        }
    }
    assert_int_equal(ms.count, 0);
    mapstore_clear(&ms);
    free(md.m);
    free(scratch);
    free(keys);
}

static void model_remove(struct model *md, uint64_t start)
{
    size_t i = model_first(md, start);

    assert_true(i < md->n && md->m[i].start == start);
    memmove(&md->m[i], &md->m[i + 1], (md->n - i - 1) * sizeof(*md->m));
    md->n--;
}

/* Lookups around m, and at both ends of the space where a key slot past a
 * node's count holds the same value as the address looked up. */
static void check_around(const struct mapstore *ms, const struct model *md,
                         const struct mapping *m)
{
    check_invariants(ms);
    check_find(ms, md, 0);
    check_find(ms, md, UINT64_MAX);
    check_find(ms, md, m->start);
    check_find(ms, md, m->end);
    check_find(ms, md, m->end + 1);
}

/*
 * Every node keeps a summary of its keys and pads the slots past its count,
 * which lookups trust without checking. Insertions in ascending, descending
 * and alternating order, then removals oldest first or at random, take the
 * paths that split, spill to a sibling, borrow and merge at two levels:
 * after each one, the summaries must be in step.
 */
static void test_summaries_kept_in_step(void **state)
{
    const uint64_t n = 5000;
    uint64_t *order = malloc(n * sizeof(*order));

    assert_non_null(order);
    rng_state = 11;
    for (int pass = 0; pass < 3; pass++) {
        struct mapstore ms;
        struct model md = {0};
        /* A one-byte mapping at the top: a key equal to the padding. */
        struct mapping top = {UINT64_MAX, UINT64_MAX, 0, 1};

        mapstore_init(&ms);
        assert_int_equal(mapstore_insert(&ms, &top), 0);
        model_insert(&md, &top);
        for (uint64_t k = 0; k < n; k++) {
            uint64_t page = pass == 0   ? k
                            : pass == 1 ? n - 1 - k
                            : k % 2     ? k / 2
                                        : n - 1 - k / 2;
            struct mapping m = {UINT64_MAX - (n - page) * 2 * G + 1, 0,
                                page * G, (uint32_t)(page % 8)};
            m.end = m.start + G - 1;
            assert_int_equal(mapstore_insert(&ms, &m), 0);
            model_insert(&md, &m);
            check_around(&ms, &md, &m);
            order[k] = m.start;
        }
        check_same(&ms, &md);

        /* Remove the oldest first (ascending, then descending), or at
         * random. */
        for (uint64_t k = 0; k < n; k++) {
            uint64_t j = pass < 2 ? k : k + rnd() % (n - k);
            uint64_t start = order[j];
            order[j] = order[k];
            order[k] = start;
            struct mapping m = {start, start + G - 1, 0, 0};
            assert_int_equal(mapstore_unmap(&ms, m.start, m.end), 1);
            model_remove(&md, start);
            check_around(&ms, &md, &m);
        }
        assert_int_equal(mapstore_unmap(&ms, UINT64_MAX, UINT64_MAX), 1);
        assert_int_equal(ms.count, 0);
        check_invariants(&ms);
        mapstore_clear(&ms);
        free(md.m);
    }
    free(order);
}

static void test_unmap_whole_space_and_edges(void **state)
{
    struct mapstore ms;

    mapstore_init(&ms);
    struct mapping top = {UINT64_MAX - G + 1, UINT64_MAX, 0, 1};
    struct mapping bottom = {0, G - 1, 0, 1};
    assert_int_equal(mapstore_insert(&ms, &top), 0);
    assert_int_equal(mapstore_insert(&ms, &bottom), 0);
    assert_true(mapstore_overlaps(&ms, UINT64_MAX, UINT64_MAX));
    assert_true(mapstore_overlaps(&ms, 0, 0));
    assert_false(mapstore_overlaps(&ms, G, UINT64_MAX - G));
    assert_int_equal(mapstore_unmap(&ms, 1, UINT64_MAX), -ERANGE);
    assert_int_equal(mapstore_unmap(&ms, 0, UINT64_MAX - 1), -ERANGE);
    assert_int_equal(mapstore_unmap(&ms, 0, UINT64_MAX), 2);
    assert_int_equal(ms.count, 0);
    mapstore_clear(&ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_small_space),
        cmocka_unit_test(test_random_medium_space),
        cmocka_unit_test(test_grow_and_shrink_many_levels),
        cmocka_unit_test(test_summaries_kept_in_step),
        cmocka_unit_test(test_unmap_whole_space_and_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
