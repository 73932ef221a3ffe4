#!/bin/sh
# Runs every test suite and ends with one line "N passed, N failed" that
# counts test cases: each case a cmocka program (any TAP test) reports, and
# each test without cases of its own (a fuzz run, a demonstration, the
# requirements check) as one.
#   build/       gcc, optimized: the unit, scenario and functional suites,
#                and the vm suite (QEMU guests with real VFIO, and the
#                daemon under a real QEMU 10.2)
#   build-asan/  clang with AddressSanitizer + UndefinedBehaviorSanitizer:
#                the same suites again, and the fuzz suite
#                (libFuzzer)
# The vm suite needs QEMU 10.2 and a kernel with iommufd, which no Debian
# package has: the first run on a machine builds both into the cache
# (scripts/build-qemu.sh, scripts/build-iommufd-kernel.sh: about 15 and 20
# minutes on 2 cores), later runs find them there.
#   --quick      for daily work: no vm suite and no fuzz suite (it says so),
#                nothing built into the cache. CI never uses it.
set -u
cd "$(dirname "$0")/.."

quick=false
case ${1:-} in
--quick) quick=true ;;
"") ;;
*)
    echo "usage: scripts/test.sh [--quick]" >&2
    exit 2
    ;;
esac

./scripts/deps.sh || exit 1

passed=0 failed=0

# Adds the cases of the last `meson test` in build dir $1 to the totals.
# A test whose output starts with a TAP plan ("1..N", as cmocka's does)
# counts its cases: one passes when reported "ok" without a SKIP directive;
# a test that meson reports skipped (the iommufd kernel not built) counts
# nothing;
# one the plan announced but that was never reported (the program crashed)
# fails; and a test that failed although every case it reported passed (a
# sanitizer report at exit, a timeout) adds one failure. Any other test
# counts as one case, passed when meson says OK. No log: one failure.
count() {
    totals=$(python3 - "$1/meson-logs/testlog.json" <<'EOF'
import json, re, sys

passed = failed = 0
with open(sys.argv[1], encoding="utf-8") as log:
    for line in log:
        test = json.loads(line)
        if test["result"] == "SKIP":  # not a case; says why
            why = (test.get("stdout") or "").strip().splitlines()
            print("skipped: %s: %s" % (test["name"], why[0] if why else ""),
                  file=sys.stderr)
            continue
        out = test.get("stdout") or ""
        plan = re.match(r"1\.\.(\d+)\n", out)
        good = test["result"] == "OK"
        if not plan:
            passed, failed = passed + good, failed + (not good)
            continue
        ok = re.findall(r"^ok\b(.*)$", out, re.M)
        bad = len(re.findall(r"^not ok\b", out, re.M))
        skipped = sum(1 for rest in ok if re.match(r"[^#]*#\s*skip", rest, re.I))
        missing = int(plan.group(1)) - len(ok) - bad
        bad += skipped + max(0, missing)
        if not good and bad == 0:
            bad = 1
        passed, failed = passed + len(ok) - skipped, failed + bad
print(passed, failed)
EOF
    ) || totals="0 1"
    # shellcheck disable=SC2086
    set -- $totals
    passed=$((passed + $1)) failed=$((failed + $2))
}

# configure BUILD_DIR CC "OPTIONS": sets up a build dir, or gives one made
# earlier the options again so that it cannot keep older ones.
configure() {
    # shellcheck disable=SC2086
    if [ -f "$1/build.ninja" ]; then
        meson configure "$1" $3
    else
        CC=$2 meson setup "$1" $3
    fi
}

# run_suites BUILD_DIR CC "SETUP ARGS" SUITE...
# Warnings are errors in every build the suites run in.
run_suites() {
    dir=$1 cc=$2 args="-Dwerror=true $3"
    shift 3
    if ! configure "$dir" "$cc" "$args" >"$dir.setup.log" 2>&1; then
        cat "$dir.setup.log"
        failed=$((failed + 1))
        return
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

if $quick; then
    echo "test: --quick: the vm and fuzz suites are not run"
    run_suites build gcc "" unit scenario functional
    run_suites build-asan clang \
        "-Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true" \
        unit scenario functional
else
    # Built once per machine into the cache; a failed build is a failure.
    for script in build-qemu.sh build-iommufd-kernel.sh; do
        ./scripts/$script || failed=$((failed + 1))
    done
    run_suites build gcc "" unit scenario functional vm
    run_suites build-asan clang \
        "-Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true" \
        unit scenario functional fuzz
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
