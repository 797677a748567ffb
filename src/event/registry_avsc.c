/*
 * registry_avsc.c - Avro schemas for the registry (see registry_int.h): a
 * strict parser into a small tree, the canonical text, and whether one
 * schema can read data written with another.
 *
 * The parser follows the Avro 1.11 specification and is stricter than
 * avro-c (which, e.g., accepts duplicate field names and unchecked
 * defaults): names and namespaces, unions (no union in a union, no two
 * branches of one unnamed type or one name), enum symbols, fixed sizes, and
 * every default against its type (a union's against its first branch).
 * The tree borrows strings from the jansson document it keeps; nodes live
 * in an arena freed at once.  Primitive nodes are shared statics.
 *
 * Compatibility implements the spec's "Schema Resolution" as Avro's Java
 * SchemaCompatibility does: records match fields by name or the reader's
 * aliases, a reader field missing from the writer needs a default, a writer
 * field missing from the reader is skipped; int -> long -> float -> double
 * and string <-> bytes promote; every branch of a writer union must be
 * readable, a reader union reads a value if any branch does; enums need
 * the writer's symbols unless the reader has a default; arrays and maps by
 * their items and values; fixed by size; named types by unqualified name
 * or a reader alias.  Recursive types are compared co-inductively: a pair
 * of records already being compared further up is assumed compatible.
 */
#include <avro.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/jw.h"
#include "core/map.h"
#include "event/avro.h"
#include "event/registry_int.h"


/* Comparisons of two schemas stop after this many steps (a schema reusing
 * one named type at many places can otherwise cost exponential time). */
#define MAX_COMPAT_STEPS 2000000

typedef struct av_field {
    const char *name;
    av_node_t *type;
    json_t *def; /* borrowed from the document; NULL: no default */
    const char **aliases;
    size_t naliases;
} av_field_t;

struct av_node {
    av_kind_t kind;
    const char *fullname; /* named types: "ns.Name" (arena) */
    const char *name;     /* the part after the last dot */
    const char **aliases; /* full names */
    size_t naliases;
    av_field_t *fields; /* record */
    size_t nfields;
    const char **symbols; /* enum */
    size_t nsymbols;
    const char *enum_default;
    av_node_t *items;     /* array items, map values */
    av_node_t **branches; /* union */
    size_t nbranches;
    int64_t size;   /* fixed */
    fr_map_t index; /* record: field name -> field; enum: symbol -> NULL */
};

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
} chunk_t;

struct av_schema {
    json_t *doc;
    av_node_t *root;
    chunk_t *arena;
    fr_map_t names; /* fullname -> node */
};

static av_node_t prims[] = {
    {.kind = AV_NULL},  {.kind = AV_BOOLEAN}, {.kind = AV_INT},   {.kind = AV_LONG},
    {.kind = AV_FLOAT}, {.kind = AV_DOUBLE},  {.kind = AV_BYTES}, {.kind = AV_STRING},
};
static const char *const prim_names[] = {"null",  "boolean", "int",   "long",
                                         "float", "double",  "bytes", "string"};
#define NPRIMS (sizeof prim_names / sizeof prim_names[0])

static int prim_index(const char *s)
{
    for (size_t i = 0; i < NPRIMS; i++)
        if (strcmp(s, prim_names[i]) == 0)
            return (int)i;
    return -1;
}

/* ---- arena ----------------------------------------------------------------- */

