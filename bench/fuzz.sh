#!/usr/bin/env bash
# Runs every libFuzzer target (fuzz/, docs/RELIABILITY.md "Fuzzing") for
# FUZZ_SECONDS each, FUZZ_JOBS at a time, starting from the seed corpus in
# fuzz/corpus/<target>/ (never modified: each run grows a copy under
# $BUILD/fuzz-work/<target>/). Prints, per target, the executions, exec/s,
# the corpus size (seed files -> files at the end), peak RSS and the result;
# a crash, sanitizer report, timeout (FUZZ_TIMEOUT s for one input) or
# out-of-memory leaves the input in $BUILD/fuzz-work/<target>/findings/ and
# makes the script exit 1. scripts/test runs it briefly (FUZZ_SECONDS=25).
#
# usage: bench/fuzz.sh [TARGET...]          (default: every target)
#   env: FUZZ_SECONDS (default 300)  seconds per target
#        FUZZ_JOBS    (default 2)    targets run at once (each uses one core)
#        FUZZ_TIMEOUT (default 10)   seconds one input may take
#        BUILD        (default build/asan: cmake --preset asan && cmake --build --preset asan --target fuzzers)
# Reproduce a finding: $BUILD/fuzz/<target> <file>  (runs that one input)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-300}
jobs=${FUZZ_JOBS:-2}
timeout=${FUZZ_TIMEOUT:-10}
build=${BUILD:-build/asan}
all=(scenario_parser_fuzz threshold_fuzz result_json_fuzz histogram_decode_fuzz safetensors_fuzz
     model_config_fuzz sse_parser_fuzz v2_infer_fuzz http_request_fuzz)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

for t in "${targets[@]}"; do
  [ -x "$build/fuzz/$t" ] || {
    echo "fuzz.sh: $build/fuzz/$t missing (cmake --preset asan && cmake --build --preset asan --target fuzzers)" >&2
    exit 2
  }
done

work=$build/fuzz-work
# Halt on the first report of either sanitizer, with a stack trace.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
  local t=$1 dir=$work/$1
  rm -rf "$dir"
  mkdir -p "$dir/corpus" "$dir/findings"
  cp fuzz/corpus/"$t"/* "$dir/corpus/"
  local seeds
  seeds=$(find "$dir/corpus" -type f | wc -l)
  local rc=0
  # -max_len: the largest seed or 4 KiB, whichever is more (libFuzzer's rule).
  "$build/fuzz/$t" "$dir/corpus" -max_total_time="$seconds" -timeout="$timeout" \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/findings/" \
    >"$dir/log" 2>&1 || rc=$?
  local execs rate rss corpus result
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$dir/log" | tail -1)
  corpus=$(find "$dir/corpus" -type f | wc -l)
  if [ "$rc" -eq 0 ] && [ -z "$(ls -A "$dir/findings")" ]; then
    result=ok
  else
    result="FOUND (exit $rc): $(ls "$dir/findings" | tr '\n' ' ')"
  fi
  printf '%-22s %12s %8s %6s -> %-6s %6s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$seeds" "$corpus" \
    "${rss:-?}" "$result" >"$dir/summary"
  [ "$result" = ok ]
}

echo "fuzz.sh: ${#targets[@]} targets, ${seconds} s each, ${jobs} at a time, build $build"
start=$(date +%s)
running=0
failed=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
  run_one "$t" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done

printf '%-22s %12s %8s %16s %6s  %s\n' target executions exec/s "corpus seed->end" "RSS MB" result
for t in "${targets[@]}"; do cat "$work/$t/summary"; done
echo "fuzz.sh: $(( $(date +%s) - start )) s"
if [ "$failed" -ne 0 ]; then
  echo "fuzz.sh: findings above; logs in $work/<target>/log, inputs in $work/<target>/findings/" >&2
  for t in "${targets[@]}"; do
    if ! grep -q ' ok$' "$work/$t/summary"; then
      echo "---- $t: $work/$t/log (last 40 lines)" >&2
      tail -40 "$work/$t/log" >&2
    fi
  done
  exit 1
fi
