/* fuzz_config - configuration text: load or a one-line error, never a crash or leak. */
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fr_config_t *cfg = NULL;
    char err[512];
    int rc = fr_config_parse("fuzz.yaml", (const char *)data, size, &cfg, err, sizeof err);
    if (rc == 0)
        fr_config_free(cfg);
    else if (cfg || !memchr(err, '\0', sizeof err) || strchr(err, '\n'))
        abort();
    return 0;
}
