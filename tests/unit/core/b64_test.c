/* Unit tests of src/core/b64 and fr_jw_payload: dead-letter payloads read
 * back byte for byte, whatever the bytes. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "core/b64.h"
#include "core/err.h"
#include "core/jw.h"

static void roundtrip(const char *p, size_t n)
{
    fr_buf_t e, d;
    fr_buf_init(&e, 1 << 20);
    fr_buf_init(&d, 1 << 20);
    cr_assert_eq(fr_b64_encode(&e, p, n), 0);
    cr_assert_eq(e.len, (n + 2) / 3 * 4);
    cr_assert_eq(fr_b64_decode(&d, e.p ? e.p : "", e.len), 0);
    cr_assert_eq(d.len, n);
    cr_assert(n == 0 || memcmp(d.p, p, n) == 0);
    fr_buf_destroy(&e);
    fr_buf_destroy(&d);
}

Test(b64, rfc4648_vectors)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                      "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        fr_buf_t b;
        fr_buf_init(&b, 64);
        cr_assert_eq(fr_b64_encode(&b, in[i], strlen(in[i])), 0);
        cr_assert_str_eq(b.p ? b.p : "", out[i]);
        fr_buf_destroy(&b);
        roundtrip(in[i], strlen(in[i]));
    }
}

Test(b64, every_byte_and_length_roundtrips)
{
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    for (size_t n = 0; n <= 256; n++)
        roundtrip(all + (256 - n), n);
}

Test(b64, decode_refuses_what_is_not_canonical_base64)
{
    static const char *const bad[] = {"Zg=", "Zg", "Z===", "Zh==", "Zm9=", "Zm9v!A==", "=Zm9",
                                      "Zg==Zg==", "Zm 9v"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fr_buf_t b;
        fr_buf_init(&b, 64);
        fr_buf_addstr(&b, "keep");
        cr_assert_eq(fr_b64_decode(&b, bad[i], strlen(bad[i])), FR_EPARSE, "%s", bad[i]);
        cr_assert_str_eq(b.p, "keep", "%s left %s", bad[i], b.p);
        fr_buf_destroy(&b);
    }
}

/* The dead letters of issue 8: keys of invalid UTF-8 came back as U+FFFD. */
Test(b64, payload_members_keep_the_bytes)
{
    static const struct {
        const char *p;
        size_t n;
        const char *member;
    } cases[] = {
        {"{\"card_id\":\"g_\xff\xfe\"}", 17, "payload_b64"},
        {"{\"card_id\":\"g_\xc0\xaf\"}", 17, "payload_b64"},
        {"{\"a\":\"\xe2\x82\xac\"}", 11, "payload"},
        {"a\0b", 3, "payload_b64"},
        {"", 0, "payload"},
        {"\xef\xbf\xbd", 3, "payload"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fr_buf_t b;
        fr_buf_init(&b, 4096);
        fr_buf_addc(&b, '{');
        cr_assert_eq(fr_jw_payload(&b, cases[i].p, cases[i].n), 0);
        fr_buf_addc(&b, '}');
        json_error_t je;
        json_t *o = json_loadb(b.p, b.len, 0, &je);
        cr_assert_not_null(o, "case %zu: %s: %s", i, b.p, je.text);
        json_t *m = json_object_get(o, cases[i].member);
        cr_assert(json_is_string(m), "case %zu: no %s in %s", i, cases[i].member, b.p);
        cr_assert_eq(json_integer_value(json_object_get(o, "payload_bytes")), (json_int_t)cases[i].n);
        fr_buf_t got;
        fr_buf_init(&got, 4096);
        if (strcmp(cases[i].member, "payload_b64") == 0)
            cr_assert_eq(fr_b64_decode(&got, json_string_value(m), json_string_length(m)), 0);
        else
            fr_buf_add(&got, json_string_value(m), json_string_length(m));
        cr_assert_eq(got.len, cases[i].n, "case %zu", i);
        cr_assert(cases[i].n == 0 || memcmp(got.p, cases[i].p, cases[i].n) == 0, "case %zu", i);
        fr_buf_destroy(&got);
        json_decref(o);
        fr_buf_destroy(&b);
    }
}
