#!/bin/sh
# Runs every test: the Criterion unit tests, then the integration tests
# (Python, standard library only, against the real binary and real peers).
# Usage: tests/run.sh BUILD_DIR [FILTER]   (FILTER: a substring of test names)
# Prints one closing line "N passed, N failed"; exits non-zero on any failure.
set -u
BUILD=${1:-build/san}
FILTER=${2:-}
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export FRESHET_BIN="$ROOT/$BUILD/freshet"
export ASAN_OPTIONS="abort_on_error=0:detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
PY=/usr/bin/python3
passed=0
failed=0
failures=""

for t in $(find "$BUILD/tests/unit" -type f -name '*_test' 2>/dev/null | sort); do
    case "$t" in *"$FILTER"*) ;; *) continue ;; esac
    out=$("$t" --jobs 2 2>&1)
    rc=$?
    line=$(printf '%s\n' "$out" | grep 'Synthesis:' | tail -1)
    p=$(printf '%s' "$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
    f=$(printf '%s' "$line" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
    c=$(printf '%s' "$line" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p')
    p=${p:-0}; f=${f:-0}; c=${c:-0}
    if [ "$rc" -ne 0 ] && [ $((f + c)) -eq 0 ]; then f=1; fi
    passed=$((passed + p))
    failed=$((failed + f + c))
    if [ $((f + c)) -gt 0 ]; then
        printf '%s\n' "$out" | tail -40
        failures="$failures $(basename "$t")"
    fi
    printf 'unit %-40s %s passed, %s failed\n' "$(basename "$t")" "$p" "$((f + c))"
done

# fuzz drivers: the committed corpus plus seeded mutations, under the sanitizers
for t in $(find "$BUILD/fuzz" -type f -name 'fuzz_*' ! -name '*.d' 2>/dev/null | sort); do
    case "$t" in *"$FILTER"*) ;; *) continue ;; esac
    n=$(basename "$t")
    if out=$("$t" -n "${FUZZ_ITERS:-3000}" "tests/fuzz/corpus/${n#fuzz_}" 2>&1); then
        passed=$((passed + 1)); r="1 passed, 0 failed"
    else
        failed=$((failed + 1)); r="0 passed, 1 failed"
        printf '%s\n' "$out" | tail -40
        failures="$failures $n"
    fi
    printf 'fuzz %-40s %s\n' "$n" "$r"
done

for t in $(ls tests/integration/test_*.py 2>/dev/null | sort); do
    case "$t" in *"$FILTER"*) ;; *) continue ;; esac
    log="$BUILD/$(basename "$t" .py).log"
    "$PY" "$t" >"$log" 2>&1
    rc=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    p=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
    f=$(printf '%s' "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
    p=${p:-0}; f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$f" -gt 0 ]; then
        tail -60 "$log"
        failures="$failures $(basename "$t")"
    fi
    printf 'integration %-33s %s passed, %s failed\n' "$(basename "$t")" "$p" "$f"
done

[ -n "$failures" ] && echo "failing:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