static void *arena_alloc(av_schema_t *s, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    chunk_t *c = s->arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = s->arena;
        s->arena = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

static char *arena_strcat(av_schema_t *s, const char *a, const char *sep, const char *b)
{
    size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
    char *p = arena_alloc(s, la + ls + lb + 1);
    if (p) {
        memcpy(p, a, la);
        memcpy(p + la, sep, ls);
        memcpy(p + la + ls, b, lb + 1);
    }
    return p;
}

void fr_avsc_free(av_schema_t *s)
{
    if (!s)
        return;
    /* every record and enum is named, so in names: free their indexes */
    for (size_t i = 0; i < s->names.cap; i++) {
        av_node_t *n = s->names.slots[i].hash ? s->names.slots[i].value : NULL;
        if (n)
            fr_map_destroy(&n->index);
    }
    chunk_t *c = s->arena;
    while (c) {
        chunk_t *n = c->next;
        free(c);
        c = n;
    }
    fr_map_destroy(&s->names);
    json_decref(s->doc);
    free(s);
}

/* ---- describing types for messages --------------------------------------- */

static void desc(const av_node_t *n, char *out, size_t len)
{
    switch (n->kind) {
    case AV_RECORD: snprintf(out, len, "record '%s'", n->fullname); return;
    case AV_ENUM: snprintf(out, len, "enum '%s'", n->fullname); return;
    case AV_FIXED: snprintf(out, len, "fixed '%s'", n->fullname); return;
    case AV_ARRAY: snprintf(out, len, "an array"); return;
    case AV_MAP: snprintf(out, len, "a map"); return;
    case AV_UNION: {
        size_t o = (size_t)snprintf(out, len, "the union [");
        for (size_t i = 0; i < n->nbranches && o < len; i++) {
            const av_node_t *b = n->branches[i];
            const char *nm = b->kind < (av_kind_t)NPRIMS ? prim_names[b->kind]
                             : b->fullname               ? b->fullname
                             : b->kind == AV_ARRAY       ? "array"
                                                         : "map";
            o += (size_t)snprintf(out + o, len - o, "%s%s", i ? ", " : "", nm);
        }
        if (o < len)
            snprintf(out + o, len - o, "]");
        return;
    }
    default: snprintf(out, len, "%s", prim_names[n->kind]); return;
    }
}

/* ---- parsing --------------------------------------------------------------- */

typedef struct {
    av_schema_t *s;
    char *reason;
    size_t rlen;
    int nomem;
} pctx_t;

static int perr(pctx_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int perr(pctx_t *p, const char *fmt, ...)
{
    if (p->reason && p->rlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->reason, p->rlen, fmt, ap);
        va_end(ap);
    }
    return FR_EPARSE;
}

static int nomem(pctx_t *p)
{
    p->nomem = 1;
    if (p->reason && p->rlen)
        snprintf(p->reason, p->rlen, "out of memory");
    return FR_ENOMEM;
}

static int valid_simple(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_' ||
              (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}

/* Dot-separated simple names. */
static int valid_full(const char *s)
{
    char part[256];
    for (;;) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        if (n == 0 || n >= sizeof part)
            return 0;
        memcpy(part, s, n);
        part[n] = '\0';
        if (!valid_simple(part))
            return 0;
        if (!dot)
            return 1;
        s = dot + 1;
    }
}

/* A short JSON rendering of j for messages. */
static void jshort(const json_t *j, char *out, size_t len)
{
    char *d = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!d) {
        snprintf(out, len, "(value)");
        return;
    }
    if (strlen(d) > 60)
        snprintf(out, len, "%.57s...", d);
    else
        snprintf(out, len, "%s", d);
    free(d);
}

static av_node_t *lookup(const av_schema_t *s, const char *name, const char *ns)
{
    char full[1024];
    if (!strchr(name, '.') && ns && *ns) {
        int n = snprintf(full, sizeof full, "%s.%s", ns, name);
        if (n > 0 && (size_t)n < sizeof full) {
            fr_map_slot_t *sl =
                fr_map_find(&s->names, full, (size_t)n, fr_map_hash(full, (size_t)n));
            if (sl)
                return sl->value;
        }
    }
    size_t n = strlen(name);
    fr_map_slot_t *sl = fr_map_find(&s->names, name, n, fr_map_hash(name, n));
    return sl ? sl->value : NULL;
}

/* Name, namespace and aliases of a named type being defined in j (within
 * namespace ns): fills n->fullname, n->name, n->aliases, *space, and
 * enters the name. */
static int define_named(pctx_t *p, json_t *j, const char *what, const char *ns, av_node_t *n,
                        const char **space)
{
    const char *name = json_string_value(json_object_get(j, "name"));
    if (!name)
        return perr(p, "a %s needs a \"name\" string", what);
    const char *dot = strrchr(name, '.');
    if (dot ? !valid_full(name) : !valid_simple(name))
        return perr(p,
                    "'%s' is not a valid %s name (letters, digits and _, not starting with "
                    "a digit; dots between namespace parts)",
                    name, what);
    const char *simple = dot ? dot + 1 : name;
    if (prim_index(simple) >= 0)
        return perr(p, "'%s' is a primitive type and cannot name a %s", simple, what);
    if (dot) {
        char *sp = arena_alloc(p->s, (size_t)(dot - name) + 1);
        if (!sp)
            return nomem(p);
        memcpy(sp, name, (size_t)(dot - name));
        *space = sp;
        n->fullname = name;
    } else {
        json_t *jns = json_object_get(j, "namespace");
        if (jns && !json_is_string(jns) && !json_is_null(jns))
            return perr(p, "%s '%s': \"namespace\" must be a string", what, name);
        const char *sns = jns && json_is_string(jns) ? json_string_value(jns) : ns;
        if (sns && *sns && !valid_full(sns))
            return perr(p, "%s '%s': '%s' is not a valid namespace", what, name, sns);
        *space = sns ? sns : "";
        n->fullname = (*space)[0] ? arena_strcat(p->s, *space, ".", name) : name;
        if (!n->fullname)
            return nomem(p);
    }
    n->name = simple;
    size_t fl = strlen(n->fullname);
    if (fl >= 1024)
        return perr(p, "%s name '%.60s...' is too long", what, n->fullname);
    uint64_t h = fr_map_hash(n->fullname, fl);
    if (fr_map_find(&p->s->names, n->fullname, fl, h))
        return perr(p, "'%s' is defined twice", n->fullname);
    if (!fr_map_insert(&p->s->names, n->fullname, fl, h, n))
        return nomem(p);
    json_t *al = json_object_get(j, "aliases");
    if (al) {
        if (!json_is_array(al))
            return perr(p, "%s '%s': \"aliases\" must be an array of names", what, n->fullname);
        n->naliases = json_array_size(al);
        n->aliases = arena_alloc(p->s, (n->naliases + 1) * sizeof *n->aliases);
        if (!n->aliases)
            return nomem(p);
        for (size_t i = 0; i < n->naliases; i++) {
            const char *a = json_string_value(json_array_get(al, i));
            if (!a || !(strchr(a, '.') ? valid_full(a) : valid_simple(a)))
                return perr(p, "%s '%s': alias %zu is not a valid name", what, n->fullname, i);
            n->aliases[i] = strchr(a, '.') || !**space ? a : arena_strcat(p->s, *space, ".", a);
            if (!n->aliases[i])
                return nomem(p);
        }
    }
    return 0;
}

