/*
 * replay_main.c - runs a fuzz driver without libFuzzer: every file of the
 * corpus directories given, then ITER seeded mutations (bit flips,
 * truncations, splices) of them.  Used by `make test` under ASan+UBSan.
 *   fuzz_X [-n ITER] DIR...
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define MAX_INPUTS 4096
#define MAX_LEN (1 << 20)

static uint64_t s = 0x243f6a8885a308d3ULL;
static uint64_t rnd(void)
{
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

int main(int argc, char **argv)
{
    long iters = 2000;
    int first = 1;
    if (argc > 2 && strcmp(argv[1], "-n") == 0) {
        iters = strtol(argv[2], NULL, 10);
        first = 3;
    }
    static uint8_t *inputs[MAX_INPUTS];
    static size_t lens[MAX_INPUTS];
    size_t n = 0;
    for (int a = first; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) {
            perror(argv[a]);
            return 1;
        }
        struct dirent *de;
        while ((de = readdir(d)) && n < MAX_INPUTS) {
            if (de->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], de->d_name);
            FILE *f = fopen(path, "rb");
            if (!f)
                continue;
            uint8_t *buf = malloc(MAX_LEN);
            size_t len = buf ? fread(buf, 1, MAX_LEN, f) : 0;
            fclose(f);
            if (!buf)
                return 1;
            inputs[n] = buf;
            lens[n++] = len;
            LLVMFuzzerTestOneInput(buf, len);
        }
        closedir(d);
    }
    if (!n) {
        fprintf(stderr, "no corpus\n");
        return 1;
    }
    uint8_t *m = malloc(MAX_LEN);
    for (long i = 0; i < iters; i++) {
        size_t k = rnd() % n, len = lens[k];
        memcpy(m, inputs[k], len);
        int ops = 1 + (int)(rnd() % 4);
        for (int o = 0; o < ops && len; o++) {
            switch (rnd() % 4) {
            case 0: m[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8)); break;
            case 1: len = rnd() % (len + 1); break;
            case 2: m[rnd() % len] = (uint8_t)rnd(); break;
            default: {
                size_t j = rnd() % n, at = rnd() % len, take = lens[j] ? rnd() % lens[j] : 0;
                if (at + take > MAX_LEN)
                    take = MAX_LEN - at;
                memcpy(m + at, inputs[j], take);
                len = at + take;
            }
            }
        }
        /* an exact-size copy, so ASan sees reads past the end */
        uint8_t *exact = malloc(len ? len : 1);
        memcpy(exact, m, len);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
    }
    printf("%zu corpus inputs and %ld mutations: no crash\n", n, iters);
    free(m);
    for (size_t i = 0; i < n; i++)
        free(inputs[i]);
    return 0;
}
