/* SPDX-License-Identifier: BSD-3-Clause */
#include "idtable.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint32_t idtable_lower_bound(const struct idtable *t, uint32_t id)
{
    uint32_t lo = 0, hi = t->n;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (*t->items[mid] < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

void *idtable_find(const struct idtable *t, uint32_t id)
{
    uint32_t i = idtable_lower_bound(t, id);

    return i < t->n && *t->items[i] == id ? t->items[i] : NULL;
}

int idtable_insert(struct idtable *t, void *obj)
{
    uint32_t *item = obj;

    if (t->n == t->cap) {
        uint32_t cap = t->cap != 0 ? t->cap * 2 : 16;
        uint32_t **items = realloc(t->items, cap * sizeof(*items));
        if (items == NULL) {
            return -ENOMEM;
        }
        t->items = items;
        t->cap = cap;
    }
    uint32_t i = idtable_lower_bound(t, *item);
    memmove(&t->items[i + 1], &t->items[i], (t->n - i) * sizeof(*t->items));
    t->items[i] = item;
    t->n++;
    return 0;
}

void idtable_remove(struct idtable *t, uint32_t id)
{
    uint32_t i = idtable_lower_bound(t, id);

    if (i < t->n && *t->items[i] == id) {
        memmove(&t->items[i], &t->items[i + 1],
                (t->n - i - 1) * sizeof(*t->items));
        t->n--;
    }
}

void idtable_free(struct idtable *t)
{
    free(t->items);
    t->items = NULL;
    t->n = t->cap = 0;
}
