/*
 * dtoa.h - doubles as the shortest decimal text that reads back to the same
 * value (round trip), fast: the serving path and training sets write many
 * of them.  The work is done by Google's double-conversion library (its
 * Grisu3 with a bignum fallback), behind this C interface.
 */
#ifndef FR_CORE_DTOA_H
#define FR_CORE_DTOA_H

#include <stddef.h>

/* Most bytes fr_dtoa writes, with the terminating NUL. */
#define FR_DTOA_MAX 32

/*
 * Writes finite d into buf[FR_DTOA_MAX] as the shortest text that reads back
 * as d, always with a decimal point or an exponent ("12.5", "3.0",
 * "0.30000000000000004", "1e-7", "1.5e+300"), NUL-terminated.  Returns its
 * length, or -1 for a non-finite d (buf then holds "").  Thread-safe.
 */
int fr_dtoa(double d, char *buf);

#endif
