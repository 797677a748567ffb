/*
 * b64.h - base64 (RFC 4648, standard alphabet, with padding), for bytes
 * that must travel inside JSON unchanged: dead-letter payloads that are
 * not valid UTF-8.
 */
#ifndef FR_CORE_B64_H
#define FR_CORE_B64_H

#include <stddef.h>

#include "core/buf.h"

/* Appends the base64 text of p[n] (no quotes).  0 or FR_ELIMIT/FR_ENOMEM
 * (out unchanged then). */
int fr_b64_encode(fr_buf_t *out, const void *p, size_t n);

/* Appends the bytes that the base64 text s[n] stands for.  0, FR_EPARSE
 * (not canonical padded base64: out unchanged), or FR_ELIMIT/FR_ENOMEM. */
int fr_b64_decode(fr_buf_t *out, const char *s, size_t n);

#endif
