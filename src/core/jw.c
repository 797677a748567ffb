/* jw.c - JSON output helpers. */
#include "core/jw.h"

#include <stdlib.h>
#include <string.h>

#include "core/dtoa.h"
#include "core/utf8.h"

int fr_jw_str(fr_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    int rc = fr_buf_addc(b, '"');
    size_t i = 0;
    while (!rc && i < n) {
        size_t run = i;
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            rc = fr_buf_add(b, p + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            rc = fr_buf_add(b, e, 2);
            i++;
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            rc = fr_buf_add(b, e, 6);
            i++;
        } else {
            size_t l = fr_utf8_len(p + i, n - i);
            if (l) {
                rc = fr_buf_add(b, p + i, l);
                i += l;
            } else {
                rc = fr_buf_add(b, "\xef\xbf\xbd", 3);
                i++;
            }
        }
    }
    return rc ? rc : fr_buf_addc(b, '"');
}

int fr_jw_cstr(fr_buf_t *b, const char *s)
{
    return fr_jw_str(b, s, strlen(s));
}

int fr_jw_u64(fr_buf_t *b, uint64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return fr_buf_add(b, p, (size_t)(tmp + sizeof tmp - p));
}

int fr_jw_i64(fr_buf_t *b, int64_t v)
{
    if (v >= 0)
        return fr_jw_u64(b, (uint64_t)v);
    int rc = fr_buf_addc(b, '-');
    /* the magnitude of INT64_MIN does not fit an int64_t; it does a uint64_t */
    return rc ? rc : fr_jw_u64(b, (uint64_t)0 - (uint64_t)v);
}

int fr_jw_double(fr_buf_t *b, double d)
{
    char tmp[FR_DTOA_MAX];
    int n = fr_dtoa(d, tmp);
    if (n < 0)
        return fr_buf_addstr(b, "null");
    return fr_buf_add(b, tmp, (size_t)n);
}

int fr_jw_value(fr_buf_t *b, const fr_value_t *v)
{
    switch (v->type) {
    case FR_T_STRING: return fr_jw_str(b, v->u.s, v->len);
    case FR_T_LONG: return fr_jw_i64(b, v->u.i);
    case FR_T_DOUBLE: return fr_jw_double(b, v->u.d);
    case FR_T_BOOL: return fr_buf_addstr(b, v->u.b ? "true" : "false");
    default: return fr_buf_addstr(b, "null");
    }
}

int fr_jw_key(fr_buf_t *b, const char *key)
{
    int rc = fr_jw_cstr(b, key);
    return rc ? rc : fr_buf_addc(b, ':');
}
