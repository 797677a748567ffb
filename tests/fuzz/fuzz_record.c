/*
 * fuzz_record - log records and stored writer schemas from arbitrary
 * bytes: decoding must fail cleanly or yield values within the input.
 * The first input byte picks the mode: record (identity schema), or the
 * rest split into a schema and a record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "event/event.h"
#define FUZZ_WANT_CONFIG
#include "fuzz.h"

static void check(const fr_record_proj_t *pj, const uint8_t *p, size_t n)
{
    fr_value_t vals[FR_CONFIG_MAX_FIELDS];
    int64_t ts;
    if (fr_record_decode(pj, p, n, vals, &ts))
        return;
    for (size_t i = 0; i < pj->nreader; i++)
        if (vals[i].type == FR_T_STRING &&
            ((const uint8_t *)vals[i].u.s < p || (const uint8_t *)vals[i].u.s + vals[i].len > p + n))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const fr_config_t *cfg = fuzz_config();
    if (!size)
        return 0;
    const fr_source_spec_t *src = &cfg->sources[0];
    fr_record_proj_t pj;
    if (data[0] & 1) {
        if (fr_record_proj_identity(&pj, src))
            abort();
        check(&pj, data + 1, size - 1);
        fr_record_proj_destroy(&pj);
    } else if (size >= 2) {
        /* data[1] picks where the schema ends and the record starts */
        size_t cut = 2 + (size_t)data[1] % (size - 1);
        uint64_t fp = fr_record_fingerprint(data + cut, size - cut);
        if (fr_record_proj_from_schema(&pj, src, fp, data + 2, cut - 2) == 0) {
            check(&pj, data + cut, size - cut);
            fr_record_proj_destroy(&pj);
        }
    }
    return 0;
}
