/*
 * value.h - typed field values shared by events, aggregations and output.
 *
 * A fr_value_t never owns memory: a string points into an event record, a
 * stored state or a request, and is valid as long as that is.
 */
#ifndef FR_CORE_VALUE_H
#define FR_CORE_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum fr_type {
    FR_T_NULL = 0, /* absent, or JSON null */
    FR_T_STRING,
    FR_T_LONG,
    FR_T_DOUBLE,
    FR_T_BOOL,
} fr_type_t;

typedef struct fr_value {
    fr_type_t type;
    uint32_t len; /* string length in bytes */
    union {
        int64_t i;
        double d;
        bool b;
        const char *s; /* not NUL-terminated; borrowed */
    } u;
} fr_value_t;

/* "string", "long", ... ; NULL for an unknown type. */
const char *fr_type_name(fr_type_t t);
/* Parses a type name; FR_T_NULL when unknown. */
fr_type_t fr_type_parse(const char *name);

/* Numeric value as a double (long converted); 0 for other types. */
static inline double fr_value_num(const fr_value_t *v)
{
    return v->type == FR_T_LONG ? (double)v->u.i : v->type == FR_T_DOUBLE ? v->u.d : 0;
}

#endif