static int parse_type(pctx_t *p, json_t *j, const char *ns, int depth, av_node_t **out);

static av_node_t *new_node(pctx_t *p, av_kind_t kind)
{
    av_node_t *n = arena_alloc(p->s, sizeof *n);
    if (n)
        n->kind = kind;
    return n;
}

static int parse_record(pctx_t *p, json_t *j, const char *ns, int depth, av_node_t **out)
{
    av_node_t *n = new_node(p, AV_RECORD);
    if (!n)
        return nomem(p);
    const char *space;
    int rc = define_named(p, j, "record", ns, n, &space);
    if (rc)
        return rc;
    json_t *fields = json_object_get(j, "fields");
    if (!json_is_array(fields))
        return perr(p, "record '%s' needs a \"fields\" array", n->fullname);
    n->nfields = json_array_size(fields);
    n->fields = arena_alloc(p->s, (n->nfields + 1) * sizeof *n->fields);
    if (!n->fields)
        return nomem(p);
    fr_map_t *seen = &n->index;
    for (size_t i = 0; !rc && i < n->nfields; i++) {
        json_t *jf = json_array_get(fields, i);
        av_field_t *f = &n->fields[i];
        if (!json_is_object(jf)) {
            rc = perr(p, "record '%s': field %zu is not an object", n->fullname, i + 1);
            break;
        }
        f->name = json_string_value(json_object_get(jf, "name"));
        if (!f->name || !valid_simple(f->name)) {
            rc = perr(p,
                      "record '%s': field %zu has no valid \"name\" (letters, digits and _, "
                      "not starting with a digit)",
                      n->fullname, i + 1);
            break;
        }
        size_t fl = strlen(f->name);
        uint64_t h = fr_map_hash(f->name, fl);
        if (fr_map_find(seen, f->name, fl, h)) {
            rc = perr(p, "record '%s': field '%s' is defined twice", n->fullname, f->name);
            break;
        }
        if (!fr_map_insert(seen, f->name, fl, h, f)) {
            rc = nomem(p);
            break;
        }
        json_t *jt = json_object_get(jf, "type");
        if (!jt) {
            rc = perr(p, "record '%s': field '%s' has no \"type\"", n->fullname, f->name);
            break;
        }
        rc = parse_type(p, jt, space, depth + 1, &f->type);
        if (rc)
            break;
        f->def = json_object_get(jf, "default");
        json_t *ord = json_object_get(jf, "order");
        const char *os = json_string_value(ord);
        if (ord && !(os && (!strcmp(os, "ascending") || !strcmp(os, "descending") ||
                            !strcmp(os, "ignore")))) {
            rc = perr(p,
                      "record '%s': field '%s': \"order\" must be ascending, descending or "
                      "ignore",
                      n->fullname, f->name);
            break;
        }
        json_t *al = json_object_get(jf, "aliases");
        if (al) {
            if (!json_is_array(al)) {
                rc = perr(p, "record '%s': field '%s': \"aliases\" must be an array of names",
                          n->fullname, f->name);
                break;
            }
            f->naliases = json_array_size(al);
            f->aliases = arena_alloc(p->s, (f->naliases + 1) * sizeof *f->aliases);
            if (!f->aliases) {
                rc = nomem(p);
                break;
            }
            for (size_t k = 0; k < f->naliases; k++) {
                f->aliases[k] = json_string_value(json_array_get(al, k));
                if (!f->aliases[k] || !valid_simple(f->aliases[k])) {
                    rc = perr(p, "record '%s': field '%s': alias %zu is not a valid name",
                              n->fullname, f->name, k + 1);
                    break;
                }
            }
        }
    }
    *out = n;
    return rc;
}

