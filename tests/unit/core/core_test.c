/* Unit tests of src/core: bounded buffers and readers, the map, JSON output. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/jw.h"
#include "core/map.h"

Test(buf, respects_its_maximum)
{
    fr_buf_t b;
    fr_buf_init(&b, 10);
    cr_assert_eq(fr_buf_add(&b, "0123456789", 10), 0);
    cr_assert_eq(fr_buf_addc(&b, 'x'), FR_ELIMIT);
    cr_assert_eq(b.len, 10);
    cr_assert_str_eq(b.p, "0123456789");
    fr_buf_reset(&b);
    cr_assert_eq(fr_buf_printf(&b, "%s", "abcdefghijk"), FR_ELIMIT);
    cr_assert_eq(fr_buf_printf(&b, "%d", 12345), 0);
    cr_assert_str_eq(b.p, "12345");
    fr_buf_destroy(&b);
}

Test(buf, long_printf_grows)
{
    fr_buf_t b;
    fr_buf_init(&b, 1 << 20);
    char big[1000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    cr_assert_eq(fr_buf_printf(&b, "<%s>", big), 0);
    cr_assert_eq(b.len, 1001);
    cr_assert_eq(b.p[0], '<');
    cr_assert_eq(b.p[1000], '>');
    fr_buf_destroy(&b);
}

Test(buf, reader_never_reads_past_the_end)
{
    fr_buf_t b;
    fr_buf_init(&b, 1024);
    fr_buf_add_u8(&b, 7);
    fr_buf_add_u16(&b, 0xbeef);
    fr_buf_add_u32(&b, 0xdeadbeef);
    fr_buf_add_u64(&b, 0x0123456789abcdefULL);
    fr_buf_add_varint(&b, 300);
    fr_buf_add_varint(&b, UINT64_MAX);
    fr_rd_t r;
    fr_rd_init(&r, b.p, b.len);
    cr_assert_eq(fr_rd_u8(&r), 7);
    cr_assert_eq(fr_rd_u16(&r), 0xbeef);
    cr_assert_eq(fr_rd_u32(&r), 0xdeadbeef);
    cr_assert_eq(fr_rd_u64(&r), 0x0123456789abcdefULL);
    cr_assert_eq(fr_rd_varint(&r), 300);
    cr_assert_eq(fr_rd_varint(&r), UINT64_MAX);
    cr_assert_eq(r.err, 0);
    cr_assert_eq(fr_rd_u8(&r), 0);
    cr_assert_eq(r.err, FR_ECORRUPT);
    /* truncated varint */
    fr_rd_init(&r, "\xff\xff", 2);
    fr_rd_varint(&r);
    cr_assert_eq(r.err, FR_ECORRUPT);
    fr_rd_init(&r, "abc", 3);
    cr_assert_null(fr_rd_bytes(&r, 4));
    fr_buf_destroy(&b);
}

Test(clock, floordiv_rounds_down)
{
    cr_assert_eq(fr_floordiv(7, 5), 1);
    cr_assert_eq(fr_floordiv(-1, 5), -1);
    cr_assert_eq(fr_floordiv(-5, 5), -1);
    cr_assert_eq(fr_floordiv(-6, 5), -2);
    cr_assert_eq(fr_floordiv(0, 5), 0);
}

Test(hash, distinct_and_stable)
{
    cr_assert_neq(fr_hash64("a", 1, 0), fr_hash64("b", 1, 0));
    cr_assert_neq(fr_hash64("a", 1, 0), fr_hash64("a", 1, 1));
    cr_assert_eq(fr_hash64("hello world", 11, 5), fr_hash64("hello world", 11, 5));
    /* bit balance over many keys: each output bit set about half the time */
    int ones[64] = {0};
    for (int i = 0; i < 20000; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "c%07d", i);
        uint64_t h = fr_hash64(k, (size_t)n, 0);
        for (int b = 0; b < 64; b++)
            ones[b] += (h >> b) & 1;
    }
    for (int b = 0; b < 64; b++)
        cr_assert(ones[b] > 9400 && ones[b] < 10600, "bit %d set %d times", b, ones[b]);
}

Test(map, insert_find_delete_many)
{
    fr_map_t m;
    fr_map_init(&m);
    enum { N = 20000 };
    static int vals[N];
    char k[32];
    for (int i = 0; i < N; i++) {
        int n = snprintf(k, sizeof k, "key-%d", i);
        vals[i] = i;
        cr_assert_not_null(fr_map_insert(&m, k, (size_t)n, fr_map_hash(k, (size_t)n), &vals[i]));
    }
    cr_assert_eq(m.size, N);
    /* delete the odd ones: backward shift must keep the even ones findable */
    for (int i = 1; i < N; i += 2) {
        int n = snprintf(k, sizeof k, "key-%d", i);
        fr_map_slot_t *s = fr_map_find(&m, k, (size_t)n, fr_map_hash(k, (size_t)n));
        cr_assert_not_null(s);
        fr_map_delete(&m, s);
    }
    cr_assert_eq(m.size, N / 2);
    for (int i = 0; i < N; i++) {
        int n = snprintf(k, sizeof k, "key-%d", i);
        fr_map_slot_t *s = fr_map_find(&m, k, (size_t)n, fr_map_hash(k, (size_t)n));
        if (i % 2)
            cr_assert_null(s, "key-%d should be gone", i);
        else {
            cr_assert_not_null(s, "key-%d lost", i);
            cr_assert_eq(*(int *)s->value, i);
        }
    }
    fr_map_destroy(&m);
}

Test(jw, strings_are_valid_json)
{
    fr_buf_t b;
    fr_buf_init(&b, 1024);
    fr_jw_str(&b, "a\"b\\c\n\x01\xc3\xa9\xff", 10);
    cr_assert_str_eq(b.p, "\"a\\\"b\\\\c\\u000a\\u0001\xc3\xa9\xef\xbf\xbd\"");
    fr_buf_destroy(&b);
}

Test(jw, doubles_round_trip)
{
    double xs[] = {0.1, 1.0, -2.5, 1e300, 123456.789, 3.0000000000000004, 0.0};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        fr_buf_t b;
        fr_buf_init(&b, 64);
        fr_jw_double(&b, xs[i]);
        cr_assert_eq(strtod(b.p, NULL), xs[i], "%s", b.p);
        cr_assert(strpbrk(b.p, ".e") != NULL, "%s should read as a double", b.p);
        fr_buf_destroy(&b);
    }
    fr_buf_t b;
    fr_buf_init(&b, 64);
    fr_jw_double(&b, NAN);
    cr_assert_str_eq(b.p, "null");
    fr_buf_reset(&b);
    fr_jw_double(&b, 0.1);
    cr_assert_str_eq(b.p, "0.1");
    fr_buf_destroy(&b);
}

Test(err, strerror_names_codes)
{
    cr_assert_str_eq(fr_strerror(FR_ELIMIT), "limit exceeded");
    cr_assert_str_eq(fr_strerror(FR_ENOMEM), strerror(ENOMEM));
}
