/* map.c - see map.h. */
#include "core/map.h"

#include <stdlib.h>

#include "core/hash.h"

void fr_map_init(fr_map_t *m)
{
    m->slots = NULL;
    m->cap = m->size = 0;
}

static void free_key(fr_map_slot_t *s)
{
    if (s->klen > FR_MAP_INLINE)
        free(s->k.big);
}

void fr_map_destroy(fr_map_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].hash)
            free_key(&m->slots[i]);
    free(m->slots);
    fr_map_init(m);
}

uint64_t fr_map_hash(const void *key, size_t klen)
{
    uint64_t h = fr_hash64(key, klen, 0x6d6170);
    return h ? h : 1;
}

static int grow(fr_map_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    fr_map_slot_t *slots = aligned_alloc(64, cap * sizeof *slots);
    if (!slots)
        return -1;
    memset(slots, 0, cap * sizeof *slots);
    for (size_t i = 0; i < m->cap; i++) {
        fr_map_slot_t *s = &m->slots[i];
        if (!s->hash)
            continue;
        size_t j = s->hash & (cap - 1);
        while (slots[j].hash)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

fr_map_slot_t *fr_map_insert(fr_map_t *m, const void *key, size_t klen, uint64_t hash, void *value)
{
    if ((m->size + 1) * 4 > m->cap * 3 && grow(m))
        return NULL;
    char *big = NULL;
    if (klen > FR_MAP_INLINE) {
        big = malloc(klen);
        if (!big)
            return NULL;
        memcpy(big, key, klen);
    }
    size_t mask = m->cap - 1, i = hash & mask;
    while (m->slots[i].hash)
        i = (i + 1) & mask;
    fr_map_slot_t *s = &m->slots[i];
    s->hash = hash;
    s->klen = (uint32_t)klen;
    if (big)
        s->k.big = big;
    else
        memcpy(s->k.small, key, klen);
    s->value = value;
    s->user32 = 0;
    s->user64 = 0;
    s->flags = 0;
    m->size++;
    return s;
}

void fr_map_delete(fr_map_t *m, fr_map_slot_t *slot)
{
    size_t mask = m->cap - 1, i = (size_t)(slot - m->slots);
    free_key(slot);
    /* backward-shift: move later members of the probe run into the hole */
    for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        fr_map_slot_t *s = &m->slots[j];
        if (!s->hash)
            break;
        size_t home = s->hash & mask;
        /* s may move to i if i lies cyclically in [home, j) */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = *s;
            i = j;
        }
    }
    memset(&m->slots[i], 0, sizeof m->slots[i]);
    m->size--;
}
