#!/bin/sh
# Checks the sources for functions freshet does not use (unbounded or
# ambiguous on error), and that clang-format agrees with the tree when
# available.  Exit 1 on any finding.
cd "$(dirname "$0")/.." || exit 1
status=0
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|atoll|atof|strncpy|strncat|tmpnam|mktemp)[[:space:]]*\('
if grep -nE "$banned" src/*/*.c src/*/*.h src/main.c bench/*.c; then
    echo "lint: banned function (use snprintf, fr_buf_*, strtol/strtod with checks)" >&2
    status=1
fi
if command -v clang-format >/dev/null 2>&1 && [ "${LINT_FORMAT:-0}" = 1 ]; then
    for f in src/*/*.c src/*/*.h src/main.c; do
        if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
            echo "lint: $f is not clang-formatted" >&2
            status=1
        fi
    done
fi
[ $status = 0 ] && echo "lint: ok"
exit $status
