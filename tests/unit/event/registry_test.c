/*
 * Unit tests of the schema registry (src/event/registry*.c): the Avro
 * compatibility matrix with its reasons, parsing and canonical text, ids,
 * versions and dedup, persistence, several handles and processes on one
 * directory, bounds, every REST answer of fr_registry_http, and the
 * external backend against a small libmicrohttpd server started here that
 * answers with an embedded registry (as a Confluent registry would).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "event/registry.h"
#include "event/registry_int.h"

static char dir[64];
static fr_config_t *cfg;

static const char *yaml = "store: { path: %s }\n"
                          "%s"
                          "sources:\n"
                          "  - name: tx\n"
                          "    timestamp: ts\n"
                          "    fields:\n"
                          "      - { name: k, type: string }\n"
                          "      - { name: ts, type: long }\n"
                          "feature_views:\n"
                          "  - { name: v, source: tx, entity: k, windows: [1h], aggregations: "
                          "[{ fn: count }] }\n";

static fr_config_t *make_cfg(const char *store, const char *extra)
{
    char text[2048], err[512];
    fr_config_t *c;
    snprintf(text, sizeof text, yaml, store, extra);
    cr_assert_eq(fr_config_parse("t.yaml", text, strlen(text), &c, err, sizeof err), 0, "%s", err);
    return c;
}

static void setup(void)
{
    strcpy(dir, "/tmp/freshet-reg-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cfg = make_cfg(dir, "");
}

static void teardown(void)
{
    fr_config_free(cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static fr_registry_t *open_reg(void)
{
    fr_registry_t *r;
    char err[512];
    cr_assert_eq(fr_registry_open(cfg, &r, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(fr_registry_kind(r), "embedded");
    return r;
}

/* Schemas in the tests are written with ' for " (freed by the caller). */
static char *dq(const char *s)
{
    char *o = strdup(s);
    cr_assert_not_null(o);
    for (char *p = o; *p; p++)
        if (*p == '\'')
            *p = '"';
    return o;
}

static av_schema_t *parse_ok(const char *s)
{
    char *t = dq(s), why[512];
    av_schema_t *a;
    int rc = fr_avsc_parse(t, strlen(t), &a, why, sizeof why);
    cr_assert_eq(rc, 0, "parse %s: %s", t, why);
    free(t);
    return a;
}

static uint32_t reg_ok(fr_registry_t *r, const char *subject, const char *schema)
{
    char *t = dq(schema), why[1024];
    uint32_t id = 0;
    int rc = fr_registry_register(r, subject, t, strlen(t), &id, why, sizeof why);
    cr_assert_eq(rc, 0, "register %s under %s: %s (%s)", t, subject, fr_strerror(rc), why);
    free(t);
    return id;
}

static int reg_rc(fr_registry_t *r, const char *subject, const char *schema, char *why, size_t wl)
{
    char *t = dq(schema);
    uint32_t id = 0;
    int rc = fr_registry_register(r, subject, t, strlen(t), &id, why, wl);
    free(t);
    return rc;
}

/* ---- the compatibility matrix ------------------------------------------------- */

#define REC(f) "{'type':'record','name':'R','fields':[" f "]}"
#define FA(t) "{'name':'a','type':" t "}"
#define ENUM_E(syms, extra) "{'type':'enum','name':'E','symbols':[" syms "]" extra "}"
#define LIST(vt, extra)                                                                            \
    "{'type':'record','name':'Node','fields':[{'name':'value','type':'" vt "'},"                   \
    "{'name':'next','type':['null','Node'],'default':null}" extra "]}"

typedef struct {
    const char *name;
    fr_compat_t level;
    const char *old, *new_;
    const char *reason; /* NULL: compatible */
} ccase_t;

