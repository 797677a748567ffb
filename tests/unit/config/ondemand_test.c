/*
 * Unit tests of the on_demand: section of src/config: the demo entries
 * resolved to their fields and features with the right types and indices,
 * evaluated through their refs; chaining, feature types per aggregation,
 * fields declared by several sources; and every error with its exact
 * FILE:LINE:COL (the expression's place in the file plus the offset inside
 * it, through quotes, escapes and folded lines).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/err.h"

static char err[1024];

/* Sources and views the tests' on_demand blocks refer to (22 lines). */
#define BASE                                                                                       \
    "sources:\n"                                                                                   \
    "  - name: transactions\n"                                                                     \
    "    timestamp: ts\n"                                                                          \
    "    fields:\n"                                                                                \
    "      - { name: card_id, type: string }\n"                                                    \
    "      - { name: amount, type: double }\n"                                                     \
    "      - { name: country, type: string, optional: true }\n"                                    \
    "      - { name: qty, type: long }\n"                                                          \
    "      - { name: ts, type: long }\n"                                                           \
    "  - name: chargebacks\n"                                                                      \
    "    timestamp: ts\n"                                                                          \
    "    fields: [ { name: card_id, type: string }, { name: is_fraud, type: long },\n"             \
    "              { name: qty, type: long }, { name: ts, type: long } ]\n"                        \
    "feature_views:\n"                                                                             \
    "  - { name: card_txn, source: transactions, entity: card_id, windows: [5m, 1h, 24h],\n"       \
    "      aggregations: [ { fn: count, name: txn_count }, { fn: sum, field: amount },\n"          \
    "        { fn: avg, field: amount, name: amount_avg }, { fn: max, field: qty },\n"             \
    "        { fn: stddev, field: qty }, { fn: count_distinct, field: country },\n"                \
    "        { fn: last, field: country, name: last_country }, { fn: since_last } ] }\n"           \
    "  - { name: v.x, source: transactions, entity: card_id, windows: [1h],\n"                     \
    "      aggregations: [ { fn: sum, field: qty } ] }\n"                                          \
    "on_demand:\n"

static fr_config_t *parse_ok(const char *od)
{
    static char text[65536];
    snprintf(text, sizeof text, "%s%s", BASE, od);
    fr_config_t *cfg = NULL;
    int rc = fr_config_parse("od.yaml", text, strlen(text), &cfg, err, sizeof err);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err);
    cr_assert_not_null(cfg);
    return cfg;
}

/* The on_demand block od fails with "od.yaml:POS: " and phrase. */
static void expect_error(const char *od, const char *pos, const char *phrase)
{
    static char text[65536];
    snprintf(text, sizeof text, "%s%s", BASE, od);
    fr_config_t *cfg = (fr_config_t *)1;
    int rc = fr_config_parse("od.yaml", text, strlen(text), &cfg, err, sizeof err);
    cr_assert_eq(rc, FR_ECONFIG, "rc %d (%s)", rc, err);
    cr_assert_null(cfg);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "od.yaml:%s: ", pos);
    cr_assert_eq(strncmp(err, prefix, strlen(prefix)), 0, "expected '%s...', got '%s'", prefix,
                 err);
    cr_assert_not_null(strstr(err, phrase), "expected '%s' in '%s'", phrase, err);
    cr_assert_null(strchr(err, '\n'));
}

static const fr_ondemand_spec_t *od(const fr_config_t *cfg, const char *name)
{
    int i = fr_config_ondemand_index(cfg, name);
    cr_assert_geq(i, 0, "no on-demand feature %s", name);
    return &cfg->ondemand[i];
}

