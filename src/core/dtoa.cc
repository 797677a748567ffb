/*
 * dtoa.cc - see dtoa.h.  The only C++ in freshet: a bridge to
 * libdouble-conversion, whose converter is immutable and shared by all
 * threads.
 */
#include <double-conversion/double-conversion.h>

extern "C" {
#include "core/dtoa.h"
}

namespace {
using double_conversion::DoubleToStringConverter;
using double_conversion::StringBuilder;

/* JavaScript's thresholds: plain notation from 1e-6 up to 1e21 */
const DoubleToStringConverter converter(DoubleToStringConverter::EMIT_POSITIVE_EXPONENT_SIGN |
                                            DoubleToStringConverter::EMIT_TRAILING_DECIMAL_POINT |
                                            DoubleToStringConverter::EMIT_TRAILING_ZERO_AFTER_POINT,
                                        "inf", "nan", 'e', -6, 21, 0, 0);
} // namespace

extern "C" int fr_dtoa(double d, char *buf)
{
    buf[0] = '\0';
    if (d != d || d - d != 0)
        return -1; /* NaN, infinities */
    StringBuilder sb(buf, FR_DTOA_MAX);
    if (!converter.ToShortest(d, &sb))
        return -1;
    int len = sb.position();
    sb.Finalize();
    return len;
}
