/*
 * map.h - open-addressing hash map from byte-string keys to pointers.
 *
 * Linear probing with stored hashes and backward-shift deletion.  Keys up
 * to FR_MAP_INLINE bytes live inside the slot, so a lookup of a present
 * short key touches one cache line; longer keys are copied to the heap.
 * The map owns its keys and borrows values.  Slots move when the map grows
 * or deletes: never keep a slot or fr_map_key() pointer across those.
 * Not thread-safe.
 */
#ifndef FR_CORE_MAP_H
#define FR_CORE_MAP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FR_MAP_INLINE 24

typedef struct fr_map_slot {
    uint64_t hash;  /* 0 = empty */
    uint32_t klen;
    uint32_t user32; /* the user's, zero at insert: per-key data kept in the */
    union {          /* slot's cache line saves a pointer chase */
        char small[FR_MAP_INLINE]; /* klen <= FR_MAP_INLINE */
        char *big;                 /* owned copy otherwise */
    } k;
    void *value;    /* borrowed */
    uint64_t user64; /* the user's, zero at insert */
    uint64_t flags;  /* the user's, zero at insert */
} fr_map_slot_t;    /* 64 bytes: one cache line (slots are 64-byte aligned) */
_Static_assert(sizeof(fr_map_slot_t) == 64, "a slot is one cache line");

typedef struct fr_map {
    fr_map_slot_t *slots;
    size_t cap;  /* power of two */
    size_t size;
} fr_map_t;

void fr_map_init(fr_map_t *m);
/* Frees keys and slots (not values: iterate first to free those). */
void fr_map_destroy(fr_map_t *m);
uint64_t fr_map_hash(const void *key, size_t klen);

/* The key bytes of a slot (not NUL-terminated); valid while the slot is. */
static inline const char *fr_map_key(const fr_map_slot_t *s)
{
    return s->klen <= FR_MAP_INLINE ? s->k.small : s->k.big;
}

/* The slot holding key, or NULL.  Valid until the next insert or delete. */
static inline fr_map_slot_t *fr_map_find(const fr_map_t *m, const void *key, size_t klen,
                                         uint64_t hash)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        fr_map_slot_t *s = &m->slots[i];
        if (!s->hash)
            return NULL;
        if (s->hash == hash && s->klen == klen && memcmp(fr_map_key(s), key, klen) == 0)
            return s;
    }
}

/* Inserts key (must be absent) -> value.  Returns its slot (valid until the
 * next insert or delete) or NULL on allocation failure. */
fr_map_slot_t *fr_map_insert(fr_map_t *m, const void *key, size_t klen, uint64_t hash, void *value);
/* Removes the slot (from fr_map_find or iteration); frees its key. */
void fr_map_delete(fr_map_t *m, fr_map_slot_t *slot);

#endif