Test(ondemand, demo_entries_resolve_and_evaluate)
{
    fr_config_t *cfg =
        parse_ok("  - { name: amount_ratio_1h, expr: \"amount / card_txn.amount_avg_1h\" }\n"
                 "  - { name: foreign, expr: \"country != card_txn.last_country_24h\" }\n");
    cr_assert_eq(cfg->nondemand, 2);
    cr_assert_eq(fr_config_ondemand_index(cfg, "nope"), -1);
    const fr_ondemand_spec_t *r = od(cfg, "amount_ratio_1h");
    cr_assert_str_eq(r->expr, "amount / card_txn.amount_avg_1h");
    cr_assert_eq(r->type, FR_T_DOUBLE);
    cr_assert_eq(r->nrefs, 2);
    cr_assert_eq(r->refs[0].kind, FR_REF_FIELD);
    cr_assert_str_eq(r->refs[0].name, "amount");
    cr_assert_eq(r->refs[0].type, FR_T_DOUBLE);
    cr_assert_eq(r->refs[0].view, -1);
    cr_assert_eq(r->refs[0].feature, -1);
    cr_assert_eq(r->refs[0].ondemand, -1);
    cr_assert_eq(r->refs[1].kind, FR_REF_FEATURE);
    cr_assert_str_eq(r->refs[1].name, "card_txn.amount_avg_1h");
    cr_assert_eq(r->refs[1].view, 0);
    cr_assert_eq(r->refs[1].feature, 2 * 3 + 1); /* aggregation 2, window 1 */
    cr_assert_str_eq(cfg->views[0].feature_names[r->refs[1].feature], "amount_avg_1h");
    cr_assert_eq(r->refs[1].type, FR_T_DOUBLE);
    cr_assert_eq(r->refs[1].ondemand, -1);
    fr_value_t in[2] = {{.type = FR_T_DOUBLE, .u.d = 120}, {.type = FR_T_DOUBLE, .u.d = 40}}, v;
    fr_expr_eval(r->prog, in, &v);
    cr_assert_eq(v.type, FR_T_DOUBLE);
    cr_assert_eq(v.u.d, 3.0);
    in[1].type = FR_T_NULL; /* an empty window */
    fr_expr_eval(r->prog, in, &v);
    cr_assert_eq(v.type, FR_T_NULL);

    const fr_ondemand_spec_t *f = od(cfg, "foreign");
    cr_assert_eq(f->type, FR_T_BOOL);
    cr_assert_eq(f->nrefs, 2);
    cr_assert_eq(f->refs[0].kind, FR_REF_FIELD);
    cr_assert_eq(f->refs[0].type, FR_T_STRING);
    cr_assert_eq(f->refs[1].kind, FR_REF_FEATURE);
    cr_assert_eq(f->refs[1].feature, 6 * 3 + 2);
    cr_assert_eq(f->refs[1].type, FR_T_STRING);
    fr_value_t s[2] = {{.type = FR_T_STRING, .u.s = "US", .len = 2},
                       {.type = FR_T_STRING, .u.s = "FR", .len = 2}};
    fr_expr_eval(f->prog, s, &v);
    cr_assert_eq(v.type, FR_T_BOOL);
    cr_assert(v.u.b);
    fr_config_free(cfg);
}

Test(ondemand, feature_types_follow_the_aggregation)
{
    static const struct {
        const char *name;
        fr_type_t type;
    } cases[] = {
        {"card_txn.txn_count_5m", FR_T_LONG},        {"card_txn.amount_sum_1h", FR_T_DOUBLE},
        {"card_txn.amount_avg_24h", FR_T_DOUBLE},    {"card_txn.qty_max_5m", FR_T_LONG},
        {"card_txn.qty_stddev_1h", FR_T_DOUBLE},     {"card_txn.country_count_distinct_1h", FR_T_LONG},
        {"card_txn.last_country_5m", FR_T_STRING},   {"card_txn.since_last_24h", FR_T_LONG},
        {"v.x.qty_sum_1h", FR_T_LONG},               {"`v.x`.qty_sum_1h", FR_T_LONG},
        {"qty", FR_T_LONG},                          {"is_fraud", FR_T_LONG},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char block[256];
        snprintf(block, sizeof block, "  - { name: f, expr: \"coalesce(%s, %s)\" }\n",
                 cases[i].name, cases[i].name);
        fr_config_t *cfg = parse_ok(block);
        const fr_ondemand_spec_t *f = od(cfg, "f");
        cr_assert_eq(f->type, cases[i].type, "%s: %s", cases[i].name, fr_type_name(f->type));
        cr_assert_eq(f->nrefs, 1, "%s: one ref per distinct name", cases[i].name);
        cr_assert_eq(f->refs[0].type, cases[i].type);
        fr_config_free(cfg);
    }
}

