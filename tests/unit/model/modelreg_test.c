/*
 * modelreg_test.c - src/model/modelreg.c on LMDB and on a real
 * redis-server: versions and their immutability, aliases and resolving,
 * registrations racing from threads and processes, a large model, damaged
 * records, a second replica seeing alias moves, and a trained model that
 * goes through the registry and scores the same.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/err.h"
#include "model/drift.h"
#include "model/modelreg.h"
#include "model/xgb.h"
#include "store/store.h"
#include "../store/redis_helpers.h"

static rsrv_t srv[1] = {{.life = -1}};
static fr_config_t *cfg;
static char dir[64];

static const char *yaml =
    "store:\n"
    "  backend: %s\n"
    "  path: %s\n"
    "  redis: { url: \"redis://127.0.0.1:%d\", timeout_ms: 5000 }\n"
    "sources:\n"
    "  - name: tx\n"
    "    timestamp: ts\n"
    "    fields:\n"
    "      - { name: k, type: string }\n"
    "      - { name: ts, type: long }\n"
    "feature_views:\n"
    "  - { name: v1, source: tx, entity: k, windows: [1h], aggregations: [{ fn: count }] }\n";

static void setup_backend(int redis)
{
    snprintf(dir, sizeof dir, "/tmp/freshet-reg-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    if (redis)
        rsrv_start(&srv[0], NULL);
    char text[2048], err[512];
    snprintf(text, sizeof text, yaml, redis ? "redis" : "lmdb", dir, redis ? srv[0].port : 6379);
    cr_assert_eq(fr_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err), 0, "%s",
                 err);
}

static void setup_lmdb(void)
{
    setup_backend(0);
}
static void setup_redis(void)
{
    setup_backend(1);
}

static void teardown(void)
{
    fr_config_free(cfg);
    cfg = NULL;
    rsrv_stop(&srv[0]);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static fr_store_t *open_store(void)
{
    fr_store_t *s;
    char err[512];
    int rc = fr_store_open(cfg, &s, err, sizeof err);
    cr_assert_eq(rc, 0, "open: %s (%s)", err, fr_strerror(rc));
    return s;
}

static const fr_model_input_t inputs[] = {
    {"card_txn:amount_avg_1h", "view", "double"},
    {"amount", "field", "double"},
    {"foreign", "on_demand", "boolean"},
};

/* A draft whose model bytes say which registration made it. */
static fr_model_draft_t draft(const char *model)
{
    return (fr_model_draft_t){.inputs = inputs,
                              .ninputs = 3,
                              .fingerprint = "9f2c41d07e5a3b18",
                              .meta_json = "{\"metrics\":{\"auc_roc\":0.91},\"rows\":1200}",
                              .model = model,
                              .model_len = strlen(model),
                              .ref = "",
                              .ref_len = 0,
                              .created_ms = 1700000000000};
}

static uint32_t reg(fr_store_t *s, const char *name, const char *model)
{
    fr_model_draft_t d = draft(model);
    uint32_t v;
    char err[256];
    int rc = fr_modelreg_register(s, name, &d, &v, err, sizeof err);
    cr_assert_eq(rc, 0, "register: %s", err);
    return v;
}

static void expect_model(fr_store_t *s, const char *name, uint32_t version, const char *model)
{
    fr_model_version_t *v;
    int rc = fr_modelreg_get(s, name, version, FR_MODELREG_WITH_MODEL, &v);
    cr_assert_eq(rc, 0, "%s@%u: %s", name, version, fr_strerror(rc));
    cr_assert_eq(v->model_len, strlen(model));
    cr_assert_eq(memcmp(v->model, model, v->model_len), 0);
    fr_model_version_free(v);
}

/* ---- bodies, run on both backends ---- */