static const ccase_t matrix[] = {
    /* records */
    {"add_field_with_default", FR_COMPAT_BACKWARD, REC(FA("'int'")),
     REC(FA("'int'") ",{'name':'b','type':'string','default':'x'}"), NULL},
    {"add_field_without_default", FR_COMPAT_BACKWARD, REC(FA("'int'")),
     REC(FA("'int'") ",{'name':'b','type':'string'}"),
     "field 'b' of the new schema has no default and is missing in version 1"},
    {"remove_field", FR_COMPAT_BACKWARD, REC(FA("'int'") ",{'name':'b','type':'string'}"),
     REC(FA("'int'")), NULL},
    {"forward_add_without_default", FR_COMPAT_FORWARD, REC(FA("'int'")),
     REC(FA("'int'") ",{'name':'b','type':'string'}"), NULL},
    {"forward_remove_without_default", FR_COMPAT_FORWARD,
     REC(FA("'int'") ",{'name':'b','type':'string'}"), REC(FA("'int'")),
     "field 'b' of version 1 has no default and is missing in the new schema"},
    {"forward_remove_with_default", FR_COMPAT_FORWARD,
     REC(FA("'int'") ",{'name':'b','type':'string','default':''}"), REC(FA("'int'")), NULL},
    {"field_renamed_with_alias", FR_COMPAT_BACKWARD, REC(FA("'int'")),
     REC("{'name':'a2','type':'int','aliases':['a']}"), NULL},
    {"field_renamed_without_alias", FR_COMPAT_BACKWARD, REC(FA("'int'")),
     REC("{'name':'a2','type':'int'}"),
     "field 'a2' of the new schema has no default and is missing in version 1"},
    {"nested_record_field", FR_COMPAT_BACKWARD,
     REC("{'name':'addr','type':{'type':'record','name':'A','fields':[{'name':'city','type':"
         "'string'}]}}"),
     REC("{'name':'addr','type':{'type':'record','name':'A','fields':[{'name':'city','type':"
         "'string'},{'name':'zip','type':'string'}]}}"),
     "field 'addr.zip' of the new schema has no default and is missing in version 1"},
    {"record_renamed", FR_COMPAT_BACKWARD, REC(FA("'int'")),
     "{'type':'record','name':'S','fields':[" FA("'int'") "]}",
     "the new schema reads record 'S', but version 1 writes record 'R' (the names differ and no "
     "alias matches)"},
    {"record_renamed_with_alias", FR_COMPAT_BACKWARD, REC(FA("'int'")),
     "{'type':'record','name':'S','aliases':['R'],'fields':[" FA("'int'") "]}", NULL},
    {"namespace_changed", FR_COMPAT_BACKWARD,
     "{'type':'record','name':'a.R','fields':[" FA("'int'") "]}",
     "{'type':'record','name':'R','namespace':'b','fields':[" FA("'int'") "]}", NULL},
    /* promotions */
    {"promote_int_long", FR_COMPAT_BACKWARD, REC(FA("'int'")), REC(FA("'long'")), NULL},
    {"promote_int_float", FR_COMPAT_BACKWARD, REC(FA("'int'")), REC(FA("'float'")), NULL},
    {"promote_int_double", FR_COMPAT_BACKWARD, REC(FA("'int'")), REC(FA("'double'")), NULL},
    {"promote_long_float", FR_COMPAT_BACKWARD, REC(FA("'long'")), REC(FA("'float'")), NULL},
    {"promote_long_double", FR_COMPAT_BACKWARD, REC(FA("'long'")), REC(FA("'double'")), NULL},
    {"promote_float_double", FR_COMPAT_BACKWARD, REC(FA("'float'")), REC(FA("'double'")), NULL},
    {"narrow_long_int", FR_COMPAT_BACKWARD, REC(FA("'long'")), REC(FA("'int'")),
     "field 'a': the new schema reads int, but version 1 writes long"},
    {"narrow_double_float", FR_COMPAT_BACKWARD, REC(FA("'double'")), REC(FA("'float'")),
     "field 'a': the new schema reads float, but version 1 writes double"},
    {"forward_promotion_is_narrowing", FR_COMPAT_FORWARD, REC(FA("'int'")), REC(FA("'long'")),
     "field 'a': version 1 reads int, but the new schema writes long"},
    {"string_to_bytes", FR_COMPAT_BACKWARD, REC(FA("'string'")), REC(FA("'bytes'")), NULL},
    {"bytes_to_string", FR_COMPAT_BACKWARD, REC(FA("'bytes'")), REC(FA("'string'")), NULL},
    {"string_to_int", FR_COMPAT_BACKWARD, REC(FA("'string'")), REC(FA("'int'")),
     "field 'a': the new schema reads int, but version 1 writes string"},
    {"boolean_to_int", FR_COMPAT_FORWARD, REC(FA("'boolean'")), REC(FA("'int'")),
     "field 'a': version 1 reads boolean, but the new schema writes int"},
    /* unions */
    {"writer_union_branch_unreadable", FR_COMPAT_BACKWARD, REC(FA("['null','string']")),
     REC(FA("'string'")), "field 'a': the new schema reads string, but version 1 writes null"},
    {"reader_union_widens", FR_COMPAT_BACKWARD, REC(FA("'string'")), REC(FA("['null','string']")),
     NULL},
    {"forward_union_narrows", FR_COMPAT_FORWARD, REC(FA("'string'")), REC(FA("['null','string']")),
     "field 'a': version 1 reads string, but the new schema writes null"},
    {"union_branch_promotes", FR_COMPAT_BACKWARD, REC(FA("['null','int']")),
     REC(FA("['null','long']")), NULL},
    {"reader_union_no_branch", FR_COMPAT_BACKWARD, REC(FA("'int'")),
     REC("{'name':'a','type':['null','string'],'default':null}"),
     "field 'a': no type in the union [null, string] of the new schema can read version 1's int"},
    {"union_of_records_by_name", FR_COMPAT_BACKWARD,
     REC(FA("[{'type':'record','name':'X','fields':[]},{'type':'record','name':'Y','fields':[]}]")),
     REC(FA("[{'type':'record','name':'Y','fields':[]},{'type':'record','name':'X','fields':[]}]")),
     NULL},
    /* enums */
    {"enum_symbol_removed", FR_COMPAT_BACKWARD,
     REC("{'name':'e','type':" ENUM_E("'A','B','C'", "") "}"),
     REC("{'name':'e','type':" ENUM_E("'A','B'", "") "}"),
     "field 'e': symbol 'C' of version 1 is not in the new schema's enum 'E', which has no "
     "default"},
    {"enum_symbol_removed_reader_default", FR_COMPAT_BACKWARD,
     REC("{'name':'e','type':" ENUM_E("'A','B','C'", "") "}"),
     REC("{'name':'e','type':" ENUM_E("'A','B'", ",'default':'A'") "}"), NULL},
    {"enum_symbol_added", FR_COMPAT_BACKWARD, REC("{'name':'e','type':" ENUM_E("'A','B'", "") "}"),
     REC("{'name':'e','type':" ENUM_E("'A','B','C'", "") "}"), NULL},
    {"enum_symbol_added_forward", FR_COMPAT_FORWARD,
     REC("{'name':'e','type':" ENUM_E("'A','B'", "") "}"),
     REC("{'name':'e','type':" ENUM_E("'A','B','C'", "") "}"),
     "field 'e': symbol 'C' of the new schema is not in version 1's enum 'E', which has no "
     "default"},
    {"enum_renamed", FR_COMPAT_BACKWARD, ENUM_E("'A'", ""),
     "{'type':'enum','name':'F','symbols':['A']}",
     "the new schema reads enum 'F', but version 1 writes enum 'E' (the names differ and no alias "
     "matches)"},
    /* arrays and maps */
    {"array_items_promote", FR_COMPAT_BACKWARD,
     REC("{'name':'xs','type':{'type':'array','items':'int'}}"),
     REC("{'name':'xs','type':{'type':'array','items':'long'}}"), NULL},
    {"array_items_narrow", FR_COMPAT_BACKWARD,
     REC("{'name':'xs','type':{'type':'array','items':'long'}}"),
     REC("{'name':'xs','type':{'type':'array','items':'int'}}"),
     "field 'xs[]': the new schema reads int, but version 1 writes long"},
    {"map_values_mismatch", FR_COMPAT_BACKWARD,
     REC("{'name':'m','type':{'type':'map','values':'string'}}"),
     REC("{'name':'m','type':{'type':'map','values':'int'}}"),
     "field 'm{}': the new schema reads int, but version 1 writes string"},
    {"map_values_forward_promote", FR_COMPAT_FORWARD,
     REC("{'name':'m','type':{'type':'map','values':'double'}}"),
     REC("{'name':'m','type':{'type':'map','values':'float'}}"), NULL},
    {"array_to_map", FR_COMPAT_BACKWARD, "{'type':'array','items':'int'}",
     "{'type':'map','values':'int'}", "the new schema reads a map, but version 1 writes an array"},
    /* fixed */
    {"fixed_size", FR_COMPAT_BACKWARD,
     REC("{'name':'h','type':{'type':'fixed','name':'F','size':16}}"),
     REC("{'name':'h','type':{'type':'fixed','name':'F','size':32}}"),
     "field 'h': fixed 'F' has size 16 in version 1 but 32 in the new schema"},
    {"fixed_renamed", FR_COMPAT_BACKWARD,
     REC("{'name':'h','type':{'type':'fixed','name':'F','size':16}}"),
     REC("{'name':'h','type':{'type':'fixed','name':'G','size':16}}"),
     "field 'h': the new schema reads fixed 'G', but version 1 writes fixed 'F' (the names "
     "differ and no alias matches)"},
    {"fixed_same", FR_COMPAT_FULL, REC("{'name':'h','type':{'type':'fixed','name':'F','size':4}}"),
     REC("{'name':'h','type':{'type':'fixed','name':'F','size':4}}"), NULL},
    /* recursion, top level, levels */
    {"recursive_add_default", FR_COMPAT_FULL, LIST("int", ""),
     LIST("int", ",{'name':'w','type':'double','default':1.5}"), NULL},
    {"recursive_value_changes", FR_COMPAT_BACKWARD, LIST("int", ""), LIST("string", ""),
     "field 'value': the new schema reads string, but version 1 writes int"},
    {"top_level_primitive", FR_COMPAT_BACKWARD, "'long'", "'int'",
     "the new schema reads int, but version 1 writes long"},
    {"record_to_array", FR_COMPAT_BACKWARD, REC(FA("'int'")), "{'type':'array','items':'int'}",
     "the new schema reads an array, but version 1 writes record 'R'"},
    {"full_add_with_default", FR_COMPAT_FULL, REC(FA("'int'")),
     REC(FA("'int'") ",{'name':'b','type':'int','default':0}"), NULL},
    {"full_add_without_default", FR_COMPAT_FULL, REC(FA("'int'")),
     REC(FA("'int'") ",{'name':'b','type':'int'}"),
     "field 'b' of the new schema has no default and is missing in version 1"},
    {"full_remove_without_default", FR_COMPAT_FULL, REC(FA("'int'") ",{'name':'b','type':'int'}"),
     REC(FA("'int'")), "field 'b' of version 1 has no default and is missing in the new schema"},
    {"full_promotion_fails_forward", FR_COMPAT_FULL, REC(FA("'int'")), REC(FA("'long'")),
     "field 'a': version 1 reads int, but the new schema writes long"},
    {"none_allows_anything", FR_COMPAT_NONE, REC(FA("'int'")), "'string'", NULL},
    {"transitive_level_same_direction", FR_COMPAT_BACKWARD_TRANSITIVE, REC(FA("'long'")),
     REC(FA("'int'")), "field 'a': the new schema reads int, but version 1 writes long"},
};

Test(registry, compatibility_matrix)
{
    size_t n = sizeof matrix / sizeof matrix[0];
    cr_assert_geq(n, 25);
    for (size_t i = 0; i < n; i++) {
        const ccase_t *c = &matrix[i];
        av_schema_t *o = parse_ok(c->old), *nw = parse_ok(c->new_);
        char why[1024] = "";
        int rc = fr_compat_check(c->level, nw, o, "version 1", why, sizeof why);
        if (c->reason) {
            cr_expect_eq(rc, FR_ECONFLICT, "%s: expected incompatible, got %d", c->name, rc);
            cr_expect_str_eq(why, c->reason, "%s: reason", c->name);
        } else {
            cr_expect_eq(rc, 0, "%s: expected compatible: %s", c->name, why);
        }
        fr_avsc_free(o);
        fr_avsc_free(nw);
    }
}

/* ---- parsing and the canonical text ---------------------------------------------- */

typedef struct {
    const char *schema, *reason; /* reason: a substring of the expected message */
} bad_t;

static const bad_t bad_schemas[] = {
    {"{'type':", "not JSON"},
    {"'nosuch'", "unknown type 'nosuch'"},
    {"{'type':'record','name':'R','fields':[{'name':'a','type':'int'},{'name':'a','type':'long'}]}",
     "field 'a' is defined twice"},
    {"{'type':'record','name':'R','fields':[{'name':'a','type':'int','default':'x'}]}",
     "record 'R': field 'a': default \"x\" is not a valid int"},
    {"{'type':'record','name':'R','fields':[{'name':'a','type':['string','null'],'default':null}]}",
     "default null does not match string, the first type of its union"},
    {"['int',['null','string']]", "a union may not immediately contain another union"},
    {"['int','int']", "a union may hold int only once"},
    {"[]", "an empty union"},
    {"{'type':'record','name':'1R','fields':[]}", "'1R' is not a valid record name"},
    {"{'type':'record','name':'R'}", "record 'R' needs a \"fields\" array"},
    {"{'type':'enum','name':'E','symbols':['A','A']}", "symbol 'A' appears twice"},
    {"{'type':'enum','name':'E','symbols':['A'],'default':'B'}", "default \"B\" is not one of"},
    {"{'type':'fixed','name':'F','size':-1}", "needs an integer \"size\""},
    {"{'type':'error','name':'E','fields':[]}", "Avro protocols"},
    {"{'type':'array'}", "an array needs \"items\""},
    {"{'type':'record','name':'int','fields':[]}", "'int' is a primitive type"},
    {"[{'type':'record','name':'R','fields':[]},{'type':'record','name':'R','fields':[]}]",
     "'R' is defined twice"},
    {"{'type':'record','name':'R','fields':[{'name':'a','type':'int','order':'up'}]}",
     "\"order\" must be"},
    {"42", "is not a schema"},
    {"{'name':'x'}", "needs a \"type\""},
    {"{'type':'record','name':'R','fields':[],'fields':[]}", "not JSON"},
};