static int parse_enum(pctx_t *p, json_t *j, const char *ns, av_node_t **out)
{
    av_node_t *n = new_node(p, AV_ENUM);
    if (!n)
        return nomem(p);
    const char *space;
    int rc = define_named(p, j, "enum", ns, n, &space);
    if (rc)
        return rc;
    json_t *syms = json_object_get(j, "symbols");
    if (!json_is_array(syms))
        return perr(p, "enum '%s' needs a \"symbols\" array", n->fullname);
    n->nsymbols = json_array_size(syms);
    n->symbols = arena_alloc(p->s, (n->nsymbols + 1) * sizeof *n->symbols);
    if (!n->symbols)
        return nomem(p);
    fr_map_t *seen = &n->index;
    for (size_t i = 0; !rc && i < n->nsymbols; i++) {
        const char *sym = json_string_value(json_array_get(syms, i));
        if (!sym || !valid_simple(sym)) {
            rc = perr(p, "enum '%s': symbol %zu is not a valid name", n->fullname, i + 1);
            break;
        }
        size_t sl = strlen(sym);
        uint64_t h = fr_map_hash(sym, sl);
        if (fr_map_find(seen, sym, sl, h)) {
            rc = perr(p, "enum '%s': symbol '%s' appears twice", n->fullname, sym);
            break;
        }
        if (!fr_map_insert(seen, sym, sl, h, NULL)) {
            rc = nomem(p);
            break;
        }
        n->symbols[i] = sym;
    }
    json_t *def = json_object_get(j, "default");
    if (!rc && def) {
        const char *d = json_string_value(def);
        size_t dl = d ? strlen(d) : 0;
        if (!d || !fr_map_find(seen, d, dl, fr_map_hash(d, dl))) {
            char js[80];
            jshort(def, js, sizeof js);
            rc = perr(p, "enum '%s': default %s is not one of its symbols", n->fullname, js);
        }
        n->enum_default = d;
    }
    *out = n;
    return rc;
}

static int parse_fixed(pctx_t *p, json_t *j, const char *ns, av_node_t **out)
{
    av_node_t *n = new_node(p, AV_FIXED);
    if (!n)
        return nomem(p);
    const char *space;
    int rc = define_named(p, j, "fixed", ns, n, &space);
    if (rc)
        return rc;
    json_t *sz = json_object_get(j, "size");
    if (!json_is_integer(sz) || json_integer_value(sz) < 0 || json_integer_value(sz) > INT32_MAX)
        return perr(p, "fixed '%s' needs an integer \"size\" from 0 to 2147483647", n->fullname);
    n->size = json_integer_value(sz);
    *out = n;
    return 0;
}

static int parse_union(pctx_t *p, json_t *j, const char *ns, int depth, av_node_t **out)
{
    av_node_t *n = new_node(p, AV_UNION);
    if (!n)
        return nomem(p);
    n->nbranches = json_array_size(j);
    if (!n->nbranches)
        return perr(p, "an empty union [] holds no values");
    n->branches = arena_alloc(p->s, n->nbranches * sizeof *n->branches);
    if (!n->branches)
        return nomem(p);
    for (size_t i = 0; i < n->nbranches; i++) {
        av_node_t *b;
        int rc = parse_type(p, json_array_get(j, i), ns, depth + 1, &b);
        if (rc)
            return rc;
        if (b->kind == AV_UNION)
            return perr(p, "a union may not immediately contain another union");
        for (size_t k = 0; k < i; k++) {
            const av_node_t *o = n->branches[k];
            if (o->kind != b->kind)
                continue;
            if (b->fullname && strcmp(o->fullname, b->fullname) != 0)
                continue;
            char d[300];
            desc(b, d, sizeof d);
            return perr(p, "a union may hold %s only once", d);
        }
        n->branches[i] = b;
    }
    *out = n;
    return 0;
}