Test(ondemand, chains_refer_to_earlier_entries)
{
    fr_config_t *cfg = parse_ok("  - { name: ratio, expr: \"amount / card_txn.amount_avg_1h\" }\n"
                                "  - { name: high, expr: \"coalesce(ratio > 3, false)\" }\n"
                                "  - name: score\n"
                                "    expr: >\n"
                                "      if(high, 1, 0)\n"
                                "      + if(country == 'US', 0, 2) * qty\n");
    cr_assert_eq(cfg->nondemand, 3);
    const fr_ondemand_spec_t *h = od(cfg, "high");
    cr_assert_eq(h->type, FR_T_BOOL);
    cr_assert_eq(h->nrefs, 1);
    cr_assert_eq(h->refs[0].kind, FR_REF_ONDEMAND);
    cr_assert_eq(h->refs[0].ondemand, 0);
    cr_assert_eq(h->refs[0].type, FR_T_DOUBLE);
    const fr_ondemand_spec_t *s = od(cfg, "score");
    cr_assert_eq(s->type, FR_T_LONG);
    cr_assert_eq(s->nrefs, 3);
    cr_assert_eq(s->refs[0].kind, FR_REF_ONDEMAND);
    cr_assert_eq(s->refs[0].ondemand, 1);
    cr_assert_eq(s->refs[1].kind, FR_REF_FIELD);
    cr_assert_str_eq(s->refs[1].name, "country");
    cr_assert_str_eq(s->refs[2].name, "qty");
    /* evaluate the chain as a caller would: each entry's refs from the
     * request, features, or the values of the entries before it */
    fr_value_t vals[3], in[3];
    fr_value_t amount = {.type = FR_T_DOUBLE, .u.d = 200}, avg = {.type = FR_T_DOUBLE, .u.d = 50};
    fr_value_t country = {.type = FR_T_STRING, .u.s = "FR", .len = 2};
    fr_value_t qty = {.type = FR_T_LONG, .u.i = 3};
    for (size_t i = 0; i < cfg->nondemand; i++) {
        const fr_ondemand_spec_t *o = &cfg->ondemand[i];
        for (size_t r = 0; r < o->nrefs; r++) {
            const fr_ondemand_ref_t *ref = &o->refs[r];
            in[r] = ref->kind == FR_REF_ONDEMAND         ? vals[ref->ondemand]
                    : ref->kind == FR_REF_FEATURE        ? avg
                    : !strcmp(ref->name, "amount")       ? amount
                    : !strcmp(ref->name, "country")      ? country
                                                         : qty;
        }
        fr_expr_eval(o->prog, in, &vals[i]);
    }
    cr_assert_eq(vals[2].type, FR_T_LONG);
    cr_assert_eq(vals[2].u.i, 1 + 2 * 3);
    fr_config_free(cfg);
}

Test(ondemand, empty_or_absent_section)
{
    fr_config_t *cfg = parse_ok("");
    cr_assert_eq(cfg->nondemand, 0);
    cr_assert_null(cfg->ondemand);
    fr_config_free(cfg);
    cfg = parse_ok("  []\n");
    cr_assert_eq(cfg->nondemand, 0);
    fr_config_free(cfg);
}

/* Line 23 is the first line after BASE. */
Test(ondemand, errors_name_the_place_inside_the_expression)
{
    expect_error("  - { name: r, expr: \"amount + country\" }\n", "23:32",
                 "on-demand feature 'r': '+' needs numbers, got string");
    expect_error("  - { name: r, expr: amount + country }\n", "23:31",
                 "'+' needs numbers, got string");
    expect_error("  - { name: r, expr: 'amount + ''x'' + country' }\n", "23:32",
                 "'+' needs numbers, got string");
    expect_error("  - { name: r, expr: \"\\\"é\\\" == amount\" }\n", "23:32",
                 "'==' cannot compare string with double");
    expect_error("  - name: r\n"
                 "    expr: amount +\n"
                 "      country\n",
                 "25:7", "'+' needs numbers, got string");
    expect_error("  - name: r\n"
                 "    expr: |\n"
                 "      amount\n"
                 "        + country\n",
                 "26:11", "'+' needs numbers, got string");
    expect_error("  - name: r\n"
                 "    expr: \"amount\n"
                 "       + country\"\n",
                 "25:10", "'+' needs numbers, got string");
    expect_error("  - { name: r, expr: \"1 +\" }\n", "23:26", "expected a value, got the end");
    expect_error("  - { name: r, expr: \"\" }\n", "23:23", "the expression is empty");
    expect_error("  - { name: r, expr: \"null\" }\n", "23:23", "always null");
}

Test(ondemand, errors_name_unknown_fields_and_features)
{
    expect_error("  - { name: r, expr: \"amount + amout\" }\n", "23:32",
                 "unknown name 'amout'; expected a field of a source, an on-demand feature "
                 "defined above, or view.feature");
    expect_error("  - { name: r, expr: \"card_txn.amount_avg_2h\" }\n", "23:23",
                 "view 'card_txn' has no feature 'amount_avg_2h'; expected one of txn_count_5m, "
                 "txn_count_1h");
    expect_error("  - { name: r, expr: \"1 + cardtxn.amount_avg_1h\" }\n", "23:27",
                 "unknown name 'cardtxn.amount_avg_1h': no field has that name and no feature "
                 "view is named 'cardtxn'; expected view.feature with a view of card_txn, v.x");
    expect_error("  - { name: r, expr: \"card_txn:txn_count_5m\" }\n", "23:31",
                 "unexpected character ':'");
    expect_error("  - { name: r, expr: \"s + 1\" }\n  - { name: s, expr: \"2\" }\n", "23:23",
                 "on-demand feature 's' is defined below this one; expected only those above it");
    expect_error("  - { name: r, expr: \"r + 1\" }\n", "23:23", "'r' refers to itself");
}