Test(registry, invalid_schemas_have_reasons)
{
    for (size_t i = 0; i < sizeof bad_schemas / sizeof bad_schemas[0]; i++) {
        char *t = dq(bad_schemas[i].schema), why[512] = "";
        av_schema_t *a = NULL;
        int rc = fr_avsc_parse(t, strlen(t), &a, why, sizeof why);
        cr_expect_eq(rc, FR_EPARSE, "%s: rc %d", t, rc);
        cr_expect_null(a);
        cr_expect(strstr(why, bad_schemas[i].reason) != NULL, "%s: reason '%s', expected '%s'", t,
                  why, bad_schemas[i].reason);
        free(t);
    }
    /* nesting deeper than FR_REGISTRY_MAX_DEPTH */
    fr_buf_t b;
    fr_buf_init(&b, 1 << 20);
    for (int i = 0; i < FR_REGISTRY_MAX_DEPTH + 5; i++)
        fr_buf_addstr(&b, "{\"type\":\"array\",\"items\":");
    fr_buf_addstr(&b, "\"int\"");
    for (int i = 0; i < FR_REGISTRY_MAX_DEPTH + 5; i++)
        fr_buf_addc(&b, '}');
    char why[512];
    av_schema_t *a;
    cr_expect_eq(fr_avsc_parse(b.p, b.len, &a, why, sizeof why), FR_EPARSE);
    cr_expect(strstr(why, "deeper than") != NULL, "%s", why);
    fr_buf_destroy(&b);
}

