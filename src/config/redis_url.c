/* redis_url.c - store.redis.url (see redis_url.h). */
#include "config/redis_url.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes [p, end) into a new string; NULL with *rc set. */
static char *decode(const char *p, const char *end, int *rc)
{
    char *s = malloc((size_t)(end - p) + 1);
    size_t n = 0;
    *rc = FR_ENOMEM;
    if (!s)
        return NULL;
    while (p < end) {
        if (*p == '%') {
            int h = end - p >= 3 ? hexval(p[1]) : -1, l = h >= 0 ? hexval(p[2]) : -1;
            if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                free(s);
                *rc = FR_ECONFIG;
                return NULL;
            }
            s[n++] = (char)(h << 4 | l);
            p += 3;
        } else {
            s[n++] = *p++;
        }
    }
    s[n] = '\0';
    *rc = 0;
    return s;
}

/* Digits only, value in [lo, hi]; -1 otherwise. */
static long digits(const char *p, const char *end, long lo, long hi)
{
    long v = 0;
    if (p == end || end - p > 10)
        return -1;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v < lo || v > hi ? -1 : v;
}

void fr_redis_url_destroy(fr_redis_url_t *u)
{
    if (u->pass)
        explicit_bzero(u->pass, strlen(u->pass));
    free(u->user);
    free(u->pass);
    u->user = u->pass = NULL;
}

int fr_redis_url_parse(const char *url, fr_redis_url_t *out, char *err, size_t errlen)
{
    const char *p = url ? url : "", *what = NULL;
    int rc = 0;
    memset(out, 0, sizeof *out);
    if (!strncmp(p, "rediss://", 9)) {
        what = "TLS (rediss://) is not supported by this build";
        goto bad;
    }
    if (strncmp(p, "redis://", 8)) {
        what = "expected redis://[user][:password@]host[:port][/db]";
        goto bad;
    }
    p += 8;
    const char *end = p + strcspn(p, "/?#"), *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon || colon + 1 == at) {
            what = "credentials must be written user:password@ or :password@";
            goto bad;
        }
        if (colon > p) {
            out->user = decode(p, colon, &rc);
            if (rc)
                goto enc;
        }
        out->pass = decode(colon + 1, at, &rc);
        if (rc)
            goto enc;
        p = at + 1;
    }
    const char *h = p, *hend;
    if (*p == '[') {
        hend = memchr(p, ']', (size_t)(end - p));
        if (!hend) {
            what = "unterminated [IPv6 address]";
            goto bad;
        }
        h = p + 1;
        for (const char *q = h; q < hend; q++)
            if (hexval(*q) < 0 && *q != ':' && *q != '.') {
                what = "bad character in the [IPv6 address]";
                goto bad;
            }
        p = hend + 1;
    } else {
        for (hend = p; hend < end && *hend != ':'; hend++)
            if (!((*hend >= 'a' && *hend <= 'z') || (*hend >= 'A' && *hend <= 'Z') ||
                  (*hend >= '0' && *hend <= '9') || *hend == '.' || *hend == '-' || *hend == '_')) {
                what = "bad character in the host name";
                goto bad;
            }
        p = hend;
    }
    if (hend == h || (size_t)(hend - h) >= sizeof out->host) {
        what = "expected a host name of 1 to 255 bytes";
        goto bad;
    }
    memcpy(out->host, h, (size_t)(hend - h));
    out->host[hend - h] = '\0';
    out->port = 6379;
    if (p < end) {
        long port = *p == ':' ? digits(p + 1, end, 1, 65535) : -1;
        if (port < 0) {
            what = "expected :port, a number from 1 to 65535, after the host";
            goto bad;
        }
        out->port = (int)port;
    }
    p = end;
    if (*p == '/') {
        const char *d = ++p;
        p += strlen(p);
        long db = p == d ? 0 : digits(d, p, 0, INT_MAX);
        if (db < 0) {
            what = "expected /db, a database number, after the host";
            goto bad;
        }
        out->db = (int)db;
    }
    if (*p) {
        what = "unexpected query or fragment";
        goto bad;
    }
    return 0;
enc:
    if (rc != FR_ECONFIG) {
        fr_redis_url_destroy(out);
        return rc;
    }
    what = "bad percent-encoding in the credentials";
bad:
    fr_redis_url_destroy(out);
    if (err && errlen)
        snprintf(err, errlen, "%s", what);
    return FR_ECONFIG;
}