static int parse_type(pctx_t *p, json_t *j, const char *ns, int depth, av_node_t **out)
{
    *out = NULL;
    if (depth > FR_REGISTRY_MAX_DEPTH)
        return perr(p, "types nest deeper than %d levels", FR_REGISTRY_MAX_DEPTH);
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        int pi = prim_index(s);
        if (pi >= 0) {
            *out = &prims[pi];
            return 0;
        }
        *out = lookup(p->s, s, ns);
        if (!*out)
            return perr(p,
                        "unknown type '%.200s' (not a primitive type nor a named type "
                        "defined before it)",
                        s);
        return 0;
    }
    if (json_is_array(j))
        return parse_union(p, j, ns, depth, out);
    if (!json_is_object(j)) {
        char js[80];
        jshort(j, js, sizeof js);
        return perr(p, "%s is not a schema: expected a type name, an object or a union array", js);
    }
    json_t *jt = json_object_get(j, "type");
    if (!jt)
        return perr(p, "a schema object needs a \"type\"");
    if (!json_is_string(jt))
        return parse_type(p, jt, ns, depth + 1, out);
    const char *t = json_string_value(jt);
    if (!strcmp(t, "record"))
        return parse_record(p, j, ns, depth, out);
    if (!strcmp(t, "enum"))
        return parse_enum(p, j, ns, out);
    if (!strcmp(t, "fixed"))
        return parse_fixed(p, j, ns, out);
    if (!strcmp(t, "error"))
        return perr(p, "type 'error' belongs to Avro protocols; a schema uses 'record'");
    if (!strcmp(t, "array") || !strcmp(t, "map")) {
        int arr = t[0] == 'a';
        json_t *it = json_object_get(j, arr ? "items" : "values");
        if (!it)
            return perr(p, "an %s needs \"%s\"", arr ? "array" : "map", arr ? "items" : "values");
        av_node_t *n = new_node(p, arr ? AV_ARRAY : AV_MAP);
        if (!n)
            return nomem(p);
        int rc = parse_type(p, it, ns, depth + 1, &n->items);
        *out = n;
        return rc;
    }
    /* a primitive with attributes (logicalType ...), or {"type": "Name"} */
    return parse_type(p, jt, ns, depth + 1, out);
}

/* Whether j is a valid default for n (depth bounds records whose fields
 * default to themselves). */
static int default_ok(const av_node_t *n, const json_t *j, int depth)
{
    if (depth > 2 * FR_REGISTRY_MAX_DEPTH)
        return 0;
    switch (n->kind) {
    case AV_NULL: return json_is_null(j);
    case AV_BOOLEAN: return json_is_boolean(j);
    case AV_INT:
        return json_is_integer(j) && json_integer_value(j) >= INT32_MIN &&
               json_integer_value(j) <= INT32_MAX;
    case AV_LONG: return json_is_integer(j);
    case AV_FLOAT:
    case AV_DOUBLE: return json_is_number(j);
    case AV_BYTES:
    case AV_STRING:
    case AV_FIXED: return json_is_string(j);
    case AV_ENUM:
        if (!json_is_string(j))
            return 0;
        return fr_map_find(&n->index, json_string_value(j), json_string_length(j),
                           fr_map_hash(json_string_value(j), json_string_length(j))) != NULL;
    case AV_ARRAY: {
        if (!json_is_array(j))
            return 0;
        for (size_t i = 0; i < json_array_size(j); i++)
            if (!default_ok(n->items, json_array_get(j, i), depth + 1))
                return 0;
        return 1;
    }
    case AV_MAP: {
        if (!json_is_object(j))
            return 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            if (!default_ok(n->items, v, depth + 1))
                return 0;
        }
        return 1;
    }
    case AV_RECORD:
        if (!json_is_object(j))
            return 0;
        for (size_t i = 0; i < n->nfields; i++) {
            const av_field_t *f = &n->fields[i];
            const json_t *v = json_object_get(j, f->name);
            if (!v)
                v = f->def;
            if (!v || !default_ok(f->type, v, depth + 1))
                return 0;
        }
        return 1;
    case AV_UNION: return default_ok(n->branches[0], j, depth + 1);
    }
    return 0;
}

static int check_defaults(pctx_t *p)
{
    const fr_map_t *m = &p->s->names;
    for (size_t i = 0; i < m->cap; i++) {
        const av_node_t *n = m->slots[i].hash ? m->slots[i].value : NULL;
        if (!n || n->kind != AV_RECORD)
            continue;
        for (size_t k = 0; k < n->nfields; k++) {
            const av_field_t *f = &n->fields[k];
            if (!f->def || default_ok(f->type, f->def, 0))
                continue;
            char js[80], d[300];
            jshort(f->def, js, sizeof js);
            if (f->type->kind == AV_UNION) {
                desc(f->type->branches[0], d, sizeof d);
                return perr(p,
                            "record '%s': field '%s': default %s does not match %s, the first "
                            "type of its union",
                            n->fullname, f->name, js, d);
            }
            desc(f->type, d, sizeof d);
            return perr(p, "record '%s': field '%s': default %s is not a valid %s", n->fullname,
                        f->name, js, d);
        }
    }
    return 0;
}

