/*
 * fuzz_registry - the schema registry's parsers from arbitrary bytes.  The
 * first byte picks the mode (its value modulo 3):
 *   0  the rest is an Avro schema: when it parses, its canonical text parses
 *      to the same canonical text, and the schema can read itself;
 *   1  two schemas (data[1] picks the cut): compatibility both ways ends;
 *   2  a REST request "METHOD PATH\n" + body to an embedded registry in a
 *      temporary directory: the answer is a documented status with a JSON
 *      body ({"error_code","message"} for errors).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/err.h"
#include "event/registry.h"
#include "event/registry_int.h"
#include "fuzz.h"

static fr_config_t *cfg;
static fr_registry_t *reg;
static char dir[64];

static void cleanup(void)
{
    fr_registry_close(reg);
    fr_config_free(cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static void setup(void)
{
    strcpy(dir, "/tmp/freshet-fuzz-reg-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    char yaml[4096], err[512];
    snprintf(yaml, sizeof yaml, FUZZ_YAML, dir);
    if (fr_config_parse("fuzz.yaml", yaml, strlen(yaml), &cfg, err, sizeof err) ||
        fr_registry_open(cfg, &reg, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    atexit(cleanup);
}

static void one_schema(const char *p, size_t n)
{
    av_schema_t *s, *s2;
    char why[512];
    if (fr_avsc_parse(p, n, &s, why, sizeof why))
        return;
    fr_buf_t c1, c2;
    fr_buf_init(&c1, 4 << 20);
    fr_buf_init(&c2, 4 << 20);
    if (fr_avsc_canonical(s, &c1))
        abort();
    if (fr_avsc_parse(c1.p, c1.len, &s2, why, sizeof why)) {
        fprintf(stderr, "canonical text does not parse: %s\n%s\n", why, c1.p);
        abort();
    }
    if (fr_avsc_canonical(s2, &c2) || c1.len != c2.len || memcmp(c1.p, c2.p, c1.len)) {
        fprintf(stderr, "canonical text is not stable:\n%s\n%s\n", c1.p, c2.p ? c2.p : "");
        abort();
    }
    int rc = fr_avsc_compat(s, "a", s2, "b", why, sizeof why);
    if (rc && rc != FR_ENOMEM) {
        fprintf(stderr, "a schema does not read itself: %s\n%s\n", why, c1.p);
        abort();
    }
    fr_avsc_free(s);
    fr_avsc_free(s2);
    fr_buf_destroy(&c1);
    fr_buf_destroy(&c2);
}

static void two_schemas(const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    size_t cut = 2 + (size_t)data[1] % (size - 1);
    av_schema_t *a, *b;
    char why[512];
    if (fr_avsc_parse((const char *)data + 2, cut - 2, &a, why, sizeof why))
        return;
    if (fr_avsc_parse((const char *)data + cut, size - cut, &b, why, sizeof why) == 0) {
        for (int lv = 0; lv < FR_COMPAT__N; lv++) {
            int rc = fr_compat_check((fr_compat_t)lv, a, b, "version 1", why, sizeof why);
            if (rc && rc != FR_ECONFLICT && rc != FR_ENOMEM)
                abort();
            if (rc == FR_ECONFLICT && !why[0])
                abort(); /* an incompatibility always says why */
        }
        fr_avsc_free(b);
    }
    fr_avsc_free(a);
}

static void rest(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
    if (size < 2)
        return;
    const char *method = methods[data[1] % 4];
    const char *p = (const char *)data + 2, *end = (const char *)data + size;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t pl = nl ? (size_t)(nl - p) : (size_t)(end - p);
    char *path = malloc(pl + 2);
    if (!path)
        return;
    path[0] = '/';
    memcpy(path + 1, p, pl);
    path[pl + 1] = '\0';
    if (strlen(path) != pl + 1) { /* a NUL inside: not a path MHD would hand over */
        free(path);
        return;
    }
    const char *body = nl ? nl + 1 : NULL;
    size_t blen = nl ? (size_t)(end - body) : 0;
    fr_buf_t out;
    fr_buf_init(&out, 8 << 20);
    int st = fr_registry_http(reg, method, path, body, blen, &out);
    static const int ok[] = {200, 400, 404, 405, 409, 413, 422, 500};
    int known = 0;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        known |= st == ok[i];
    json_t *j = json_loadb(out.p ? out.p : "", out.len, JSON_DECODE_ANY, NULL);
    if (!known || !j ||
        (st != 200 && !(json_is_integer(json_object_get(j, "error_code")) &&
                        json_is_string(json_object_get(j, "message"))))) {
        fprintf(stderr, "%s %s: status %d: %s\n", method, path, st, out.p ? out.p : "");
        abort();
    }
    json_decref(j);
    fr_buf_destroy(&out);
    free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!reg)
        setup();
    if (!size)
        return 0;
    switch (data[0] % 3) {
    case 0: one_schema((const char *)data + 1, size - 1); break;
    case 1: two_schemas(data, size); break;
    default: rest(data, size); break;
    }
    return 0;
}
