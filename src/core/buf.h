/*
 * buf.h - growable byte buffer born with a maximum (after curl's dynbuf).
 *
 * Every buffer fed by outside input is created with the most it may ever
 * hold; appends past it fail with FR_ELIMIT and leave the buffer unchanged.
 * The contents are always NUL-terminated (the NUL is not counted in len).
 */
#ifndef FR_CORE_BUF_H
#define FR_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fr_buf {
    char *p;    /* owned; NULL until the first append */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
    size_t max; /* most bytes len may reach */
} fr_buf_t;

/* Initialises caller's storage; allocates nothing. */
void fr_buf_init(fr_buf_t *b, size_t max);
/* Frees the contents; b may be reused after fr_buf_init. */
void fr_buf_destroy(fr_buf_t *b);
/* Empties the buffer, keeping its allocation. */
void fr_buf_reset(fr_buf_t *b);
/* Ensures room for n more bytes. 0, FR_ELIMIT or FR_ENOMEM. */
int fr_buf_reserve(fr_buf_t *b, size_t n);
/* Appends n bytes. 0, FR_ELIMIT or FR_ENOMEM. */
int fr_buf_add(fr_buf_t *b, const void *p, size_t n);
int fr_buf_addstr(fr_buf_t *b, const char *s);
int fr_buf_addc(fr_buf_t *b, char c);
int fr_buf_printf(fr_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int fr_buf_vprintf(fr_buf_t *b, const char *fmt, va_list ap);
/* Fixed-width little-endian and varint appends. */
int fr_buf_add_u8(fr_buf_t *b, uint8_t v);
int fr_buf_add_u16(fr_buf_t *b, uint16_t v);
int fr_buf_add_u32(fr_buf_t *b, uint32_t v);
int fr_buf_add_u64(fr_buf_t *b, uint64_t v);
int fr_buf_add_varint(fr_buf_t *b, uint64_t v);
/* Transfers the contents to the caller (free() it); b is left empty. */
char *fr_buf_steal(fr_buf_t *b, size_t *len);

/*
 * A bounded reader over bytes it does not own.  Every get fails with
 * FR_ECORRUPT instead of reading past the end; once failed it stays failed.
 */
typedef struct fr_rd {
    const uint8_t *p, *end;
    int err;
} fr_rd_t;

static inline void fr_rd_init(fr_rd_t *r, const void *p, size_t n)
{
    r->p = p;
    r->end = r->p + n;
    r->err = 0;
}
uint8_t fr_rd_u8(fr_rd_t *r);
uint16_t fr_rd_u16(fr_rd_t *r);
uint32_t fr_rd_u32(fr_rd_t *r);
uint64_t fr_rd_u64(fr_rd_t *r);
uint64_t fr_rd_varint(fr_rd_t *r);
/* Returns a view of n bytes (valid as long as the input), or NULL. */
const void *fr_rd_bytes(fr_rd_t *r, size_t n);

/* Little-endian loads and stores on unaligned memory. */
static inline uint64_t fr_load_u64(const void *p)
{
    const uint8_t *b = p;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}
static inline void fr_store_u64(void *p, uint64_t v)
{
    uint8_t *b = p;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}
/* Big-endian u64, for LMDB keys that must sort numerically. */
static inline void fr_store_be64(void *p, uint64_t v)
{
    uint8_t *b = p;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (56 - 8 * i));
}
static inline uint64_t fr_load_be64(const void *p)
{
    const uint8_t *b = p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

#endif