int fr_avsc_parse(const char *text, size_t len, av_schema_t **out, char *reason, size_t rlen)
{
    *out = NULL;
    if (reason && rlen)
        reason[0] = '\0';
    av_schema_t *s = calloc(1, sizeof *s);
    pctx_t p = {.s = s, .reason = reason, .rlen = rlen};
    if (!s)
        return nomem(&p);
    fr_map_init(&s->names);
    json_error_t je;
    s->doc = json_loadb(text ? text : "", len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    int rc;
    if (!s->doc) {
        rc = perr(&p, "not JSON: %s (line %d, column %d)", je.text, je.line, je.column);
        goto out;
    }
    rc = parse_type(&p, s->doc, "", 0, &s->root);
    if (!rc)
        rc = check_defaults(&p);
    if (rc)
        goto out;
    /* what avro-c (the codec) cannot load is of no use either; its error
     * message is one static buffer in the library (not per thread) */
    avro_schema_t as;
    fr_avro_c_lock(); /* shared with the codec: avro-c's error text is one global */
    if (avro_schema_from_json_length(text, len, &as) != 0)
        rc = perr(&p, "avro-c refuses it: %s", avro_strerror());
    else
        avro_schema_decref(as);
    fr_avro_c_unlock();
    if (rc)
        goto out;
out:
    if (rc) {
        fr_avsc_free(s);
        return p.nomem ? FR_ENOMEM : rc;
    }
    *out = s;
    return 0;
}

/* ---- canonical text ---------------------------------------------------------- */

static const char *const schema_keys[] = {"type",   "name",    "namespace", "doc",
                                          "fields", "symbols", "items",     "values",
                                          "size",   "default", "aliases",   NULL};
static const char *const field_keys[] = {"name",  "type",    "doc", "default",
                                         "order", "aliases", NULL};

typedef struct {
    const char *key;
    int rank;
} okey_t;

static int cmp_okey(const void *a, const void *b)
{
    const okey_t *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* The keys of object j in canonical order (free() the array). */
static okey_t *ordered_keys(const json_t *j, const char *const *prio, size_t *n)
{
    *n = json_object_size(j);
    okey_t *ks = malloc((*n ? *n : 1) * sizeof *ks);
    if (!ks)
        return NULL;
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v)
    {
        (void)v;
        int r = 1000;
        for (int q = 0; prio && prio[q]; q++)
            if (strcmp(prio[q], k) == 0)
                r = q;
        ks[i++] = (okey_t){k, r};
    }
    qsort(ks, *n, sizeof *ks, cmp_okey);
    return ks;
}

static int emit_value(fr_buf_t *b, const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        size_t n;
        okey_t *ks = ordered_keys(j, NULL, &n);
        if (!ks)
            return FR_ENOMEM;
        int rc = fr_buf_addc(b, '{');
        for (size_t i = 0; !rc && i < n; i++) {
            rc = i ? fr_buf_addc(b, ',') : 0;
            rc = rc ? rc : fr_jw_key(b, ks[i].key);
            rc = rc ? rc : emit_value(b, json_object_get(j, ks[i].key));
        }
        free(ks);
        return rc ? rc : fr_buf_addc(b, '}');
    }
    case JSON_ARRAY: {
        int rc = fr_buf_addc(b, '[');
        for (size_t i = 0; !rc && i < json_array_size(j); i++) {
            rc = i ? fr_buf_addc(b, ',') : 0;
            rc = rc ? rc : emit_value(b, json_array_get(j, i));
        }
        return rc ? rc : fr_buf_addc(b, ']');
    }
    case JSON_STRING: return fr_jw_str(b, json_string_value(j), json_string_length(j));
    case JSON_INTEGER: return fr_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
    case JSON_REAL: return fr_jw_double(b, json_real_value(j));
    case JSON_TRUE: return fr_buf_addstr(b, "true");
    case JSON_FALSE: return fr_buf_addstr(b, "false");
    default: return fr_buf_addstr(b, "null");
    }
}

static int emit_schema(fr_buf_t *b, const json_t *j);

static int emit_object(fr_buf_t *b, const json_t *j, int field)
{
    size_t n;
    okey_t *ks = ordered_keys(j, field ? field_keys : schema_keys, &n);
    if (!ks)
        return FR_ENOMEM;
    int rc = fr_buf_addc(b, '{');
    for (size_t i = 0; !rc && i < n; i++) {
        const char *k = ks[i].key;
        const json_t *v = json_object_get(j, k);
        rc = i ? fr_buf_addc(b, ',') : 0;
        rc = rc ? rc : fr_jw_key(b, k);
        if (rc)
            break;
        if (!strcmp(k, "type") || (!field && (!strcmp(k, "items") || !strcmp(k, "values")))) {
            rc = emit_schema(b, v);
        } else if (!field && !strcmp(k, "fields") && json_is_array(v)) {
            rc = fr_buf_addc(b, '[');
            for (size_t f = 0; !rc && f < json_array_size(v); f++) {
                rc = f ? fr_buf_addc(b, ',') : 0;
                rc = rc ? rc : emit_object(b, json_array_get(v, f), 1);
            }
            rc = rc ? rc : fr_buf_addc(b, ']');
        } else {
            rc = emit_value(b, v);
        }
    }
    free(ks);
    return rc ? rc : fr_buf_addc(b, '}');
}