Test(ondemand, errors_ambiguous_field_types)
{
    static char text[65536];
    snprintf(text, sizeof text,
             "sources:\n"
             "  - { name: a, timestamp: ts, fields: [ { name: x, type: long }, { name: ts, type: "
             "long } ] }\n"
             "  - { name: b, timestamp: ts, fields: [ { name: x, type: double }, { name: ts, "
             "type: long } ] }\n"
             "on_demand:\n"
             "  - { name: ok, expr: \"ts + 1\" }\n"
             "  - { name: r, expr: \"x * 2\" }\n");
    fr_config_t *cfg = (fr_config_t *)1;
    int rc = fr_config_parse("od.yaml", text, strlen(text), &cfg, err, sizeof err);
    cr_assert_eq(rc, FR_ECONFIG);
    cr_assert_null(cfg);
    cr_assert_str_eq(err, "od.yaml:6:23: on-demand feature 'r': field 'x' has an ambiguous "
                          "type: a long in source 'a' but a double in source 'b'; expected one "
                          "type wherever it is declared");
}

Test(ondemand, errors_about_names_and_shape)
{
    expect_error("  - { name: amount, expr: \"1\" }\n", "23:13",
                 "on-demand feature name 'amount' is the name of a field of source "
                 "'transactions'");
    expect_error("  - { name: is_fraud, expr: \"1\" }\n", "23:13",
                 "the name of a field of source 'chargebacks'");
    expect_error("  - { name: card_txn, expr: \"1\" }\n", "23:13",
                 "on-demand feature name 'card_txn' is the name of a feature view");
    expect_error("  - { name: a, expr: \"1\" }\n  - { name: a, expr: \"2\" }\n", "24:13",
                 "duplicate on-demand feature name 'a' (first at 23:13)");
    expect_error("  - { name: a-b, expr: \"1\" }\n", "23:13", "is not an identifier");
    expect_error("  - { name: 1a, expr: \"1\" }\n", "23:13", "is not an identifier");
    expect_error("  - { name: not, expr: \"1\" }\n", "23:13",
                 "'not' is a word of the expression language");
    expect_error("  - { name: a }\n", "23:5", "on-demand feature 'a' has no 'expr'");
    expect_error("  - { expr: \"1\" }\n", "23:5", "an on-demand feature has no 'name'");
    expect_error("  - { name: a, expr: \"1\", type: long }\n", "23:27",
                 "unknown key 'type' in an on-demand feature; expected one of name, expr");
    expect_error("  - { name: a, expr: [1] }\n", "23:22", "expr is a list; expected an expression");
    expect_error("  - a\n", "23:5", "an on-demand feature is a scalar");
    expect_error("  { a: 1 }\n", "23:3", "on_demand is a mapping; expected a list");
}

Test(ondemand, limits)
{
    static char block[FR_CONFIG_MAX_ONDEMAND * 40 + 64];
    size_t n = 0;
    for (int i = 0; i <= FR_CONFIG_MAX_ONDEMAND; i++)
        n += (size_t)snprintf(block + n, sizeof block - n, "  - { name: f%d, expr: \"%d\" }\n", i,
                              i);
    expect_error(block, "279:5", "on_demand has 257 entries; expected at most 256");
    /* an expression too long for the compiler */
    static char big[FR_EXPR_MAX_TEXT + 100];
    n = (size_t)snprintf(big, sizeof big, "  - { name: f, expr: \"");
    for (int i = 0; i < FR_EXPR_MAX_TEXT; i++)
        big[n++] = ' ';
    snprintf(big + n, sizeof big - n, "1\" }\n");
    expect_error(big, "23:23", "expression is 16385 bytes long; expected at most 16384");
}

Test(ondemand, the_example_file_carries_the_demo_entries)
{
    fr_config_t *cfg = NULL;
    int rc = fr_config_load("examples/fraud/freshet.yaml", &cfg, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(cfg->nondemand, 2);
    cr_assert_eq(od(cfg, "amount_ratio_1h")->type, FR_T_DOUBLE);
    cr_assert_eq(od(cfg, "foreign")->type, FR_T_BOOL);
    cr_assert_eq(od(cfg, "foreign")->refs[1].kind, FR_REF_FEATURE);
    fr_config_free(cfg);
}