Test(registry, valid_schemas_parse)
{
    const char *good[] = {
        "'int'",
        "{'type':'int','logicalType':'date'}",
        "['null','int',{'type':'array','items':'string'},{'type':'map','values':'long'}]",
        "{'type':'record','name':'a.b.R','fields':[{'name':'f','type':{'type':'fixed','name':'F',"
        "'size':4}},{'name':'g','type':'a.b.F'},{'name':'h','type':'F'}]}",
        "{'type':'record','name':'R','namespace':'x','fields':[{'name':'e','type':{'type':'enum',"
        "'name':'E','symbols':['A','B'],'default':'A'}},{'name':'e2','type':'x.E','default':'B'}]}",
        "{'type':'record','name':'R','fields':[{'name':'r','type':{'type':'record','name':'S',"
        "'fields':[{'name':'x','type':'int','default':1}]},'default':{}}]}",
        "{'type':'record','name':'R','fields':[{'name':'m','type':{'type':'map','values':'double'},"
        "'default':{'a':1,'b':2.5}},{'name':'l','type':{'type':'array','items':'long'},"
        "'default':[1,2]},{'name':'n','type':['null','R'],'default':null}]}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        fr_avsc_free(parse_ok(good[i]));
}

static void canon_of(const char *s, fr_buf_t *out)
{
    av_schema_t *a = parse_ok(s);
    fr_buf_reset(out);
    cr_assert_eq(fr_avsc_canonical(a, out), 0);
    fr_avsc_free(a);
}

Test(registry, canonical_text)
{
    fr_buf_t a, b;
    fr_buf_init(&a, 1 << 20);
    fr_buf_init(&b, 1 << 20);
    canon_of("{ 'fields' : [ { 'type' : {'type':'int'}, 'name' : 'a' } ], 'name':'R', "
             "'type':'record' }",
             &a);
    cr_assert_str_eq(a.p, "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\","
                          "\"type\":\"int\"}]}");
    canon_of("{'type':'record','name':'R','fields':[{'name':'a','type':'int'}]}", &b);
    cr_assert_str_eq(a.p, b.p);
    /* the canonical text is its own canonical text */
    char *again = strdup(a.p);
    av_schema_t *p;
    char why[256];
    cr_assert_eq(fr_avsc_parse(again, strlen(again), &p, why, sizeof why), 0, "%s", why);
    fr_buf_reset(&b);
    fr_avsc_canonical(p, &b);
    cr_assert_str_eq(b.p, again);
    fr_avsc_free(p);
    free(again);
    /* defaults keep their values and key order is fixed; reals stay reals */
    canon_of("{'type':'record','name':'R','fields':[{'default':{'z':1,'a':2.0},'name':'m',"
             "'type':{'values':'double','type':'map'}}]}",
             &a);
    cr_assert_str_eq(a.p, "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"m\","
                          "\"type\":{\"type\":\"map\",\"values\":\"double\"},\"default\":{\"a\":"
                          "2.0,\"z\":1}}]}");
    fr_buf_destroy(&a);
    fr_buf_destroy(&b);
}

/* ---- ids, versions, dedup --------------------------------------------------------- */

#define V1 REC(FA("'int'"))
#define V2 REC(FA("'int'") ",{'name':'b','type':'string','default':'x'}")
#define V3_BAD REC(FA("'int'") ",{'name':'c','type':'string'}")

typedef struct {
    int n;
    char names[8][64];
} subjects_t;

static int collect_subject(void *ctx, const char *s)
{
    subjects_t *c = ctx;
    if (c->n < 8)
        snprintf(c->names[c->n], sizeof c->names[0], "%s", s);
    c->n++;
    return 0;
}

typedef struct {
    int n, versions[16];
    uint32_t ids[16];
} versions_t;

static int collect_version(void *ctx, int version, uint32_t id, const char *schema, size_t len)
{
    versions_t *v = ctx;
    cr_assert(len > 0 && schema[0] == '{');
    if (v->n < 16) {
        v->versions[v->n] = version;
        v->ids[v->n] = id;
    }
    v->n++;
    return 0;
}

Test(registry, ids_versions_and_dedup, .init = setup, .fini = teardown)
{
    fr_registry_t *r = open_reg();
    cr_assert_eq(reg_ok(r, "orders-value", V1), 1);
    cr_assert_eq(reg_ok(r, "orders-value", V2), 2);
    /* the same schema again, even reformatted: its id, no new version */
    cr_assert_eq(reg_ok(r, "orders-value", V1), 1);
    cr_assert_eq(reg_ok(r, "orders-value",
                        "{ 'fields':[{'type':'int','name':'a'}],\n 'name':'R', 'type':'record'}"),
                 1);
    /* the same schema under another subject: the same id, version 1 there */
    cr_assert_eq(reg_ok(r, "users-value", V2), 2);
    cr_assert_eq(reg_ok(r, "plain", "'string'"), 3);
    cr_assert_eq(reg_ok(r, "plain", "['null','string']"), 4);
    uint32_t id;
    int version;
    fr_buf_t s;
    fr_buf_init(&s, 1 << 20);
    cr_assert_eq(fr_registry_latest(r, "orders-value", &id, &version, &s), 0);
    cr_assert_eq(id, 2);
    cr_assert_eq(version, 2);
    cr_assert(strstr(s.p, "\"default\":\"x\"") != NULL, "%s", s.p);
    cr_assert_eq(fr_registry_latest(r, "users-value", &id, &version, NULL), 0);
    cr_assert_eq(id, 2);
    cr_assert_eq(version, 1);
    cr_assert_eq(fr_registry_latest(r, "plain", &id, &version, NULL), 0);
    cr_assert_eq(id, 4);
    cr_assert_eq(version, 2);
    cr_assert_eq(fr_registry_latest(r, "nope", &id, &version, NULL), FR_ENOTFOUND);
    cr_assert_eq(fr_registry_schema(r, 3, &s), 0);
    cr_assert_str_eq(s.p, "\"string\"");
    cr_assert_eq(fr_registry_schema(r, 5, &s), FR_ENOTFOUND);
    cr_assert_eq(fr_registry_schema(r, 0, &s), FR_ENOTFOUND);
    /* an incompatible version: refused with the reason, nothing added */
    char why[1024];
    cr_assert_eq(reg_rc(r, "orders-value", V3_BAD, why, sizeof why), FR_ECONFLICT);
    cr_assert_str_eq(why, "field 'c' of the new schema has no default and is missing in version 2");
    char *t = dq(V3_BAD);
    cr_assert_eq(fr_registry_check(r, "orders-value", t, strlen(t), why, sizeof why), FR_ECONFLICT);
    cr_assert_str_eq(why, "field 'c' of the new schema has no default and is missing in version 2");
    cr_assert_eq(fr_registry_check(r, "nope", t, strlen(t), why, sizeof why), FR_ENOTFOUND);
    free(t);
    t = dq(V2);
    cr_assert_eq(fr_registry_check(r, "orders-value", t, strlen(t), why, sizeof why), 0, "%s", why);
    free(t);
    subjects_t sub = {0};
    cr_assert_eq(fr_registry_subjects(r, collect_subject, &sub, why, sizeof why), 0);
    cr_assert_eq(sub.n, 3);
    cr_assert_str_eq(sub.names[0], "orders-value");
    cr_assert_str_eq(sub.names[1], "plain");
    cr_assert_str_eq(sub.names[2], "users-value");
    versions_t vs = {0};
    cr_assert_eq(fr_registry_versions(r, "orders-value", collect_version, &vs, why, sizeof why), 0);
    cr_assert_eq(vs.n, 2);
    cr_assert_eq(vs.versions[0], 1);
    cr_assert_eq(vs.ids[0], 1);
    cr_assert_eq(vs.versions[1], 2);
    cr_assert_eq(vs.ids[1], 2);
    cr_assert_eq(fr_registry_versions(r, "nope", collect_version, &vs, why, sizeof why),
                 FR_ENOTFOUND);
    /* NONE lets the incompatible one in as version 3 with a new id */
    cr_assert_eq(fr_registry_level_set(r, "orders-value", FR_COMPAT_NONE), 0);
    cr_assert_eq(reg_ok(r, "orders-value", V3_BAD), 5);
    cr_assert_eq(fr_registry_latest(r, "orders-value", &id, &version, NULL), 0);
    cr_assert_eq(version, 3);
    fr_buf_destroy(&s);
    fr_registry_close(r);
}

typedef struct {
    int n, v[16];
} dels_t;

static int collect_deleted(void *ctx, int version)
{
    dels_t *d = ctx;
    if (d->n < 16)
        d->v[d->n] = version;
    d->n++;
    return 0;
}

static int refuse_deleted(void *ctx, int version)
{
    (void)ctx;
    (void)version;
    return FR_ELIMIT;
}

/* Deletes subject; returns the rc, the versions in *d. */
static int del(fr_registry_t *r, const char *subject, int permanent, dels_t *d, char *why,
               size_t wl)
{
    memset(d, 0, sizeof *d);
    return fr_registry_delete(r, subject, permanent, collect_deleted, d, why, wl);
}

/* Soft and permanent deletes, as Confluent's DELETE /subjects/{s}: on r. */
static void delete_cycle(fr_registry_t *r)
{
    char why[1024];
    dels_t d;
    uint32_t id;
    int version;
    fr_buf_t s;
    fr_buf_init(&s, 1 << 20);
    cr_assert_eq(reg_ok(r, "del value", V1), 1);
    cr_assert_eq(reg_ok(r, "del value", V2), 2);
    cr_assert_eq(reg_ok(r, "keep", V1), 1);
    cr_assert_eq(del(r, "nope", 0, &d, why, sizeof why), FR_ENOTFOUND);
    cr_assert(strstr(why, "not found"), "%s", why);
    cr_assert_eq(del(r, "del value", 1, &d, why, sizeof why), FR_ECONFLICT);
    cr_assert(strstr(why, "not deleted first"), "%s", why);
    /* soft: out of every listing and check; ids still readable */
    cr_assert_eq(del(r, "del value", 0, &d, why, sizeof why), 0, "%s", why);
    cr_assert_eq(d.n, 2);
    cr_assert_eq(d.v[0], 1);
    cr_assert_eq(d.v[1], 2);
    cr_assert_eq(fr_registry_latest(r, "del value", &id, &version, NULL), FR_ENOTFOUND);
    versions_t vs = {0};
    cr_assert_eq(fr_registry_versions(r, "del value", collect_version, &vs, why, sizeof why),
                 FR_ENOTFOUND);
    subjects_t sub = {0};
    cr_assert_eq(fr_registry_subjects(r, collect_subject, &sub, why, sizeof why), 0);
    cr_assert_eq(sub.n, 1);
    cr_assert_str_eq(sub.names[0], "keep");
    cr_assert_eq(fr_registry_schema(r, 2, &s), 0);
    cr_assert(strstr(s.p, "\"b\""), "%s", s.p);
    cr_assert_eq(del(r, "del value", 0, &d, why, sizeof why), FR_ECONFLICT);
    cr_assert(strstr(why, "soft deleted"), "%s", why);
    /* a new registration is not checked against deleted versions, and
     * comes after them: version 3 */
    cr_assert_eq(reg_ok(r, "del value", V3_BAD), 3);
    cr_assert_eq(fr_registry_latest(r, "del value", &id, &version, NULL), 0);
    cr_assert_eq(version, 3);
    cr_assert_eq(id, 3);
    cr_assert_eq(del(r, "del value", 0, &d, why, sizeof why), 0);
    cr_assert_eq(d.n, 1);
    cr_assert_eq(d.v[0], 3);
    /* permanent: every soft-deleted version goes; version numbers restart */
    cr_assert_eq(del(r, "del value", 1, &d, why, sizeof why), 0, "%s", why);
    cr_assert_eq(d.n, 3);
    cr_assert_eq(del(r, "del value", 1, &d, why, sizeof why), FR_ENOTFOUND);
    cr_assert_eq(reg_ok(r, "del value", V2), 2);
    cr_assert_eq(fr_registry_latest(r, "del value", &id, &version, NULL), 0);
    cr_assert_eq(version, 1);
    cr_assert_eq(fr_registry_schema(r, 3, &s), 0); /* ids are never dropped */
    /* the other subject is untouched */
    cr_assert_eq(fr_registry_latest(r, "keep", &id, &version, NULL), 0);
    cr_assert_eq(version, 1);
    fr_buf_destroy(&s);
}

Test(registry, delete_soft_then_permanent, .init = setup, .fini = teardown)
{
    fr_registry_t *r = open_reg();
    delete_cycle(r);
    /* a permanent delete takes the subject's level with it */
    char why[1024];
    dels_t d;
    cr_assert_eq(fr_registry_level_set(r, "keep", FR_COMPAT_NONE), 0);
    cr_assert_eq(del(r, "keep", 0, &d, why, sizeof why), 0);
    fr_compat_t l;
    cr_assert_eq(fr_registry_level_get(r, "keep", &l), 0);
    cr_assert_eq(del(r, "keep", 1, &d, why, sizeof why), 0);
    cr_assert_eq(fr_registry_level_get(r, "keep", &l), FR_ENOTFOUND);
    /* a callback's error undoes the delete */
    cr_assert_eq(reg_ok(r, "keep", V1), 1);
    cr_assert_eq(fr_registry_delete(r, "keep", 0, refuse_deleted, NULL, why, sizeof why),
                 FR_ELIMIT);
    fr_registry_close(r);
    r = open_reg(); /* and it all persisted */
    uint32_t id;
    int version;
    cr_assert_eq(fr_registry_latest(r, "keep", &id, &version, NULL), 0);
    cr_assert_eq(fr_registry_latest(r, "del value", &id, &version, NULL), 0);
    cr_assert_eq(version, 1);
    cr_assert_eq(fr_registry_delete(r, "", 0, NULL, NULL, why, sizeof why), FR_EINVAL);
    fr_registry_close(r);
}

Test(registry, levels_and_transitive, .init = setup, .fini = teardown)
{
    fr_registry_t *r = open_reg();
    const char *a = REC(FA("'int'"));
    const char *b = REC(FA("'int'") ",{'name':'b','type':'string','default':'x'}");
    const char *c = REC(FA("'int'") ",{'name':'b','type':'string'}");
    reg_ok(r, "t", a);
    reg_ok(r, "t", b);
    char why[1024];
    /* c reads b (it has b) but not a: fine under BACKWARD, not BACKWARD_TRANSITIVE */
    cr_assert_eq(fr_registry_level_set(r, "t", FR_COMPAT_BACKWARD_TRANSITIVE), 0);
    cr_assert_eq(reg_rc(r, "t", c, why, sizeof why), FR_ECONFLICT);
    cr_assert_str_eq(why, "field 'b' of the new schema has no default and is missing in version 1");
    cr_assert_eq(fr_registry_level_set(r, "t", FR_COMPAT_BACKWARD), 0);
    cr_assert_eq(reg_ok(r, "t", c), 3);
    /* the global level applies to subjects without their own */
    cr_assert_eq(fr_registry_level_set(r, NULL, FR_COMPAT_FORWARD), 0);
    reg_ok(r, "u", a);
    cr_assert_eq(reg_rc(r, "u", REC(FA("'long'")), why, sizeof why), FR_ECONFLICT);
    cr_assert_str_eq(why, "field 'a': version 1 reads int, but the new schema writes long");
    fr_compat_t l;
    cr_assert_eq(fr_registry_level_get(r, "u", &l), FR_ENOTFOUND);
    cr_assert_eq(fr_registry_level_get(r, NULL, &l), 0);
    cr_assert_eq(l, FR_COMPAT_FORWARD);
    cr_assert_eq(fr_compat_parse("full_transitive"), FR_COMPAT_FULL_TRANSITIVE);
    cr_assert_eq(fr_compat_parse("sideways"), -1);
    fr_registry_close(r);
}

Test(registry, persists_across_reopen, .init = setup, .fini = teardown)
{
    fr_registry_t *r = open_reg();
    reg_ok(r, "s", V1);
    reg_ok(r, "s", V2);
    cr_assert_eq(fr_registry_level_set(r, "s", FR_COMPAT_FULL), 0);
    fr_registry_close(r);
    r = open_reg();
    uint32_t id;
    int version;
    cr_assert_eq(fr_registry_latest(r, "s", &id, &version, NULL), 0);
    cr_assert_eq(id, 2);
    cr_assert_eq(version, 2);
    fr_compat_t l;
    cr_assert_eq(fr_registry_level_get(r, "s", &l), 0);
    cr_assert_eq(l, FR_COMPAT_FULL);
    /* ids continue; the old schema keeps its id */
    cr_assert_eq(reg_ok(r, "s", V1), 1);
    cr_assert_eq(reg_ok(r, "other", "'long'"), 3);
    fr_registry_close(r);
}

/* ---- several handles, threads and processes ------------------------------------- */

Test(registry, two_handles_one_directory, .init = setup, .fini = teardown)
{
    fr_registry_t *a = open_reg(), *b = open_reg();
    cr_assert_eq(reg_ok(a, "s", V1), 1);
    cr_assert_eq(reg_ok(b, "s", V2), 2);
    cr_assert_eq(reg_ok(b, "s", V1), 1);
    uint32_t id;
    int version;
    cr_assert_eq(fr_registry_latest(a, "s", &id, &version, NULL), 0);
    cr_assert_eq(version, 2);
    /* closing one leaves the other working (they share one environment) */
    fr_registry_close(a);
    cr_assert_eq(reg_ok(b, "t", "'int'"), 3);
    fr_registry_close(b);
}

typedef struct {
    fr_registry_t *r;
    int t;
    uint32_t shared_id, own_id;
} thr_t;

static void *register_thread(void *arg)
{
    thr_t *x = arg;
    char subject[32], own[128], own_subject[32], why[512];
    snprintf(subject, sizeof subject, "thread-%d", x->t);
    snprintf(own_subject, sizeof own_subject, "own-%d", x->t);
    snprintf(own, sizeof own, "{\"type\":\"fixed\",\"name\":\"F%d\",\"size\":%d}", x->t, x->t);
    const char *shared = "{\"type\":\"map\",\"values\":\"string\"}";
    for (int i = 0; i < 20; i++) {
        if (fr_registry_register(x->r, subject, shared, strlen(shared), &x->shared_id, why,
                                 sizeof why))
            return "shared";
        if (fr_registry_register(x->r, "common", shared, strlen(shared), &x->shared_id, why,
                                 sizeof why))
            return "common";
    }
    if (fr_registry_register(x->r, own_subject, own, strlen(own), &x->own_id, why, sizeof why))
        return "own";
    return NULL;
}

Test(registry, threads_on_one_handle, .init = setup, .fini = teardown)
{
    fr_registry_t *r = open_reg();
    thr_t t[6];
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        t[i] = (thr_t){r, i + 1, 0, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, register_thread, &t[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        void *res;
        pthread_join(th[i], &res);
        cr_assert_null(res, "thread %d failed at %s", i, (char *)res);
    }
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(t[i].shared_id, t[0].shared_id);
        for (int k = 0; k < i; k++)
            cr_assert_neq(t[i].own_id, t[k].own_id);
        cr_assert_neq(t[i].own_id, t[0].shared_id);
    }
    uint32_t id;
    int version;
    cr_assert_eq(fr_registry_latest(r, "common", &id, &version, NULL), 0);
    cr_assert_eq(version, 1);
    fr_registry_close(r);
}

/* Registers in a child process: a schema of its own and one shared by all. */
static void child_registers(int k)
{
    fr_registry_t *r;
    char err[256], why[512], own[128];
    if (fr_registry_open(cfg, &r, err, sizeof err))
        _exit(10);
    snprintf(own, sizeof own, "{\"type\":\"enum\",\"name\":\"E%d\",\"symbols\":[\"A\"]}", k);
    const char *shared = "{\"type\":\"array\",\"items\":\"long\"}";
    uint32_t id;
    for (int i = 0; i < 30; i++) {
        char subject[32];
        snprintf(subject, sizeof subject, "proc-%d-%d", k, i % 3);
        if (fr_registry_register(r, subject, shared, strlen(shared), &id, why, sizeof why))
            _exit(11);
        if (fr_registry_register(r, "everyone", shared, strlen(shared), &id, why, sizeof why))
            _exit(12);
    }
    char own_subject[32];
    snprintf(own_subject, sizeof own_subject, "owns-%d", k);
    if (fr_registry_register(r, own_subject, own, strlen(own), &id, why, sizeof why))
        _exit(13);
    fr_registry_close(r);
    _exit(0);
}

Test(registry, two_processes_one_directory, .init = setup, .fini = teardown)
{
    pid_t kids[3];
    for (int k = 0; k < 3; k++) {
        kids[k] = fork();
        cr_assert_geq(kids[k], 0);
        if (kids[k] == 0)
            child_registers(k);
    }
    for (int k = 0; k < 3; k++) {
        int st;
        cr_assert_eq(waitpid(kids[k], &st, 0), kids[k]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d: status %d", k, st);
    }
    fr_registry_t *r = open_reg();
    /* the shared schema has one id everywhere and "everyone" one version */
    uint32_t id, shared;
    int version;
    cr_assert_eq(fr_registry_latest(r, "everyone", &shared, &version, NULL), 0);
    cr_assert_eq(version, 1);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 3; i++) {
            char subject[32];
            snprintf(subject, sizeof subject, "proc-%d-%d", k, i);
            cr_assert_eq(fr_registry_latest(r, subject, &id, &version, NULL), 0);
            cr_assert_eq(id, shared);
            cr_assert_eq(version, 1);
        }
    /* one enum per process: ids unique, and with the shared one exactly 1..4 */
    uint32_t seen = 1u << shared;
    for (int k = 0; k < 3; k++) {
        char subject[32];
        snprintf(subject, sizeof subject, "owns-%d", k);
        cr_assert_eq(fr_registry_latest(r, subject, &id, &version, NULL), 0);
        cr_assert_eq(version, 1);
        cr_assert(id >= 1 && id <= 4 && !(seen & (1u << id)), "id %u of %s", id, subject);
        seen |= 1u << id;
    }
    cr_assert_eq(seen, 0x1eu);
    fr_registry_close(r);
}

/* ---- bounds ---------------------------------------------------------------------------- */

Test(registry, bounds, .init = setup, .fini = teardown, .timeout = 60)
{
    fr_registry_t *r = open_reg();
    char subject[FR_REGISTRY_MAX_SUBJECT + 2], why[512];
    memset(subject, 's', sizeof subject);
    subject[FR_REGISTRY_MAX_SUBJECT + 1] = '\0';
    cr_assert_eq(reg_rc(r, subject, "'int'", why, sizeof why), FR_EINVAL);
    cr_assert(strstr(why, "at most 255 bytes") != NULL, "%s", why);
    subject[FR_REGISTRY_MAX_SUBJECT] = '\0';
    cr_assert_eq(reg_ok(r, subject, "'int'"), 1);
    cr_assert_eq(reg_rc(r, "", "'int'", why, sizeof why), FR_EINVAL);
    cr_assert_eq(reg_rc(r, "a\nb", "'int'", why, sizeof why), FR_EINVAL);
    cr_assert_eq(reg_rc(r, "\xff\xfe", "'int'", why, sizeof why), FR_EINVAL);
    cr_assert_eq(reg_rc(r, "s", "{'type':", why, sizeof why), FR_EPARSE);
    cr_assert(strstr(why, "not JSON") != NULL, "%s", why);
    cr_assert_eq(reg_rc(r, "s", "", why, sizeof why), FR_EPARSE);
    /* a schema over 1 MiB: refused before parsing */
    size_t big = FR_REGISTRY_MAX_SCHEMA + 16;
    char *huge = malloc(big + 1);
    cr_assert_not_null(huge);
    memset(huge, ' ', big);
    memcpy(huge, "\"int\"", 5);
    huge[big] = '\0';
    uint32_t id;
    cr_assert_eq(fr_registry_register(r, "s", huge, big, &id, why, sizeof why), FR_ELIMIT);
    cr_assert(strstr(why, "at most") != NULL, "%s", why);
    /* a large schema inside the bound works: an enum of many symbols */
    fr_buf_t b;
    fr_buf_init(&b, FR_REGISTRY_MAX_SCHEMA);
    fr_buf_addstr(&b, "{\"type\":\"enum\",\"name\":\"Big\",\"symbols\":[");
    for (int i = 0; b.len < FR_REGISTRY_MAX_SCHEMA - 64; i++)
        fr_buf_printf(&b, "%s\"S%d\"", i ? "," : "", i);
    fr_buf_addstr(&b, "]}");
    cr_assert_eq(fr_registry_register(r, "big", b.p, b.len, &id, why, sizeof why), 0, "%s", why);
    fr_buf_t out;
    fr_buf_init(&out, 2 * FR_REGISTRY_MAX_SCHEMA);
    cr_assert_eq(fr_registry_schema(r, id, &out), 0);
    cr_assert_eq(out.len, b.len);
    /* the same enum without its first symbol: compared by index, not n x m */
    fr_buf_t b2;
    fr_buf_init(&b2, FR_REGISTRY_MAX_SCHEMA);
    fr_buf_addstr(&b2, "{\"type\":\"enum\",\"name\":\"Big\",\"symbols\":[");
    fr_buf_add(&b2, strstr(b.p, "\"S1\""), b.len - (size_t)(strstr(b.p, "\"S1\"") - b.p));
    cr_assert_eq(fr_registry_register(r, "big", b2.p, b2.len, &id, why, sizeof why), FR_ECONFLICT);
    cr_assert_str_eq(why, "symbol 'S0' of version 1 is not in the new schema's enum 'Big', which "
                          "has no default");
    fr_buf_destroy(&b2);
    /* a record of 20000 fields against itself plus one */
    fr_buf_reset(&b);
    fr_buf_addstr(&b, "{\"type\":\"record\",\"name\":\"Wide\",\"fields\":[");
    for (int i = 0; i < 20000; i++)
        fr_buf_printf(&b, "%s{\"name\":\"f%d\",\"type\":\"int\"}", i ? "," : "", i);
    size_t cut = b.len;
    fr_buf_addstr(&b, "]}");
    cr_assert_eq(fr_registry_register(r, "wide", b.p, b.len, &id, why, sizeof why), 0, "%s", why);
    b.len = cut;
    fr_buf_addstr(&b, ",{\"name\":\"extra\",\"type\":\"long\"}]}");
    cr_assert_eq(fr_registry_register(r, "wide", b.p, b.len, &id, why, sizeof why), FR_ECONFLICT);
    cr_assert_str_eq(why, "field 'extra' of the new schema has no default and is missing in "
                          "version 1");
    /* a buffer too small for the schema: FR_ELIMIT, not a cut schema */
    fr_buf_t small;
    fr_buf_init(&small, 100);
    cr_assert_eq(fr_registry_schema(r, id, &small), FR_ELIMIT);
    fr_buf_destroy(&small);
    fr_buf_destroy(&out);
    fr_buf_destroy(&b);
    free(huge);
    fr_registry_close(r);
}

/* ---- REST answers ---------------------------------------------------------------------- */

typedef struct {
    int status;
    json_t *j;
    fr_buf_t raw;
} ans_t;

static fr_registry_t *hr;

static ans_t call(const char *method, const char *path, const char *body)
{
    ans_t a;
    fr_buf_init(&a.raw, 8 << 20);
    char *b = body ? dq(body) : NULL;
    a.status = fr_registry_http(hr, method, path, b, b ? strlen(b) : 0, &a.raw);
    free(b);
    a.j = json_loadb(a.raw.p ? a.raw.p : "", a.raw.len, JSON_DECODE_ANY, NULL);
    cr_assert_not_null(a.j, "%s %s: not JSON: %s", method, path, a.raw.p);
    return a;
}

static void done(ans_t *a)
{
    json_decref(a->j);
    fr_buf_destroy(&a->raw);
}

static void expect_error(const char *method, const char *path, const char *body, int status,
                         int code)
{
    ans_t a = call(method, path, body);
    cr_expect_eq(a.status, status, "%s %s: status %d, expected %d: %s", method, path, a.status,
                 status, a.raw.p);
    cr_expect_eq(json_integer_value(json_object_get(a.j, "error_code")), code,
                 "%s %s: %s, expected error_code %d", method, path, a.raw.p, code);
    cr_expect(json_is_string(json_object_get(a.j, "message")), "%s %s: %s", method, path, a.raw.p);
    done(&a);
}

/* A schema inside a request body: {"schema": "<s with ' as \">"} */
static char *schema_req(const char *schema)
{
    char *t = dq(schema);
    json_t *j = json_pack("{s:s}", "schema", t);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    free(t);
    /* dq() in call() would turn ' back into ": none are left after dumping */
    return s;
}

static ans_t call_schema(const char *method, const char *path, const char *schema)
{
    char *body = schema_req(schema);
    ans_t a = call(method, path, body);
    free(body);
    return a;
}

Test(registry, rest_routes, .init = setup, .fini = teardown)
{
    hr = open_reg();
    ans_t a = call("GET", "/subjects", NULL);
    cr_assert_eq(a.status, 200);
    cr_assert_str_eq(a.raw.p, "[]");
    done(&a);

    /* register */
    a = call_schema("POST", "/subjects/orders-value/versions", V1);
    cr_assert_eq(a.status, 200, "%s", a.raw.p);
    cr_assert_str_eq(a.raw.p, "{\"id\":1}");
    done(&a);
    a = call_schema("POST", "/subjects/orders-value/versions", V2);
    cr_assert_str_eq(a.raw.p, "{\"id\":2}");
    done(&a);
    a = call_schema("POST", "/subjects/orders-value/versions", V3_BAD);
    cr_assert_eq(a.status, 409);
    cr_assert_eq(json_integer_value(json_object_get(a.j, "error_code")), 409);
    cr_assert(strstr(json_string_value(json_object_get(a.j, "message")),
                     "field 'c' of the new schema has no default and is missing in version 2"),
              "%s", a.raw.p);
    done(&a);
    a = call_schema("POST", "/subjects/orders-value/versions", "{'type':'record'}");
    cr_assert_eq(a.status, 422);
    cr_assert_eq(json_integer_value(json_object_get(a.j, "error_code")), 42201);
    cr_assert(strstr(a.raw.p, "needs a \\\"name\\\""), "%s", a.raw.p);
    done(&a);
    expect_error("POST", "/subjects/s/versions", "{not json", 400, 400);
    expect_error("POST", "/subjects/s/versions", "{}", 422, 42201);
    expect_error("POST", "/subjects/s/versions", "{'schema':'\\'int\\'','schemaType':'PROTOBUF'}",
                 422, 42201);
    expect_error("POST", "/subjects/s/versions",
                 "{'schema':'\\'int\\'','references':[{'name':'x','subject':'y','version':1}]}",
                 422, 42201);
    /* AVRO and empty references are fine */
    a = call("POST", "/subjects/prim/versions",
             "{'schema':'\\'int\\'','schemaType':'AVRO','references':[]}");
    cr_assert_eq(a.status, 200, "%s", a.raw.p);
    cr_assert_str_eq(a.raw.p, "{\"id\":3}");
    done(&a);

    /* lists and versions */
    a = call("GET", "/subjects", NULL);
    cr_assert_str_eq(a.raw.p, "[\"orders-value\",\"prim\"]");
    done(&a);
    a = call("GET", "/subjects/orders-value/versions", NULL);
    cr_assert_str_eq(a.raw.p, "[1,2]");
    done(&a);
    expect_error("GET", "/subjects/nope/versions", NULL, 404, 40401);
    const char *latest[] = {"/subjects/orders-value/versions/latest",
                            "/subjects/orders-value/versions/-1",
                            "/subjects/orders-value/versions/2"};
    for (int i = 0; i < 3; i++) {
        a = call("GET", latest[i], NULL);
        cr_assert_eq(a.status, 200);
        cr_assert_str_eq(json_string_value(json_object_get(a.j, "subject")), "orders-value");
        cr_assert_eq(json_integer_value(json_object_get(a.j, "version")), 2);
        cr_assert_eq(json_integer_value(json_object_get(a.j, "id")), 2);
        cr_assert(strstr(json_string_value(json_object_get(a.j, "schema")), "\"b\""));
        done(&a);
    }
    a = call("GET", "/subjects/orders-value/versions/1/schema", NULL);
    cr_assert_eq(a.status, 200);
    cr_assert_str_eq(json_string_value(json_object_get(a.j, "type")), "record");
    done(&a);
    expect_error("GET", "/subjects/orders-value/versions/3", NULL, 404, 40402);
    expect_error("GET", "/subjects/nope/versions/1", NULL, 404, 40401);
    expect_error("GET", "/subjects/orders-value/versions/abc", NULL, 422, 42202);
    expect_error("GET", "/subjects/orders-value/versions/0", NULL, 422, 42202);
    expect_error("GET", "/subjects/orders-value/versions/99999999999", NULL, 422, 42202);

    /* lookup */
    a = call_schema("POST", "/subjects/orders-value",
                    "{'name':'R','type':'record','fields':[{'type':'int','name':'a'}]}");
    cr_assert_eq(a.status, 200, "%s", a.raw.p);
    cr_assert_eq(json_integer_value(json_object_get(a.j, "version")), 1);
    cr_assert_eq(json_integer_value(json_object_get(a.j, "id")), 1);
    done(&a);
    char *body = schema_req("'string'");
    expect_error("POST", "/subjects/orders-value", body, 404, 40403);
    expect_error("POST", "/subjects/nope", body, 404, 40401);
    free(body);

    /* schemas by id */
    a = call("GET", "/schemas/ids/1", NULL);
    cr_assert_eq(a.status, 200);
    cr_assert(strstr(json_string_value(json_object_get(a.j, "schema")), "\"name\":\"R\""));
    done(&a);
    expect_error("GET", "/schemas/ids/99", NULL, 404, 40403);
    expect_error("GET", "/schemas/ids/abc", NULL, 404, 40403);
    expect_error("GET", "/schemas/ids/-1", NULL, 404, 40403);
    a = call("GET", "/schemas/ids/2/versions", NULL);
    cr_assert_str_eq(a.raw.p, "[{\"subject\":\"orders-value\",\"version\":2}]");
    done(&a);
    a = call("GET", "/schemas/types", NULL);
    cr_assert_str_eq(a.raw.p, "[\"AVRO\"]");
    done(&a);

    /* compatibility */
    a = call_schema("POST", "/compatibility/subjects/orders-value/versions/latest", V2);
    cr_assert_eq(a.status, 200);
    cr_assert_str_eq(a.raw.p, "{\"is_compatible\":true}");
    done(&a);
    a = call_schema("POST", "/compatibility/subjects/orders-value/versions/latest", V3_BAD);
    cr_assert_eq(a.status, 200);
    cr_assert(json_is_false(json_object_get(a.j, "is_compatible")));
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(a.j, "messages"), 0)),
                     "field 'c' of the new schema has no default and is missing in version 2");
    done(&a);
    a = call_schema("POST", "/compatibility/subjects/orders-value/versions/1", V3_BAD);
    cr_assert(json_is_false(json_object_get(a.j, "is_compatible")));
    cr_assert(strstr(a.raw.p, "missing in version 1"), "%s", a.raw.p);
    done(&a);
    a = call_schema("POST", "/compatibility/subjects/orders-value/versions", V2);
    cr_assert_str_eq(a.raw.p, "{\"is_compatible\":true}");
    done(&a);
    body = schema_req(V2);
    expect_error("POST", "/compatibility/subjects/nope/versions/latest", body, 404, 40401);
    expect_error("POST", "/compatibility/subjects/orders-value/versions/7", body, 404, 40402);
    expect_error("POST", "/compatibility/subjects/orders-value/versions/x", body, 422, 42202);
    expect_error("GET", "/compatibility/subjects/orders-value/versions/latest", NULL, 405, 405);
    free(body);
    body = schema_req("{'type':'nosuch'}");
    expect_error("POST", "/compatibility/subjects/orders-value/versions/latest", body, 422, 42201);
    free(body);

    /* config */
    a = call("GET", "/config", NULL);
    cr_assert_str_eq(a.raw.p, "{\"compatibilityLevel\":\"BACKWARD\"}");
    done(&a);
    a = call("PUT", "/config", "{'compatibility':'full'}");
    cr_assert_eq(a.status, 200);
    cr_assert_str_eq(a.raw.p, "{\"compatibility\":\"FULL\"}");
    done(&a);
    a = call("GET", "/config", NULL);
    cr_assert_str_eq(a.raw.p, "{\"compatibilityLevel\":\"FULL\"}");
    done(&a);
    expect_error("PUT", "/config", "{'compatibility':'SIDEWAYS'}", 422, 42203);
    expect_error("PUT", "/config", "{}", 422, 42203);
    expect_error("GET", "/config/orders-value", NULL, 404, 40408);
    a = call("GET", "/config/orders-value?defaultToGlobal=true", NULL);
    cr_assert_str_eq(a.raw.p, "{\"compatibilityLevel\":\"FULL\"}");
    done(&a);
    a = call("PUT", "/config/orders-value", "{'compatibility':'NONE'}");
    cr_assert_str_eq(a.raw.p, "{\"compatibility\":\"NONE\"}");
    done(&a);
    a = call("GET", "/config/orders-value", NULL);
    cr_assert_str_eq(a.raw.p, "{\"compatibilityLevel\":\"NONE\"}");
    done(&a);
    a = call_schema("POST", "/subjects/orders-value/versions", V3_BAD);
    cr_assert_eq(a.status, 200, "%s", a.raw.p);
    cr_assert_str_eq(a.raw.p, "{\"id\":4}");
    done(&a);
    /* NONE: anything is compatible, with versions that exist */
    a = call_schema("POST", "/compatibility/subjects/orders-value/versions/1", "'string'");
    cr_assert_str_eq(a.raw.p, "{\"is_compatible\":true}");
    done(&a);
    body = schema_req("'string'");
    expect_error("POST", "/compatibility/subjects/orders-value/versions/9", body, 404, 40402);
    free(body);

    /* subjects in paths: decoded, bounded */
    a = call_schema("POST", "/subjects/a%2Fb%20c/versions", "'int'");
    cr_assert_eq(a.status, 200, "%s", a.raw.p);
    done(&a);
    a = call("GET", "/subjects", NULL);
    cr_assert_str_eq(a.raw.p, "[\"a/b c\",\"orders-value\",\"prim\"]");
    done(&a);
    char longp[400];
    memset(longp, 0, sizeof longp);
    strcpy(longp, "/subjects/");
    memset(longp + 10, 'x', 256);
    strcat(longp, "/versions");
    expect_error("GET", longp, NULL, 422, 42208);
    expect_error("GET", "/subjects/a%0Ab/versions", NULL, 422, 42208);
    expect_error("GET", "/subjects/a%00b/versions", NULL, 422, 42208);
    expect_error("GET", "/subjects/a%zzb/versions", NULL, 404, 404);

    /* unknown routes and methods */
    expect_error("GET", "/subjects/orders-value/frob", NULL, 404, 404);
    /* DELETE /subjects/{s}: soft, again (40404), permanent, again (40401) */
    expect_error("DELETE", "/subjects/orders-value?permanent=true", NULL, 404, 40405);
    a = call("DELETE", "/subjects/orders-value", NULL);
    cr_assert_eq(a.status, 200, "%s", a.raw.p);
    cr_assert(json_is_array(a.j) && json_array_size(a.j) >= 2, "%s", a.raw.p);
    cr_assert_eq(json_integer_value(json_array_get(a.j, 0)), 1, "%s", a.raw.p);
    done(&a);
    expect_error("GET", "/subjects/orders-value/versions", NULL, 404, 40401);
    expect_error("DELETE", "/subjects/orders-value", NULL, 404, 40404);
    a = call("GET", "/schemas/ids/1", NULL);
    cr_assert_eq(a.status, 200, "soft-deleted ids stay readable: %s", a.raw.p);
    done(&a);
    a = call("DELETE", "/subjects/orders-value?permanent=true", NULL);
    cr_assert_eq(a.status, 200, "%s", a.raw.p);
    cr_assert_eq(json_integer_value(json_array_get(a.j, 0)), 1, "%s", a.raw.p);
    done(&a);
    expect_error("DELETE", "/subjects/orders-value?permanent=true", NULL, 404, 40401);
    expect_error("DELETE", "/subjects/no-such", NULL, 404, 40401);
    expect_error("DELETE", "/subjects/orders-value/versions", NULL, 405, 405);
    expect_error("POST", "/subjects", "{}", 405, 405);
    expect_error("GET", "/schemas/ids", NULL, 404, 404);
    expect_error("DELETE", "/config", NULL, 405, 405);

    /* bodies: a schema over 1 MiB, a body over 4 MiB */
    size_t big = FR_REGISTRY_MAX_SCHEMA + 100;
    char *bb = malloc(big + 64);
    cr_assert_not_null(bb);
    int o = snprintf(bb, 64, "{\"schema\":\"");
    memset(bb + o, ' ', big);
    strcpy(bb + o + big, "\"}");
    fr_buf_t out;
    fr_buf_init(&out, 1 << 20);
    cr_assert_eq(fr_registry_http(hr, "POST", "/subjects/s/versions", bb, strlen(bb), &out), 422);
    cr_assert(strstr(out.p, "42209"), "%s", out.p);
    cr_assert_eq(
        fr_registry_http(hr, "POST", "/subjects/s/versions", bb, FR_REGISTRY_MAX_BODY + 1, &out),
        413);
    fr_buf_destroy(&out);
    free(bb);
    fr_registry_close(hr);
}