static int emit_schema(fr_buf_t *b, const json_t *j)
{
    if (json_is_array(j)) {
        int rc = fr_buf_addc(b, '[');
        for (size_t i = 0; !rc && i < json_array_size(j); i++) {
            rc = i ? fr_buf_addc(b, ',') : 0;
            rc = rc ? rc : emit_schema(b, json_array_get(j, i));
        }
        return rc ? rc : fr_buf_addc(b, ']');
    }
    if (json_is_object(j)) {
        /* {"type": X} alone is X */
        if (json_object_size(j) == 1 && json_object_get(j, "type"))
            return emit_schema(b, json_object_get(j, "type"));
        return emit_object(b, j, 0);
    }
    return emit_value(b, j);
}

int fr_avsc_canonical(const av_schema_t *s, fr_buf_t *out)
{
    return emit_schema(out, s->doc);
}

/* ---- compatibility ------------------------------------------------------------- */

typedef struct {
    const char *rname, *wname;
    char *reason;
    size_t rlen;
    int quiet;      /* trying a union branch: failures say nothing */
    char path[512]; /* field path from the top: "a.b[]" */
    size_t plen;
    fr_map_t active; /* record pairs being compared further up */
    long steps;
} cctx_t;

static int cfail(cctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int cfail(cctx_t *c, const char *fmt, ...)
{
    if (!c->quiet && c->reason && c->rlen) {
        int o = c->plen ? snprintf(c->reason, c->rlen, "field '%s': ", c->path) : 0;
        if (o < 0 || (size_t)o >= c->rlen)
            o = 0;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->reason + o, c->rlen - (size_t)o, fmt, ap);
        va_end(ap);
    }
    return FR_ECONFLICT;
}

/* Appends seg to the path ("." before a field name); returns the old length. */
static size_t push(cctx_t *c, const char *seg, int field)
{
    size_t old = c->plen;
    int n = snprintf(c->path + c->plen, sizeof c->path - c->plen, "%s%s",
                     field && c->plen ? "." : "", seg);
    if (n > 0)
        c->plen += (size_t)n < sizeof c->path - c->plen ? (size_t)n : sizeof c->path - 1 - c->plen;
    return old;
}

static void pop(cctx_t *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
}

static int names_match(const av_node_t *r, const av_node_t *w)
{
    if (strcmp(r->name, w->name) == 0)
        return 1;
    for (size_t i = 0; i < r->naliases; i++)
        if (strcmp(r->aliases[i], w->fullname) == 0)
            return 1;
    return 0;
}

static int mismatch(cctx_t *c, const av_node_t *r, const av_node_t *w, const char *why)
{
    char rd[300], wd[300];
    desc(r, rd, sizeof rd);
    desc(w, wd, sizeof wd);
    return cfail(c, "%s reads %s, but %s writes %s%s", c->rname, rd, c->wname, wd, why);
}

static int compat(cctx_t *c, const av_node_t *r, const av_node_t *w);

/* The field (or any value) named name in a node's index, or NULL. */
static const av_field_t *find_in(const fr_map_t *index, const char *name)
{
    size_t n = strlen(name);
    fr_map_slot_t *sl = fr_map_find(index, name, n, fr_map_hash(name, n));
    return sl ? sl->value : NULL;
}

static int compat_record(cctx_t *c, const av_node_t *r, const av_node_t *w)
{
    const void *pair[2] = {r, w};
    uint64_t h = fr_map_hash(pair, sizeof pair);
    if (fr_map_find(&c->active, pair, sizeof pair, h))
        return 0; /* compared further up: assume so (co-induction) */
    if (!fr_map_insert(&c->active, pair, sizeof pair, h, NULL))
        return FR_ENOMEM;
    int rc = 0;
    for (size_t i = 0; !rc && i < r->nfields; i++) {
        const av_field_t *rf = &r->fields[i];
        const av_field_t *wf = find_in(&w->index, rf->name);
        for (size_t a = 0; !wf && a < rf->naliases; a++)
            wf = find_in(&w->index, rf->aliases[a]);
        size_t old = push(c, rf->name, 1);
        if (wf) {
            rc = compat(c, rf->type, wf->type);
        } else if (!rf->def) {
            /* the whole message names the field: no "field 'x': " prefix */
            if (!c->quiet && c->reason && c->rlen)
                snprintf(c->reason, c->rlen, "field '%s' of %s has no default and is missing in %s",
                         c->path, c->rname, c->wname);
            rc = FR_ECONFLICT;
        }
        pop(c, old);
    }
    fr_map_slot_t *sl = fr_map_find(&c->active, pair, sizeof pair, h);
    if (sl)
        fr_map_delete(&c->active, sl);
    return rc;
}

