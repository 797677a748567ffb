/*
 * avro_int.h - inside the Avro codec: the compiled form of a writer schema
 * that the reader (avro.c) and the writer (avro_write.c) share.
 *
 * A writer schema, parsed by avro-c, is compiled into a flat table of
 * nodes, one per distinct type (named types are shared, so recursive
 * schemas are finite tables); records, unions, arrays and maps list their
 * children in `kids`, enums their symbols in `syms`.  `top` is the record;
 * `wmap` maps each of its fields to the source field it fills.
 */
#ifndef FR_EVENT_AVRO_INT_H
#define FR_EVENT_AVRO_INT_H

#include <avro.h>
#include <stdbool.h>
#include <stdint.h>

#include "event/avro.h"

typedef enum {
    K_NULL,
    K_BOOL,
    K_INT,
    K_LONG,
    K_FLOAT,
    K_DOUBLE,
    K_BYTES,
    K_STRING,
    K_FIXED,
    K_ENUM,
    K_ARRAY,
    K_MAP,
    K_RECORD,
    K_UNION,
} kind_t;

/* "null", "boolean", ..., "union"; "?" past the end. */
const char *fr_avro_kind_name(unsigned kind);

typedef struct node {
    uint8_t kind;
    bool done;        /* compiled; false while its children are compiled */
    bool empty;       /* every value takes zero bytes (null, fixed(0), records of those) */
    uint32_t minsize; /* fewest bytes a value takes (a lower bound) */
    uint32_t height;  /* records, arrays, maps, unions on the deepest path, itself included */
    uint32_t n;       /* record fields, union branches, enum symbols */
    uint32_t first;   /* first child in kids (1 for arrays and maps), or first symbol */
    int64_t size;     /* fixed */
    const char *name; /* named types; borrowed from the schema */
} node_t;

typedef struct sym {
    const char *s; /* borrowed from the schema */
    uint32_t len;
} sym_t;

struct fr_avro_proj {
    const fr_source_spec_t *src;
    avro_schema_t wschema;
    node_t *nodes;
    uint32_t nnodes, capnodes;
    uint32_t *kids;
    uint32_t nkids, capkids;
    sym_t *syms; /* enum symbols */
    uint32_t nsyms, capsyms;
    uint32_t top;     /* the writer's record */
    int *wmap;        /* writer field -> reader field, or -1 */
    int missing;      /* a required reader field without default the writer lacks, or -1 */
    uint64_t topwork; /* node visits of the top record's own fields */
    /* the generic path, made on first use */
    avro_value_iface_t *iface;
    avro_value_t gval;
    bool has_gval;
    avro_reader_t mreader;
};

#endif