static void versions(void)
{
    fr_store_t *s = open_store();
    fr_store_kv_names_t models;
    cr_assert_eq(fr_modelreg_models(s, &models), 0);
    cr_assert_eq(models.n, 0);
    fr_store_kv_names_free(&models);
    for (uint32_t i = 1; i <= 3; i++) {
        char m[32];
        snprintf(m, sizeof m, "model bytes %u", i);
        cr_assert_eq(reg(s, "fraud", m), i);
    }
    cr_assert_eq(reg(s, "personalization", "p1"), 1);

    fr_model_version_t *v;
    cr_assert_eq(fr_modelreg_get(s, "fraud", 2, 0, &v), 0);
    cr_assert_str_eq(v->name, "fraud");
    cr_assert_eq(v->version, 2);
    cr_assert_eq(v->created_ms, 1700000000000);
    cr_assert_eq(v->ninputs, 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_str_eq(v->inputs[i].name, inputs[i].name);
        cr_assert_str_eq(v->inputs[i].kind, inputs[i].kind);
        cr_assert_str_eq(v->inputs[i].type, inputs[i].type);
    }
    cr_assert_str_eq(v->fingerprint, "9f2c41d07e5a3b18");
    cr_assert_str_eq(v->meta_json, "{\"metrics\":{\"auc_roc\":0.91},\"rows\":1200}");
    cr_assert_null(v->model, "model bytes only when asked for");
    cr_assert_eq(v->model_len, strlen("model bytes 2"));
    fr_model_version_free(v);
    expect_model(s, "fraud", 2, "model bytes 2");
    cr_assert_eq(fr_modelreg_get(s, "fraud", 4, 0, &v), FR_ENOTFOUND);
    cr_assert_eq(fr_modelreg_get(s, "nobody", 1, 0, &v), FR_ENOTFOUND);
    cr_assert_eq(fr_modelreg_get(s, "bad name", 1, 0, &v), FR_EINVAL);

    uint32_t *vs;
    size_t n;
    cr_assert_eq(fr_modelreg_versions(s, "fraud", &vs, &n), 0);
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(vs[i], i + 1);
    free(vs);
    cr_assert_eq(fr_modelreg_versions(s, "nobody", &vs, &n), 0);
    cr_assert_eq(n, 0);
    free(vs);
    cr_assert_eq(fr_modelreg_models(s, &models), 0);
    cr_assert_eq(models.n, 2);
    cr_assert_str_eq(models.v[0], "fraud");
    cr_assert_str_eq(models.v[1], "personalization");
    fr_store_kv_names_free(&models);
    fr_store_close(s);
}

static void immutable(void)
{
    fr_store_t *s = open_store();
    cr_assert_eq(reg(s, "fraud", "first"), 1);
    cr_assert_eq(reg(s, "fraud", "second"), 2);
    fr_model_draft_t d = draft("an attempt to overwrite");
    char err[256];
    cr_assert_eq(fr_modelreg_put(s, "fraud", 2, &d, err, sizeof err), FR_ECONFLICT);
    cr_assert(strstr(err, "immutable"), "%s", err);
    expect_model(s, "fraud", 2, "second");
    /* a number put explicitly is skipped by later registrations */
    cr_assert_eq(fr_modelreg_put(s, "fraud", 3, &d, err, sizeof err), 0, "%s", err);
    cr_assert_eq(reg(s, "fraud", "fourth"), 4);
    expect_model(s, "fraud", 3, "an attempt to overwrite");
    cr_assert_eq(fr_modelreg_put(s, "fraud", 0, &d, err, sizeof err), FR_EINVAL);
    fr_store_close(s);
}

