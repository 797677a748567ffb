/*
 * map.h - open-addressing hash map from byte-string keys to pointers.
 *
 * Linear probing with stored hashes and backward-shift deletion, so lookups
 * of present keys touch one or two cache lines.  The map copies keys (it
 * owns them) and borrows values.  Not thread-safe.
 */
#ifndef FR_CORE_MAP_H
#define FR_CORE_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct fr_map_slot {
    uint64_t hash;  /* 0 = empty */
    char *key;      /* owned copy, NUL-terminated */
    uint32_t klen;
    void *value;    /* borrowed */
} fr_map_slot_t;

typedef struct fr_map {
    fr_map_slot_t *slots;
    size_t cap;  /* power of two */
    size_t size;
} fr_map_t;

void fr_map_init(fr_map_t *m);
/* Frees keys and slots (not values: iterate first to free those). */
void fr_map_destroy(fr_map_t *m);
uint64_t fr_map_hash(const void *key, size_t klen);
/* The slot holding key, or NULL.  Valid until the next insert or delete. */
fr_map_slot_t *fr_map_find(const fr_map_t *m, const void *key, size_t klen, uint64_t hash);
/* Inserts key (must be absent) -> value.  Returns its slot (valid until the
 * next insert or delete) or NULL on allocation failure. */
fr_map_slot_t *fr_map_insert(fr_map_t *m, const void *key, size_t klen, uint64_t hash, void *value);
/* Removes the slot (from fr_map_find or iteration); frees its key. */
void fr_map_delete(fr_map_t *m, fr_map_slot_t *slot);

#endif
