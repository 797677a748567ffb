/*
 * fuzz_drift_ref - drift references (stored with model versions) from
 * arbitrary bytes: decoding must fail cleanly or give a reference that
 * re-encodes to the same bytes and bins any value inside its columns.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "model/drift.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fr_drift_ref_t *r;
    if (fr_drift_ref_decode(data, size, &r))
        return 0;
    fr_buf_t b;
    fr_buf_init(&b, size + 16);
    if (fr_drift_ref_encode(r, &b) || b.len != size || memcmp(b.p, data, size))
        abort();
    fr_buf_destroy(&b);
    fr_buf_init(&b, 1 << 20);
    static const double probes[] = {-INFINITY, -1e300, -1, 0, 0.5, 1, 1e300, INFINITY, NAN};
    for (size_t c = 0; c < fr_drift_ref_columns(r); c++) {
        fr_drift_col_t col;
        fr_drift_ref_col(r, c, &col);
        for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
            if (fr_drift_bin(r, c, probes[i]) >= col.nbins)
                abort();
        fr_buf_reset(&b);
        if (fr_drift_ref_json(r, c, &b))
            abort();
    }
    fr_buf_destroy(&b);
    fr_drift_ref_free(r);
    return 0;
}