static void aliases(void)
{
    fr_store_t *s = open_store();
    for (int i = 0; i < 3; i++)
        reg(s, "fraud", "m");
    uint32_t v;
    cr_assert_eq(fr_modelreg_alias_get(s, "fraud", "champion", &v), FR_ENOTFOUND);
    cr_assert_eq(fr_modelreg_alias_set(s, "fraud", "champion", 1), 0);
    cr_assert_eq(fr_modelreg_alias_get(s, "fraud", "champion", &v), 0);
    cr_assert_eq(v, 1);
    cr_assert_eq(fr_modelreg_alias_set(s, "fraud", "champion", 3), 0, "aliases move");
    cr_assert_eq(fr_modelreg_alias_get(s, "fraud", "champion", &v), 0);
    cr_assert_eq(v, 3);
    cr_assert_eq(fr_modelreg_alias_set(s, "fraud", "challenger", 2), 0);
    cr_assert_eq(fr_modelreg_alias_set(s, "fraud", "shadow_2-b", 2), 0);
    cr_assert_eq(fr_modelreg_alias_set(s, "fraud", "champion", 9), FR_ENOTFOUND);
    cr_assert_eq(fr_modelreg_alias_set(s, "nobody", "champion", 1), FR_ENOTFOUND);
    const char *bad[] = {"Champion", "2x", "", "a b", "a@b", "_x",
                         "a1234567890123456789012345678901234567890123456789012345678901234"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(fr_modelreg_alias_set(s, "fraud", bad[i], 1), FR_EINVAL, "%s", bad[i]);
    fr_model_alias_t *a;
    size_t n;
    cr_assert_eq(fr_modelreg_aliases(s, "fraud", &a, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(a[0].name, "challenger");
    cr_assert_eq(a[0].version, 2);
    cr_assert_str_eq(a[1].name, "champion");
    cr_assert_eq(a[1].version, 3);
    cr_assert_str_eq(a[2].name, "shadow_2-b");
    free(a);
    cr_assert_eq(fr_modelreg_alias_del(s, "fraud", "challenger"), 0);
    cr_assert_eq(fr_modelreg_alias_del(s, "fraud", "challenger"), FR_ENOTFOUND);
    cr_assert_eq(fr_modelreg_aliases(s, "fraud", &a, &n), 0);
    cr_assert_eq(n, 2);
    free(a);
    fr_store_close(s);
}

static void resolve(void)
{
    fr_store_t *s = open_store();
    char name[FR_MODEL_MAX_NAME + 1];
    uint32_t v;
    cr_assert_eq(fr_modelreg_resolve(s, "fraud", name, &v), FR_ENOTFOUND);
    for (int i = 0; i < 3; i++)
        reg(s, "fraud", "m");
    cr_assert_eq(fr_modelreg_resolve(s, "fraud", name, &v), 0);
    cr_assert_str_eq(name, "fraud");
    cr_assert_eq(v, 3, "no champion: the newest");
    cr_assert_eq(fr_modelreg_alias_set(s, "fraud", "champion", 2), 0);
    cr_assert_eq(fr_modelreg_alias_set(s, "fraud", "challenger", 1), 0);
    cr_assert_eq(fr_modelreg_resolve(s, "fraud", name, &v), 0);
    cr_assert_eq(v, 2, "the champion");
    cr_assert_eq(fr_modelreg_resolve(s, "fraud@3", name, &v), 0);
    cr_assert_eq(v, 3);
    cr_assert_str_eq(name, "fraud");
    cr_assert_eq(fr_modelreg_resolve(s, "fraud@challenger", name, &v), 0);
    cr_assert_eq(v, 1);
    cr_assert_eq(fr_modelreg_resolve(s, "fraud@champion", name, &v), 0);
    cr_assert_eq(v, 2);
    const char *missing[] = {"fraud@4", "fraud@0", "fraud@99999999999", "fraud@nobody",
                             "nobody", "nobody@1", "nobody@champion"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++)
        cr_assert_eq(fr_modelreg_resolve(s, missing[i], name, &v), FR_ENOTFOUND, "%s",
                     missing[i]);
    const char *bad[] = {"", "@1", "fraud@", "fr aud", "fraud@Champion", "fraud@1@2",
                         "fraud@-1", "fraud/x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(fr_modelreg_resolve(s, bad[i], name, &v), FR_EINVAL, "%s", bad[i]);
    /* removing the champion falls back to the newest */
    cr_assert_eq(fr_modelreg_alias_del(s, "fraud", "champion"), 0);
    cr_assert_eq(fr_modelreg_resolve(s, "fraud", name, &v), 0);
    cr_assert_eq(v, 3);
    fr_store_close(s);
}

static void bad_drafts(void)
{
    fr_store_t *s = open_store();
    char err[256];
    uint32_t v;
    fr_model_draft_t d;
    fr_model_input_t empty_name[] = {{"", "view", "double"}};
    d = draft("m");
    d.ninputs = 0;
    cr_assert_eq(fr_modelreg_register(s, "fraud", &d, &v, err, sizeof err), FR_EINVAL);
    d = draft("m");
    d.inputs = empty_name;
    d.ninputs = 1;
    cr_assert_eq(fr_modelreg_register(s, "fraud", &d, &v, err, sizeof err), FR_EINVAL);
    d = draft("m");
    d.meta_json = "[1,2]";
    cr_assert_eq(fr_modelreg_register(s, "fraud", &d, &v, err, sizeof err), FR_EINVAL);
    cr_assert(strstr(err, "JSON object"), "%s", err);
    d.meta_json = "{\"a\":1,\"a\":2}";
    cr_assert_eq(fr_modelreg_register(s, "fraud", &d, &v, err, sizeof err), FR_EINVAL);
    d.meta_json = "{\"a\":";
    cr_assert_eq(fr_modelreg_register(s, "fraud", &d, &v, err, sizeof err), FR_EINVAL);
    d = draft("m");
    d.fingerprint = "";
    cr_assert_eq(fr_modelreg_register(s, "fraud", &d, &v, err, sizeof err), FR_EINVAL);
    d = draft("m");
    d.model_len = 0;
    cr_assert_eq(fr_modelreg_register(s, "fraud", &d, &v, err, sizeof err), FR_EINVAL);
    d = draft("m");
    cr_assert_eq(fr_modelreg_register(s, "fra{ud}", &d, &v, err, sizeof err), FR_EINVAL);
    cr_assert_eq(fr_modelreg_register(s, "", &d, &v, err, sizeof err), FR_EINVAL);
    /* nothing was registered, and no number was spent */
    cr_assert_eq(reg(s, "fraud", "m"), 1);
    fr_store_close(s);
}

static void large_and_damaged(void)
{
    fr_store_t *s = open_store();
    size_t n = (size_t)4 << 20;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + (i * 7919 % 26));
    big[n] = '\0';
    cr_assert_eq(reg(s, "big", big), 1);
    expect_model(s, "big", 1, big);
    /* the model bytes changed behind the registry's back: refused */
    big[n / 2] ^= 1;
    cr_assert_eq(fr_store_kv_put(s, "m", "big", "b/0000000001", big, n), 0);
    fr_model_version_t *v;
    cr_assert_eq(fr_modelreg_get(s, "big", 1, FR_MODELREG_WITH_MODEL, &v), FR_ECORRUPT);
    cr_assert_eq(fr_modelreg_get(s, "big", 1, 0, &v), 0, "the header alone still reads");
    fr_model_version_free(v);
    cr_assert_eq(fr_store_kv_del(s, "m", "big", "b/0000000001"), 0);
    cr_assert_eq(fr_modelreg_get(s, "big", 1, FR_MODELREG_WITH_MODEL, &v), FR_ECORRUPT);
    /* a damaged header, and every truncation of a good one */
    cr_assert_eq(reg(s, "fraud", "m"), 1);
    void *h;
    size_t hl;
    cr_assert_eq(fr_store_kv_get(s, "m", "fraud", "v/0000000001", &h, &hl), 0);
    for (size_t cut = 0; cut < hl; cut += 7) {
        cr_assert_eq(fr_store_kv_put(s, "m", "fraud", "v/0000000002", h, cut), 0);
        cr_assert_eq(fr_modelreg_get(s, "fraud", 2, 0, &v), FR_ECORRUPT, "cut at %zu", cut);
    }
    /* a header stored under another number is not that version */
    cr_assert_eq(fr_store_kv_put(s, "m", "fraud", "v/0000000002", h, hl), 0);
    cr_assert_eq(fr_modelreg_get(s, "fraud", 2, 0, &v), FR_ECORRUPT);
    cr_assert_eq(fr_store_kv_put(s, "m", "fraud", "a/champion", "x1", 2), 0);
    uint32_t ver;
    cr_assert_eq(fr_modelreg_alias_get(s, "fraud", "champion", &ver), FR_ECORRUPT);
    free(h);
    free(big);
    fr_store_close(s);
}

/* ---- registrations racing ---- */

#define RACE 15

static void *register_many(void *arg)
{
    uint32_t *got = arg;
    fr_store_t *s = open_store();
    for (int i = 0; i < RACE; i++) {
        fr_model_draft_t d = draft("raced");
        if (fr_modelreg_register(s, "fraud", &d, &got[i], NULL, 0))
            got[i] = 0;
    }
    fr_store_close(s);
    return NULL;
}

static void check_numbers(uint32_t got[2][RACE])
{
    unsigned char seen[2 * RACE + 1] = {0};
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < RACE; i++) {
            uint32_t v = got[t][i];
            cr_assert(v >= 1 && v <= 2 * RACE, "version %u", v);
            cr_assert_eq(seen[v], 0, "version %u handed out twice", v);
            seen[v] = 1;
        }
    fr_store_t *s = open_store();
    uint32_t *vs;
    size_t n;
    cr_assert_eq(fr_modelreg_versions(s, "fraud", &vs, &n), 0);
    cr_assert_eq(n, 2 * RACE);
    free(vs);
    fr_store_close(s);
}

static void racing_threads(void)
{
    uint32_t got[2][RACE];
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, register_many, got[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    check_numbers(got);
}

static void racing_processes(void)
{
    uint32_t got[2][RACE];
    int fds[2][2];
    pid_t pid[2];
    for (int p = 0; p < 2; p++) {
        cr_assert_eq(pipe(fds[p]), 0);
        fflush(NULL);
        pid[p] = fork();
        cr_assert_geq(pid[p], 0);
        if (pid[p] == 0) {
            uint32_t mine[RACE];
            register_many(mine);
            ssize_t w = write(fds[p][1], mine, sizeof mine);
            _exit(w == (ssize_t)sizeof mine ? 0 : 1);
        }
        close(fds[p][1]);
    }
    for (int p = 0; p < 2; p++) {
        size_t have = 0;
        while (have < sizeof got[p]) {
            ssize_t n = read(fds[p][0], (char *)got[p] + have, sizeof got[p] - have);
            cr_assert_gt(n, 0);
            have += (size_t)n;
        }
        close(fds[p][0]);
        int st;
        waitpid(pid[p], &st, 0);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    check_numbers(got);
}

/* ---- a trained model through the registry ---- */

static void trained_model(void)
{
    enum { N = 3000, NC = 3 };
    float *x = malloc(N * NC * sizeof *x), *y = malloc(N * sizeof *y);
    uint64_t r = 99;
    for (size_t i = 0; i < N; i++) {
        for (int j = 0; j < NC; j++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            x[i * NC + j] = (float)((r >> 11) / 9007199254740992.0);
        }
        x[i * NC + 2] = x[i * NC + 2] < 0.5f ? 0.0f : 1.0f; /* the boolean */
        y[i] = x[i * NC] + 0.5f * x[i * NC + 2] > 0.9f ? 1.0f : 0.0f;
    }
    fr_xgb_param_t ps[] = {{"objective", "binary:logistic"}, {"rounds", "30"},
                           {"nthread", "1"}};
    fr_xgb_train_opts_t o = {.params = ps, .nparams = 3};
    void *bytes;
    size_t len;
    char err[512];
    cr_assert_eq(fr_xgb_train(NC, x, y, 2400, x + 2400 * NC, y + 2400, 600, &o, &bytes, &len,
                              NULL, err, sizeof err),
                 0, "%s", err);
    fr_xgb_model_t *m;
    cr_assert_eq(fr_xgb_model_load(bytes, len, &m, err, sizeof err), 0, "%s", err);
    fr_xgb_predictor_t *p;
    cr_assert_eq(fr_xgb_predictor_new(m, 1, &p), 0);
    float *score = malloc(N * sizeof *score);
    for (size_t i = 0; i < N; i++)
        cr_assert_eq(fr_xgb_predict_row(p, x + i * NC, &score[i], err, sizeof err), 0);
    fr_drift_ref_t *ref;
    cr_assert_eq(fr_drift_ref_build(x, 2400, NC, score, NULL, &ref), 0);
    fr_buf_t rb, js;
    fr_buf_init(&rb, 1 << 20);
    fr_buf_init(&js, 1 << 22);
    cr_assert_eq(fr_drift_ref_encode(ref, &rb), 0);

    fr_store_t *s = open_store();
    fr_model_draft_t d = draft("unused");
    d.model = bytes;
    d.model_len = len;
    d.ref = rb.p;
    d.ref_len = rb.len;
    uint32_t ver;
    cr_assert_eq(fr_modelreg_register(s, "fraud", &d, &ver, err, sizeof err), 0, "%s", err);
    fr_model_version_t *v;
    cr_assert_eq(fr_modelreg_get(s, "fraud", ver, FR_MODELREG_WITH_MODEL, &v), 0);
    fr_xgb_model_t *m2;
    cr_assert_eq(fr_xgb_model_load(v->model, v->model_len, &m2, err, sizeof err), 0, "%s", err);
    fr_xgb_predictor_t *p2;
    cr_assert_eq(fr_xgb_predictor_new(m2, 1, &p2), 0);
    for (size_t i = 0; i < N; i += 7) {
        float s2;
        cr_assert_eq(fr_xgb_predict_row(p2, x + i * NC, &s2, err, sizeof err), 0);
        cr_assert(s2 == score[i], "row %zu: %.9g from the registry, %.9g before", i, s2,
                  score[i]);
    }
    fr_drift_ref_t *ref2;
    cr_assert_eq(fr_drift_ref_decode(v->ref, v->ref_len, &ref2), 0);
    cr_assert_eq(fr_drift_ref_columns(ref2), NC + 1);
    fr_drift_ref_free(ref2);

    /* the version as JSON, read back with jansson */
    cr_assert_eq(fr_model_version_json(v, 1, &js), 0);
    json_error_t je;
    json_t *j = json_loads(js.p, 0, &je);
    cr_assert_not_null(j, "%s: %s", je.text, js.p);
    cr_assert_str_eq(json_string_value(json_object_get(j, "model")), "fraud");
    cr_assert_eq(json_integer_value(json_object_get(j, "version")), ver);
    cr_assert_eq(json_array_size(json_object_get(j, "inputs")), 3);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(j, "inputs"), 2), "type")),
                     "boolean");
    cr_assert_eq(json_integer_value(json_object_get(j, "model_bytes")), (json_int_t)len);
    json_t *refj = json_object_get(j, "reference");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(refj, "foreign"), "kind")), "values");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(refj, "score"), "kind")), "numeric");
    cr_assert_not_null(json_object_get(json_object_get(j, "meta"), "metrics"));
    json_decref(j);

    fr_store_close(s);
    fr_model_version_free(v);
    fr_xgb_predictor_free(p2);
    fr_xgb_model_free(m2);
    fr_xgb_predictor_free(p);
    fr_xgb_model_free(m);
    fr_drift_ref_free(ref);
    fr_buf_destroy(&rb);
    fr_buf_destroy(&js);
    free(score);
    free(bytes);
    free(x);
    free(y);
}

