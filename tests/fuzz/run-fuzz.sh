#!/bin/sh
# Replays the kept regression inputs, then fuzzes for a few seconds starting
# from the corpus in the repository. New inputs go to a scratch directory in
# the build tree, never into the repository.
# Usage: run-fuzz.sh HARNESS SECONDS CORPUS_DIR REGRESSIONS_DIR SCRATCH_DIR
set -eu
harness=$1 seconds=$2 corpus=$3 regressions=$4 scratch=$5

mkdir -p "$scratch/new" "$scratch/artifacts"
for f in "$regressions"/*; do
    [ -f "$f" ] || continue
    "$harness" "$f" >/dev/null 2>&1 || { echo "regression input fails: $f"; exit 1; }
done
# libFuzzer's default error exit code, 77, would read as "skipped" to meson.
exec "$harness" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -error_exitcode=1 -timeout_exitcode=1 \
    -artifact_prefix="$scratch/artifacts/" -print_final_stats=1 \
    "$scratch/new" "$corpus"