/* ---- the external backend --------------------------------------------------------------- */

/* A Confluent-compatible registry for the client: libmicrohttpd answering
 * with an embedded registry; or 503 for everything while `down`. */
typedef struct {
    fr_buf_t body;
} conn_t;

static fr_registry_t *server_reg;
static volatile int down;
static volatile int requests;

static enum MHD_Result on_req(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    conn_t *cn = *con_cls;
    if (!cn) {
        cn = calloc(1, sizeof *cn);
        fr_buf_init(&cn->body, 8 << 20);
        *con_cls = cn;
        return MHD_YES;
    }
    if (*upload_size) {
        fr_buf_add(&cn->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    __atomic_add_fetch(&requests, 1, __ATOMIC_SEQ_CST);
    fr_buf_t out, path;
    fr_buf_init(&out, 8 << 20);
    fr_buf_init(&path, 4096);
    /* the path arrives decoded: encode what the subjects here may hold */
    for (const char *p = url; *p; p++)
        if (*p == ' ')
            fr_buf_addstr(&path, "%20");
        else
            fr_buf_addc(&path, *p);
    const char *perm = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "permanent");
    if (perm)
        fr_buf_printf(&path, "?permanent=%s", perm);
    int status =
        down ? 503 : fr_registry_http(server_reg, method, path.p, cn->body.p, cn->body.len, &out);
    if (down)
        fr_buf_addstr(&out, "{\"error_code\":50001,\"message\":\"down for the test\"}");
    struct MHD_Response *r =
        MHD_create_response_from_buffer(out.len, out.p ? out.p : "", MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", FR_REGISTRY_CONTENT_TYPE);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    fr_buf_destroy(&out);
    fr_buf_destroy(&path);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    conn_t *cn = *con_cls;
    if (cn) {
        fr_buf_destroy(&cn->body);
        free(cn);
    }
    *con_cls = NULL;
}

static fr_registry_t *open_external(const char *url, int timeout_ms, fr_config_t **ecfg)
{
    char extra[512], store[128], err[512];
    snprintf(extra, sizeof extra, "schema_registry: { url: \"%s\", timeout_ms: %d }\n", url,
             timeout_ms);
    snprintf(store, sizeof store, "%s/client", dir);
    *ecfg = make_cfg(store, extra);
    fr_registry_t *r;
    cr_assert_eq(fr_registry_open(*ecfg, &r, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(fr_registry_kind(r), "external");
    cr_assert_str_eq(fr_registry_url(r), url);
    return r;
}

Test(registry, external_registry, .init = setup, .fini = teardown)
{
    server_reg = open_reg();
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, on_req,
        NULL, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    cr_assert_not_null(d);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)info->port);
    fr_config_t *ecfg;
    fr_registry_t *r = open_external(url, 2000, &ecfg);

    cr_assert_eq(reg_ok(r, "ext value", V1), 1);
    cr_assert_eq(reg_ok(r, "ext value", V2), 2);
    char why[1024];
    cr_assert_eq(reg_rc(r, "ext value", V3_BAD, why, sizeof why), FR_ECONFLICT);
    cr_assert(strstr(why, "field 'c' of the new schema has no default and is missing in version 2"),
              "%s", why);
    cr_assert_eq(reg_rc(r, "ext value", "{'type':'record'}", why, sizeof why), FR_EPARSE);
    char *t = dq(V3_BAD);
    cr_assert_eq(fr_registry_check(r, "ext value", t, strlen(t), why, sizeof why), FR_ECONFLICT);
    cr_assert_str_eq(why, "field 'c' of the new schema has no default and is missing in version 2");
    cr_assert_eq(fr_registry_check(r, "nope", t, strlen(t), why, sizeof why), FR_ENOTFOUND);
    free(t);
    t = dq(V2);
    cr_assert_eq(fr_registry_check(r, "ext value", t, strlen(t), why, sizeof why), 0, "%s", why);
    free(t);
    uint32_t id;
    int version;
    fr_buf_t s;
    fr_buf_init(&s, 1 << 20);
    cr_assert_eq(fr_registry_latest(r, "ext value", &id, &version, &s), 0);
    cr_assert_eq(id, 2);
    cr_assert_eq(version, 2);
    cr_assert_eq(fr_registry_latest(r, "nope", &id, &version, &s), FR_ENOTFOUND);
    cr_assert_eq(fr_registry_schema(r, 1, &s), 0);
    cr_assert(strstr(s.p, "\"name\":\"R\""), "%s", s.p);
    cr_assert_eq(fr_registry_schema(r, 77, &s), FR_ENOTFOUND);
    subjects_t sub = {0};
    cr_assert_eq(fr_registry_subjects(r, collect_subject, &sub, why, sizeof why), 0, "%s", why);
    cr_assert_eq(sub.n, 1);
    cr_assert_str_eq(sub.names[0], "ext value");
    versions_t vs = {0};
    cr_assert_eq(fr_registry_versions(r, "ext value", collect_version, &vs, why, sizeof why), 0);
    cr_assert_eq(vs.n, 2);
    cr_assert_eq(vs.ids[1], 2);

    /* cached: schemas by id forever, the latest for a while; nothing cached fails */
    int before = requests;
    cr_assert_eq(fr_registry_schema(r, 1, &s), 0);
    cr_assert_eq(fr_registry_latest(r, "ext value", &id, &version, NULL), 0);
    cr_assert_eq(requests, before, "cached answers made requests");
    down = 1;
    cr_assert_eq(fr_registry_schema(r, 2, &s), 0);
    cr_assert(strstr(s.p, "\"b\""), "%s", s.p);
    cr_assert_eq(fr_registry_schema(r, 3, &s), FR_EUNAVAIL);
    cr_assert_eq(reg_rc(r, "ext value", V2, why, sizeof why), FR_EUNAVAIL);
    cr_assert(strstr(why, "down for the test"), "%s", why);
    down = 0;

    /* deletes go to the external registry, with Confluent's errors mapped */
    dels_t dl;
    cr_assert_eq(del(r, "ext value", 1, &dl, why, sizeof why), FR_ECONFLICT);
    cr_assert(strstr(why, "not deleted first"), "%s", why);
    cr_assert_eq(del(r, "ext value", 0, &dl, why, sizeof why), 0, "%s", why);
    cr_assert_eq(dl.n, 2);
    cr_assert_eq(fr_registry_latest(r, "ext value", &id, &version, NULL), FR_ENOTFOUND,
                 "the cached latest outlived the delete");
    cr_assert_eq(del(r, "ext value", 0, &dl, why, sizeof why), FR_ECONFLICT);
    cr_assert_eq(del(r, "ext value", 1, &dl, why, sizeof why), 0, "%s", why);
    cr_assert_eq(dl.n, 2);
    cr_assert_eq(del(r, "ext value", 1, &dl, why, sizeof why), FR_ENOTFOUND);

    /* the embedded-only REST entry says where the registry is */
    fr_buf_t out;
    fr_buf_init(&out, 4096);
    cr_assert_eq(fr_registry_http(r, "GET", "/subjects", NULL, 0, &out), 404);
    cr_assert(strstr(out.p, url), "%s", out.p);
    fr_buf_destroy(&out);
    fr_buf_destroy(&s);
    fr_registry_close(r);
    fr_config_free(ecfg);
    MHD_stop_daemon(d);
    fr_registry_close(server_reg);
}

Test(registry, external_unreachable_is_bounded, .init = setup, .fini = teardown)
{
    /* refused: a port nobody listens on */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(s, (struct sockaddr *)&sa, &sl);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    fr_config_t *ecfg;
    fr_registry_t *r = open_external(url, 300, &ecfg);
    fr_buf_t b;
    fr_buf_init(&b, 1 << 20);
    char why[512];
    cr_assert_eq(fr_registry_schema(r, 1, &b), FR_EUNAVAIL);
    cr_assert_eq(reg_rc(r, "s", "'int'", why, sizeof why), FR_EUNAVAIL);
    cr_assert(strstr(why, url) && strstr(why, "unavailable"), "%s", why);
    fr_registry_close(r);
    fr_config_free(ecfg);
    /* silent: a listener that never answers; each call ends at timeout_ms */
    cr_assert_eq(listen(s, 16), 0);
    r = open_external(url, 300, &ecfg);
    uint64_t t0 = fr_mono_ns();
    cr_assert_eq(fr_registry_schema(r, 1, &b), FR_EUNAVAIL);
    uint32_t id;
    int version;
    cr_assert_eq(fr_registry_latest(r, "s", &id, &version, NULL), FR_EUNAVAIL);
    double secs = (double)(fr_mono_ns() - t0) / 1e9;
    cr_assert(secs >= 0.5 && secs < 5, "two calls took %.2f s with timeout_ms 300", secs);
    fr_registry_close(r);
    fr_config_free(ecfg);
    fr_buf_destroy(&b);
    close(s);
}
