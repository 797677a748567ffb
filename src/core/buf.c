/* buf.c - bounded growable buffers and bounded readers. */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void fr_buf_init(fr_buf_t *b, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void fr_buf_destroy(fr_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void fr_buf_reset(fr_buf_t *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

int fr_buf_reserve(fr_buf_t *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return FR_ELIMIT;
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->p, cap);
    if (!p)
        return FR_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int fr_buf_add(fr_buf_t *b, const void *p, size_t n)
{
    int rc = fr_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int fr_buf_addstr(fr_buf_t *b, const char *s)
{
    return fr_buf_add(b, s, strlen(s));
}

int fr_buf_addc(fr_buf_t *b, char c)
{
    return fr_buf_add(b, &c, 1);
}

int fr_buf_vprintf(fr_buf_t *b, const char *fmt, va_list ap)
{
    char small[256];
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(small, sizeof small, fmt, cp);
    va_end(cp);
    if (n < 0)
        return FR_EINVAL;
    if ((size_t)n < sizeof small)
        return fr_buf_add(b, small, (size_t)n);
    int rc = fr_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int fr_buf_printf(fr_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = fr_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int fr_buf_add_u8(fr_buf_t *b, uint8_t v)
{
    return fr_buf_add(b, &v, 1);
}

int fr_buf_add_u16(fr_buf_t *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    return fr_buf_add(b, x, 2);
}

int fr_buf_add_u32(fr_buf_t *b, uint32_t v)
{
    uint8_t x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    return fr_buf_add(b, x, 4);
}

int fr_buf_add_u64(fr_buf_t *b, uint64_t v)
{
    uint8_t x[8];
    fr_store_u64(x, v);
    return fr_buf_add(b, x, 8);
}

int fr_buf_add_varint(fr_buf_t *b, uint64_t v)
{
    uint8_t x[10];
    size_t n = 0;
    while (v >= 0x80) {
        x[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    x[n++] = (uint8_t)v;
    return fr_buf_add(b, x, n);
}

char *fr_buf_steal(fr_buf_t *b, size_t *len)
{
    char *p = b->p;
    if (len)
        *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

static int rd_need(fr_rd_t *r, size_t n)
{
    if (r->err || (size_t)(r->end - r->p) < n) {
        r->err = FR_ECORRUPT;
        return 0;
    }
    return 1;
}

uint8_t fr_rd_u8(fr_rd_t *r)
{
    if (!rd_need(r, 1))
        return 0;
    return *r->p++;
}

uint16_t fr_rd_u16(fr_rd_t *r)
{
    if (!rd_need(r, 2))
        return 0;
    uint16_t v = (uint16_t)(r->p[0] | (r->p[1] << 8));
    r->p += 2;
    return v;
}

uint32_t fr_rd_u32(fr_rd_t *r)
{
    if (!rd_need(r, 4))
        return 0;
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | r->p[i];
    r->p += 4;
    return v;
}

uint64_t fr_rd_u64(fr_rd_t *r)
{
    if (!rd_need(r, 8))
        return 0;
    uint64_t v = fr_load_u64(r->p);
    r->p += 8;
    return v;
}

uint64_t fr_rd_varint(fr_rd_t *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (!rd_need(r, 1))
            return 0;
        uint8_t c = *r->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return v;
    }
    r->err = FR_ECORRUPT;
    return 0;
}

const void *fr_rd_bytes(fr_rd_t *r, size_t n)
{
    if (!rd_need(r, n))
        return NULL;
    const void *p = r->p;
    r->p += n;
    return p;
}