#define ON(suite, setup_fn)                                                                        \
    Test(suite, versions, .init = setup_fn, .fini = teardown) { versions(); }                      \
    Test(suite, versions_are_immutable, .init = setup_fn, .fini = teardown) { immutable(); }       \
    Test(suite, aliases_move, .init = setup_fn, .fini = teardown) { aliases(); }                   \
    Test(suite, resolve, .init = setup_fn, .fini = teardown) { resolve(); }                        \
    Test(suite, bad_drafts_are_refused, .init = setup_fn, .fini = teardown) { bad_drafts(); }      \
    Test(suite, large_and_damaged, .init = setup_fn, .fini = teardown) { large_and_damaged(); }    \
    Test(suite, racing_threads, .init = setup_fn, .fini = teardown) { racing_threads(); }          \
    Test(suite, racing_processes, .init = setup_fn, .fini = teardown) { racing_processes(); }      \
    Test(suite, a_trained_model_round_trips, .init = setup_fn, .fini = teardown)                   \
    {                                                                                              \
        trained_model();                                                                           \
    }

ON(modelreg_lmdb, setup_lmdb)
ON(modelreg_redis, setup_redis)

Test(modelreg_redis, a_second_replica_sees_alias_moves, .init = setup_redis, .fini = teardown)
{
    fr_store_t *a = open_store(), *b = open_store();
    reg(a, "fraud", "one");
    reg(a, "fraud", "two");
    char name[FR_MODEL_MAX_NAME + 1];
    uint32_t v;
    cr_assert_eq(fr_modelreg_alias_set(a, "fraud", "champion", 1), 0);
    cr_assert_eq(fr_modelreg_resolve(b, "fraud", name, &v), 0);
    cr_assert_eq(v, 1);
    cr_assert_eq(fr_modelreg_alias_set(a, "fraud", "champion", 2), 0);
    cr_assert_eq(fr_modelreg_resolve(b, "fraud", name, &v), 0);
    cr_assert_eq(v, 2, "replica b still sees version %u", v);
    expect_model(b, "fraud", 2, "two");
    fr_store_close(a);
    fr_store_close(b);
}
