/*
 * jw.h - appending JSON text to a bounded buffer.  Output only: parsing is
 * jansson's job.  Doubles are written in the shortest form that reads back
 * to the same value; non-finite doubles become null.
 */
#ifndef FR_CORE_JW_H
#define FR_CORE_JW_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/value.h"

/* A JSON string literal of s[0..n) with quotes; invalid UTF-8 bytes are
 * replaced by U+FFFD so the output is always valid JSON. */
int fr_jw_str(fr_buf_t *b, const char *s, size_t n);
int fr_jw_cstr(fr_buf_t *b, const char *s);
int fr_jw_i64(fr_buf_t *b, int64_t v);
int fr_jw_u64(fr_buf_t *b, uint64_t v);
int fr_jw_double(fr_buf_t *b, double d);
/* A value as JSON: null, string, number or true/false. */
int fr_jw_value(fr_buf_t *b, const fr_value_t *v);
/* "key": — the key quoted, then a colon. */
int fr_jw_key(fr_buf_t *b, const char *key);
/*
 * Bytes that must read back exactly (a dead letter's payload), as members
 * of an object being written: "payload":"<text>" when p[n] is valid UTF-8
 * without NUL, else "payload_b64":"<base64>"; then "payload_bytes":n.
 * Either way the bytes are recovered unchanged (fr_b64_decode for the
 * second form).
 */
int fr_jw_payload(fr_buf_t *b, const char *p, size_t n);

#endif
