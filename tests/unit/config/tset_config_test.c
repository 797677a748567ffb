/* Unit tests of the training_sets: section of the configuration (src/config/config.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/err.h"

static char err[1024];

#define BASE                                                                                  \
    "sources:\n"                                                                              \
    "  - name: tx\n"                                                                          \
    "    timestamp: ts\n"                                                                     \
    "    fields:\n"                                                                           \
    "      - { name: card_id, type: string }\n"                                               \
    "      - { name: txn_id, type: string }\n"                                                \
    "      - { name: amount, type: double }\n"                                                \
    "      - { name: country, type: string, optional: true }\n"                               \
    "      - { name: ts, type: long }\n"                                                      \
    "  - name: cb\n"                                                                          \
    "    timestamp: ts\n"                                                                     \
    "    fields:\n"                                                                           \
    "      - { name: txn_id, type: string }\n"                                                \
    "      - { name: is_fraud, type: long }\n"                                                \
    "      - { name: note, type: string, optional: true }\n"                                  \
    "      - { name: ts, type: long }\n"                                                      \
    "  - name: logins\n"                                                                      \
    "    timestamp: ts\n"                                                                     \
    "    fields:\n"                                                                           \
    "      - { name: user, type: string }\n"                                                  \
    "      - { name: ts, type: long }\n"                                                      \
    "feature_views:\n"                                                                        \
    "  - name: card_txn\n"                                                                    \
    "    source: tx\n"                                                                        \
    "    entity: card_id\n"                                                                   \
    "    windows: [5m, 1h]\n"                                                                 \
    "    aggregations:\n"                                                                     \
    "      - { fn: count, name: n }\n"                                                        \
    "      - { fn: avg, field: amount }\n"                                                    \
    "      - { fn: last, field: country }\n"                                                  \
    "  - { name: user_v, source: logins, entity: user, windows: [1h],\n"                      \
    "      aggregations: [{ fn: count }] }\n"

static fr_config_t *parse(const char *tail, int *rc)
{
    char text[8192];
    snprintf(text, sizeof text, "%s%s", BASE, tail);
    fr_config_t *cfg = NULL;
    *rc = fr_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err);
    return cfg;
}

static void expect_error(const char *tail, const char *pos, const char *phrase)
{
    int rc;
    fr_config_t *cfg = parse(tail, &rc);
    cr_assert_eq(rc, FR_ECONFIG, "rc %d (%s)", rc, err);
    cr_assert_null(cfg);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "t.yaml:%s: ", pos);
    cr_assert_eq(strncmp(err, prefix, strlen(prefix)), 0, "expected '%s', got '%s'", prefix, err);
    cr_assert_not_null(strstr(err, phrase), "expected '%s' in '%s'", phrase, err);
}

Test(tset_config, joined_label_and_features_resolved)
{
    int rc;
    fr_config_t *cfg = parse("training_sets:\n"
                             "  - name: fraud\n"
                             "    spine: tx\n"
                             "    features: [card_txn, \"card_txn:amount_avg_1h\", amount]\n"
                             "    label: { source: cb, key: txn_id, field: is_fraud, horizon: 30d,"
                             " default: 0 }\n",
                             &rc);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(cfg->ntsets, 1);
    const fr_tset_spec_t *t = &cfg->tsets[0];
    cr_assert_str_eq(t->name, "fraud");
    cr_assert_eq(t->spine, 0);
    cr_assert_eq(t->point, FR_POINT_ARRIVAL);
    cr_assert_eq(t->nfeatures, 3);
    cr_assert_eq(t->features[0].kind, FR_TSF_VIEW);
    cr_assert_eq(t->features[1].kind, FR_TSF_FEATURE);
    cr_assert_eq(t->features[1].feature, 3, "amount_avg_1h is a=1, w=1 of 2 windows");
    cr_assert_eq(t->features[1].type, FR_T_DOUBLE);
    cr_assert_eq(t->features[2].kind, FR_TSF_FIELD);
    cr_assert_eq(t->features[2].field, 2);
    cr_assert_eq(t->label.kind, FR_LABEL_JOIN);
    cr_assert_eq(t->label.source, 1);
    cr_assert_eq(t->label.key, 0);
    cr_assert_eq(t->label.field, 1);
    cr_assert_eq(t->label.horizon_ms, 30LL * 86400000);
    cr_assert_eq(t->label.def.type, FR_T_LONG);
    cr_assert_eq(t->label.def.u.i, 0);
    cr_assert_eq(fr_config_tset_index(cfg, "fraud"), 0);
    cr_assert_eq(fr_config_tset_index(cfg, "nope"), -1);
    fr_config_free(cfg);
}

Test(tset_config, forward_label_and_file_spine)
{
    int rc;
    fr_config_t *cfg = parse("training_sets:\n"
                             "  - name: next_txn\n"
                             "    spine: tx\n"
                             "    point: event_time\n"
                             "    features: [card_txn]\n"
                             "    label: { source: tx, entity: card_id, fn: sum, field: amount,\n"
                             "             filter: { field: country, equals: US }, window: 30m,\n"
                             "             threshold: 100 }\n"
                             "  - name: from_file\n"
                             "    features: [card_txn, amount]\n",
                             &rc);
    cr_assert_eq(rc, 0, "%s", err);
    const fr_tset_spec_t *t = &cfg->tsets[0];
    cr_assert_eq(t->point, FR_POINT_EVENT_TIME);
    cr_assert_eq(t->label.kind, FR_LABEL_WINDOW);
    cr_assert_eq(t->label.entity, 0);
    cr_assert_eq(t->label.window_ms, 1800000);
    cr_assert(t->label.has_threshold);
    cr_assert_eq(t->label.threshold, 100.0);
    cr_assert_eq(t->label.type, FR_T_LONG, "a threshold makes it 1/0");
    cr_assert(t->label.filter.enabled);
    cr_assert_eq(t->label.plan.windows[0].tile_ms, 1);
    const fr_tset_spec_t *f = &cfg->tsets[1];
    cr_assert_eq(f->spine, -1);
    cr_assert_eq(f->point, FR_POINT_EVENT_TIME);
    cr_assert_eq(f->features[1].kind, FR_TSF_FIELD);
    cr_assert_eq(f->features[1].field, -1);
    cr_assert_eq(f->features[1].type, FR_T_DOUBLE);
    fr_config_free(cfg);
}

Test(tset_config, errors_name_the_place)
{
    expect_error("training_sets:\n  - name: x\n    spine: tx\n    features: [nope]\n", "36:16",
                 "feature 'nope' is not a view, a view:feature, an on-demand feature or a "
                 "field of spine source 'tx'");
    expect_error("training_sets:\n  - name: x\n    spine: txx\n    features: [card_txn]\n",
                 "35:12", "unknown spine source 'txx'");
    expect_error("training_sets:\n  - name: x\n    spine: tx\n    features: [\"card_txn:n_2h\"]\n",
                 "36:16", "view 'card_txn' has no feature 'n_2h'");
    expect_error("training_sets:\n  - name: x\n    spine: tx\n    features: [user_v]\n", "36:16",
                 "view 'user_v' needs field 'user' in the spine");
    expect_error("training_sets:\n  - name: x\n    spine: tx\n    features: [card_txn]\n"
                 "    label: { source: cb, key: txn_id, horizon: 1h, window: 5m }\n",
                 "37:31", "both key");
    expect_error("training_sets:\n  - name: x\n    spine: tx\n    features: [card_txn]\n"
                 "    label: { source: cb, key: txn_id }\n",
                 "37:12", "label has no 'horizon'");
    expect_error("training_sets:\n  - name: x\n    spine: tx\n    features: [card_txn]\n"
                 "    label: { source: cb, key: txn_id, field: note, horizon: 1h }\n",
                 "37:46", "label field 'note' is a string");
    expect_error("training_sets:\n  - name: x\n    spine: tx\n    features: [card_txn]\n"
                 "    label: { source: cb, key: txn_id, horizon: 1h, default: yes }\n",
                 "37:61", "label default");
    expect_error("training_sets:\n  - name: x\n    features: [card_txn]\n    point: arrival\n",
                 "36:12", "point: arrival needs a source spine");
    expect_error("training_sets:\n  - name: x\n    spine: tx\n    features: [card_txn, card_txn]\n",
                 "36:26", "listed twice");
    expect_error("training_sets:\n  - { name: x, spine: tx, features: [card_txn] }\n"
                 "  - { name: x, spine: tx, features: [card_txn] }\n",
                 "35:13", "duplicate training set name 'x'");
    expect_error("training_sets:\n  - name: x\n    spine: tx\n    features: [card_txn]\n"
                 "    label: { source: logins, entity: user, fn: count, window: 5m }\n",
                 "37:38", "the label entity needs field 'user' in the spine");
}
