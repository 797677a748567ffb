/*
 * fuzz_ingest - request bodies through the whole ingest path: body framing
 * (object / array / NDJSON), JSON parsing, typing, records, dead letters,
 * the log append.  Every answer must be one of the documented statuses
 * with a JSON object body.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "fuzz.h"
#include "serve/ingest.h"
#include "source/elog.h"

static fr_config_t *cfg;
static fr_elog_t *elog;
static char dir[64];

static void cleanup(void)
{
    fr_elog_close(elog);
    fr_config_free(cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static void setup(void)
{
    strcpy(dir, "/tmp/freshet-fuzz-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    char yaml[4096], err[512], p[128];
    snprintf(yaml, sizeof yaml, FUZZ_YAML, dir);
    snprintf(p, sizeof p, "%s/log", dir);
    if (fr_config_parse("fuzz.yaml", yaml, strlen(yaml), &cfg, err, sizeof err) ||
        fr_elog_open_flags(p, cfg, FR_ELOG_NOSYNC, &elog, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cfg)
        setup();
    fr_buf_t out;
    fr_buf_init(&out, 1 << 20);
    int status = fr_ingest(cfg, elog, 0, (const char *)data, size, size > 3 ? "k" : NULL,
                           size > 3 ? 1 : 0, &out);
    if (status != 200 && status != 400 && status != 413 && status != 422) {
        fprintf(stderr, "unexpected status %d: %s\n", status, out.p ? out.p : "");
        abort();
    }
    json_error_t je;
    json_t *j = json_loadb(out.p ? out.p : "", out.len, 0, &je);
    if (!json_is_object(j)) {
        fprintf(stderr, "answer is not a JSON object: %s\n", out.p ? out.p : "");
        abort();
    }
    json_decref(j);
    fr_buf_destroy(&out);
    return 0;
}