static int promotes(av_kind_t w, av_kind_t r)
{
    switch (w) {
    case AV_INT: return r == AV_LONG || r == AV_FLOAT || r == AV_DOUBLE;
    case AV_LONG: return r == AV_FLOAT || r == AV_DOUBLE;
    case AV_FLOAT: return r == AV_DOUBLE;
    case AV_STRING: return r == AV_BYTES;
    case AV_BYTES: return r == AV_STRING;
    default: return 0;
    }
}

static int compat(cctx_t *c, const av_node_t *r, const av_node_t *w)
{
    if (++c->steps > MAX_COMPAT_STEPS)
        return cfail(c, "the schemas are too large to compare (over %d steps)", MAX_COMPAT_STEPS);
    if (w->kind == AV_UNION) {
        /* whatever branch was written must be readable */
        for (size_t i = 0; i < w->nbranches; i++) {
            int rc = compat(c, r, w->branches[i]);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (r->kind == AV_UNION) {
        c->quiet++;
        int rc = FR_ECONFLICT;
        for (size_t i = 0; rc == FR_ECONFLICT && i < r->nbranches; i++)
            rc = compat(c, r->branches[i], w);
        c->quiet--;
        if (rc != FR_ECONFLICT)
            return rc;
        char rd[300], wd[300];
        desc(r, rd, sizeof rd);
        desc(w, wd, sizeof wd);
        return cfail(c, "no type in %s of %s can read %s's %s", rd, c->rname, c->wname, wd);
    }
    if (r->kind != w->kind)
        return promotes(w->kind, r->kind) ? 0 : mismatch(c, r, w, "");
    switch (r->kind) {
    case AV_ARRAY:
    case AV_MAP: {
        size_t old = push(c, r->kind == AV_ARRAY ? "[]" : "{}", 0);
        int rc = compat(c, r->items, w->items);
        pop(c, old);
        return rc;
    }
    case AV_FIXED:
        if (!names_match(r, w))
            return mismatch(c, r, w, " (the names differ and no alias matches)");
        if (r->size != w->size)
            return cfail(c, "fixed '%s' has size %lld in %s but %lld in %s", r->fullname,
                         (long long)w->size, c->wname, (long long)r->size, c->rname);
        return 0;
    case AV_ENUM:
        if (!names_match(r, w))
            return mismatch(c, r, w, " (the names differ and no alias matches)");
        if (r->enum_default)
            return 0;
        for (size_t i = 0; i < w->nsymbols; i++) {
            size_t sl = strlen(w->symbols[i]);
            if (!fr_map_find(&r->index, w->symbols[i], sl, fr_map_hash(w->symbols[i], sl)))
                return cfail(c,
                             "symbol '%s' of %s is not in %s's enum '%s', which has no "
                             "default",
                             w->symbols[i], c->wname, c->rname, r->fullname);
        }
        return 0;
    case AV_RECORD:
        if (!names_match(r, w))
            return mismatch(c, r, w, " (the names differ and no alias matches)");
        return compat_record(c, r, w);
    default: return 0; /* the same primitive */
    }
}

int fr_avsc_compat(const av_schema_t *reader, const char *rname, const av_schema_t *writer,
                   const char *wname, char *reason, size_t rlen)
{
    cctx_t c = {.rname = rname, .wname = wname, .reason = reason, .rlen = rlen};
    fr_map_init(&c.active);
    if (reason && rlen)
        reason[0] = '\0';
    int rc = compat(&c, reader->root, writer->root);
    fr_map_destroy(&c.active);
    if (rc == FR_ENOMEM && reason && rlen)
        snprintf(reason, rlen, "out of memory");
    return rc;
}

/* ---- levels -------------------------------------------------------------------- */

static const char *const level_names[FR_COMPAT__N] = {
    "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
    "FULL",     "FULL_TRANSITIVE",     "NONE"};

const char *fr_compat_name(fr_compat_t level)
{
    return (unsigned)level < FR_COMPAT__N ? level_names[level] : "BACKWARD";
}

int fr_compat_parse(const char *s)
{
    for (int i = 0; s && i < FR_COMPAT__N; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

int fr_compat_check(fr_compat_t level, const av_schema_t *news, const av_schema_t *olds,
                    const char *oldname, char *reason, size_t rlen)
{
    int rc = 0;
    int back = level == FR_COMPAT_BACKWARD || level == FR_COMPAT_BACKWARD_TRANSITIVE ||
               level == FR_COMPAT_FULL || level == FR_COMPAT_FULL_TRANSITIVE;
    int fwd = level == FR_COMPAT_FORWARD || level == FR_COMPAT_FORWARD_TRANSITIVE ||
              level == FR_COMPAT_FULL || level == FR_COMPAT_FULL_TRANSITIVE;
    if (back)
        rc = fr_avsc_compat(news, "the new schema", olds, oldname, reason, rlen);
    if (!rc && fwd)
        rc = fr_avsc_compat(olds, oldname, news, "the new schema", reason, rlen);
    return rc;
}
