/* b64.c - base64 encoding and strict decoding (see b64.h). */
#include "core/b64.h"

#include <stdint.h>

#include "core/err.h"

static const char ALPHA[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int fr_b64_encode(fr_buf_t *out, const void *p, size_t n)
{
    const uint8_t *s = p;
    if (!n)
        return 0;
    if (n > (SIZE_MAX - 2) / 3 * 3)
        return FR_ELIMIT;
    int rc = fr_buf_reserve(out, (n + 2) / 3 * 4); /* then the adds cannot fail */
    for (size_t i = 0; !rc && i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        char q[4] = {ALPHA[v >> 18 & 63], ALPHA[v >> 12 & 63], i + 1 < n ? ALPHA[v >> 6 & 63] : '=',
                     i + 2 < n ? ALPHA[v & 63] : '='};
        rc = fr_buf_add(out, q, 4);
    }
    return rc;
}

static int val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int fr_b64_decode(fr_buf_t *out, const char *s, size_t n)
{
    if (n % 4)
        return FR_EPARSE;
    size_t start = out->len;
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i += 4) {
        int last = i + 4 == n;
        int pad = last ? (s[i + 3] == '=') + (s[i + 2] == '=' && s[i + 3] == '=') : 0;
        int a = val(s[i]), b = val(s[i + 1]), c = pad >= 2 ? 0 : val(s[i + 2]),
            d = pad >= 1 ? 0 : val(s[i + 3]);
        if (a < 0 || b < 0 || c < 0 || d < 0) {
            rc = FR_EPARSE;
            break;
        }
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        /* canonical: the bits padding drops are zero */
        if ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff))) {
            rc = FR_EPARSE;
            break;
        }
        uint8_t q[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
        rc = fr_buf_add(out, q, (size_t)(3 - pad));
    }
    if (rc && out->p) {
        out->len = start;
        out->p[start] = '\0';
    }
    return rc;
}
