#!/bin/sh
# Runs every test suite and ends with one line "N passed, N failed".
#   build/       gcc, optimized: the unit, scenario and functional suites
#   build-asan/  clang with AddressSanitizer + UndefinedBehaviorSanitizer:
#                the same suites again, and the fuzz suite
#                (libFuzzer)
set -u
cd "$(dirname "$0")/.."

./scripts/deps.sh || exit 1

passed=0 failed=0

# Adds the results of the last `meson test` in build dir $1 to the totals.
count() {
    log=$1/meson-logs/testlog.json
    ok=$(grep -c '"result": "OK"' "$log")
    bad=$(grep -c -E '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log")
    passed=$((passed + ok)) failed=$((failed + bad))
}

# run_suites BUILD_DIR CC "SETUP ARGS" SUITE...
run_suites() {
    dir=$1 cc=$2 args=$3
    shift 3
    if [ ! -f "$dir/build.ninja" ]; then
        # shellcheck disable=SC2086
        if ! CC=$cc meson setup "$dir" $args >"$dir.setup.log" 2>&1; then
            cat "$dir.setup.log"
            failed=$((failed + 1))
            return
        fi
    fi
    if ! meson compile -C "$dir" >"$dir.compile.log" 2>&1; then
        cat "$dir.compile.log"
        failed=$((failed + 1))
        return
    fi
    for s in "$@"; do set -- "$@" --suite "$s"; shift; done
    meson test -C "$dir" --print-errorlogs "$@"
    count "$dir"
}

run_suites build gcc "" unit scenario functional
run_suites build-asan clang \
    "-Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true" \
    unit scenario functional fuzz

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
