/*
 * fuzz.h - shared by the fuzz drivers.  Each driver defines
 * LLVMFuzzerTestOneInput; it is linked either with libFuzzer (make fuzz,
 * clang) or with replay_main.c (make test, gcc), which runs the committed
 * corpus plus seeded mutations of it.
 */
#ifndef FR_FUZZ_H
#define FR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The configuration every driver uses (all field types, all functions). */
#define FUZZ_YAML                                                                                  \
    "store: { path: %s }\n"                                                                        \
    "server: { max_key_bytes: 64 }\n"                                                              \
    "sources:\n"                                                                                   \
    "  - name: ev\n"                                                                               \
    "    timestamp: ts\n"                                                                          \
    "    fields:\n"                                                                                \
    "      - { name: id, type: string }\n"                                                         \
    "      - { name: n, type: long, optional: true }\n"                                            \
    "      - { name: x, type: double, optional: true }\n"                                          \
    "      - { name: b, type: boolean, optional: true }\n"                                         \
    "      - { name: s, type: string, optional: true }\n"                                          \
    "      - { name: ts, type: long }\n"                                                           \
    "feature_views:\n"                                                                             \
    "  - name: v\n"                                                                                \
    "    source: ev\n"                                                                             \
    "    entity: id\n"                                                                             \
    "    windows: [10s, 5m, 1h]\n"                                                                 \
    "    aggregations:\n"                                                                          \
    "      - { fn: count }\n"                                                                      \
    "      - { fn: sum, field: n }\n"                                                              \
    "      - { fn: avg, field: x }\n"                                                              \
    "      - { fn: min, field: n }\n"                                                              \
    "      - { fn: max, field: x }\n"                                                              \
    "      - { fn: stddev, field: x }\n"                                                           \
    "      - { fn: count_distinct, field: s }\n"                                                   \
    "      - { fn: last, field: s }\n"                                                             \
    "      - { fn: last, field: b }\n"                                                             \
    "      - { fn: since_last }\n"

#ifdef FUZZ_WANT_CONFIG
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

static fr_config_t *fuzz_cfg;

static void fuzz_config_free(void)
{
    fr_config_free(fuzz_cfg);
}

/* The parsed FUZZ_YAML (store path unused), made on first call. */
static const fr_config_t *fuzz_config(void)
{
    if (!fuzz_cfg) {
        char yaml[4096], err[512];
        snprintf(yaml, sizeof yaml, FUZZ_YAML, "/nonexistent");
        if (fr_config_parse("fuzz.yaml", yaml, strlen(yaml), &fuzz_cfg, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            abort();
        }
        atexit(fuzz_config_free);
    }
    return fuzz_cfg;
}
#endif

#endif
