/* value.c - names of value types. */
#include "core/value.h"

#include <string.h>

static const char *const names[] = {"null", "string", "long", "double", "boolean"};

const char *fr_type_name(fr_type_t t)
{
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : NULL;
}

fr_type_t fr_type_parse(const char *name)
{
    for (unsigned i = 1; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return (fr_type_t)i;
    if (strcmp(name, "bool") == 0)
        return FR_T_BOOL;
    return FR_T_NULL;
}
