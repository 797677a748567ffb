/* jw.c - JSON output helpers. */
#include "core/jw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of a valid UTF-8 sequence at s (n bytes left), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        len = 2, min = 0x80, c &= 0x1f;
    else if ((c & 0xf0) == 0xe0)
        len = 3, min = 0x800, c &= 0x0f;
    else if ((c & 0xf8) == 0xf0)
        len = 4, min = 0x10000, c &= 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    return len;
}

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
            size_t l = utf8_len(p + i, n - i);
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

int fr_jw_i64(fr_buf_t *b, int64_t v)
{
    return fr_buf_printf(b, "%lld", (long long)v);
}

int fr_jw_u64(fr_buf_t *b, uint64_t v)
{
    return fr_buf_printf(b, "%llu", (unsigned long long)v);
}

int fr_jw_double(fr_buf_t *b, double d)
{
    if (!isfinite(d))
        return fr_buf_addstr(b, "null");
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    /* keep it a JSON number that reads back as a double, not an integer */
    if (!strpbrk(tmp, ".eEn"))
        strcat(tmp, ".0");
    return fr_buf_addstr(b, tmp);
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
