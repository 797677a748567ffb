/* store.c - picks the backend the configuration names; checks the names of
 * key-value records once for every backend. */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

int fr_store_open(const fr_config_t *cfg, fr_store_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (cfg->store.backend == FR_STORE_LMDB) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/store", cfg->store.path);
        return fr_store_lmdb_open(cfg, dir, out, err, errlen);
    }
    if (cfg->store.backend == FR_STORE_REDIS)
        return fr_store_redis_open(cfg, out, err, errlen);
    snprintf(err, errlen, "store backend not available in this build");
    return FR_ECONFIG;
}

/* ---- key-value records: the names' rules, checked once for every backend ---- */

static int name_ok(const char *s, size_t max, const char *banned)
{
    if (!s || !*s)
        return 0;
    size_t n = 0;
    for (const char *p = s; *p; p++, n++)
        if (n >= max || (unsigned char)*p <= ' ' || (unsigned char)*p > '~' ||
            strchr(banned, *p))
            return 0;
    return 1;
}

static int ns_ok(const char *ns)
{
    if (!ns || !*ns || strlen(ns) > FR_STORE_KV_MAX_NS)
        return 0;
    for (const char *p = ns; *p; p++)
        if (*p < 'a' || *p > 'z')
            return 0;
    return strcmp(ns, "v") && strcmp(ns, "pos") && strcmp(ns, "epoch");
}

static int kv_check(fr_store_t *s, const char *ns, const char *group, const char *key,
                    void *op)
{
    if (!ns_ok(ns) || !name_ok(group, FR_STORE_KV_MAX_GROUP, "{}") ||
        (key && !name_ok(key, FR_STORE_KV_MAX_KEY, "")))
        return FR_EINVAL;
    (void)s;
    return op ? 0 : -ENOTSUP;
}

int fr_store_kv_get(fr_store_t *s, const char *ns, const char *group, const char *key,
                    void **val, size_t *vlen)
{
    *val = NULL;
    *vlen = 0;
    int rc = kv_check(s, ns, group, key ? key : "", (void *)s->ops->kv_get);
    return rc ? rc : s->ops->kv_get(s, ns, group, key, val, vlen);
}

int fr_store_kv_put(fr_store_t *s, const char *ns, const char *group, const char *key,
                    const void *val, size_t vlen)
{
    int rc = kv_check(s, ns, group, key ? key : "", (void *)s->ops->kv_put);
    if (!rc && vlen > FR_STORE_KV_MAX_VALUE)
        rc = FR_ELIMIT;
    return rc ? rc : s->ops->kv_put(s, ns, group, key, val, vlen, 0);
}

int fr_store_kv_put_new(fr_store_t *s, const char *ns, const char *group, const char *key,
                        const void *val, size_t vlen)
{
    int rc = kv_check(s, ns, group, key ? key : "", (void *)s->ops->kv_put);
    if (!rc && vlen > FR_STORE_KV_MAX_VALUE)
        rc = FR_ELIMIT;
    return rc ? rc : s->ops->kv_put(s, ns, group, key, val, vlen, 1);
}

int fr_store_kv_del(fr_store_t *s, const char *ns, const char *group, const char *key)
{
    int rc = kv_check(s, ns, group, key ? key : "", (void *)s->ops->kv_del);
    return rc ? rc : s->ops->kv_del(s, ns, group, key);
}

int fr_store_kv_incr(fr_store_t *s, const char *ns, const char *group, const char *key,
                     uint64_t *out)
{
    int rc = kv_check(s, ns, group, key ? key : "", (void *)s->ops->kv_incr);
    return rc ? rc : s->ops->kv_incr(s, ns, group, key, out);
}

int fr_store_kv_list(fr_store_t *s, const char *ns, const char *group, const char *prefix,
                     fr_store_kv_names_t *out)
{
    out->v = NULL;
    out->n = 0;
    if (prefix && !*prefix)
        prefix = NULL;
    int rc = kv_check(s, ns, group ? group : "g", prefix, (void *)s->ops->kv_list);
    if (!rc && !group && prefix)
        rc = FR_EINVAL;
    return rc ? rc : s->ops->kv_list(s, ns, group, prefix, out);
}

void fr_store_kv_names_free(fr_store_kv_names_t *n)
{
    for (size_t i = 0; n->v && i < n->n; i++)
        free(n->v[i]);
    free(n->v);
    n->v = NULL;
    n->n = 0;
}

int fr_store_kv_names_add(fr_store_kv_names_t *n, const char *name, size_t len)
{
    if (n->n >= FR_STORE_KV_MAX_LIST)
        return FR_ELIMIT;
    if ((n->n & (n->n - 1)) == 0) { /* 0, 1, 2, 4, ...: grow */
        char **v = realloc(n->v, (n->n ? 2 * n->n : 1) * sizeof *v);
        if (!v)
            return FR_ENOMEM;
        n->v = v;
    }
    char *c = malloc(len + 1);
    if (!c)
        return FR_ENOMEM;
    memcpy(c, name, len);
    c[len] = '\0';
    n->v[n->n++] = c;
    return 0;
}

static int by_bytes(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void fr_store_kv_names_sort(fr_store_kv_names_t *n)
{
    if (n->n > 1)
        qsort(n->v, n->n, sizeof *n->v, by_bytes);
}
