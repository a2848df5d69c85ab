#!/usr/bin/env bash
# How often the gate fails a change that did nothing (A/A), and how often it
# catches a real 15% throughput regression (A/B), on this machine
# (docs/CI.md "How often the gate is wrong").
#
# Two servelab-server processes on SERVER_CORE, one 256x256x256 mlp each:
#   A: the reference configuration (--threads 1 --compute-threads 1);
#   B: the same with a regression built in: every 100 ms the next infer
#      request stalls its compute thread for 15 ms (--stall-every 100ms
#      --stall-for 15ms), about 15% of the server's time.
# Each trial runs scenarios/baseline.toml (100 closed-loop connections,
# 1 s warm-up, RUN_SECONDS measured) against them from CLIENT_CORE, in the
# order b1 a1 c1 b2 a2 c2 b3 a3 c3: b = baseline runs and a = candidate runs,
# both against A; c = candidate runs against B. Interleaved, so that a drift
# of the machine hits all three sets alike. Then, with
# --max-regression rps=5%,p99=10%:
#   A/A: gate a1 a2 a3 --baseline b1 b2 b3   (a fail is a false fail)
#   A/B: gate c1 c2 c3 --baseline b1 b2 b3   (a fail is a caught regression)
#   and, for comparison, the one-run gate: gate a1 --baseline b1.
# Prints each run's req/s and p99 and each trial's verdicts, then the rates,
# the median req/s of A and B (the regression's real size) and the time taken.
#
# usage: bench/gate_trials.sh [TRIALS=20] [RUN_SECONDS=10]
set -euo pipefail
cd "$(dirname "$0")/.."

trials=${1:-20}
seconds=${2:-10}
bin=${SERVELAB_BIN:-build/release/bin}
server_core=${SERVER_CORE:-0}
client_core=${CLIENT_CORE:-1}
limits="rps=5%,p99=10%"
for tool in taskset jq python3; do
  command -v "$tool" >/dev/null || { echo "gate_trials.sh: $tool missing (run scripts/setup --peers)" >&2; exit 2; }
done
[ -x "$bin/servelab" ] || { echo "gate_trials.sh: build first: cmake --build --preset release" >&2; exit 2; }

tmp=$(mktemp -d /tmp/gate-trials.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

"$bin/servelab" models make "$tmp/models" --dims 256,256,256 >/dev/null

start_server() {  # $1 = name; the rest: extra flags. Sets url_$1.
  local name=$1
  shift
  taskset -c "$server_core" "$bin/servelab-server" --models "$tmp/models" --port 0 --threads 1 \
    --compute-threads 1 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!)
  for _ in $(seq 100); do
    local url
    url=$(sed -n 's/^listening //p' "$tmp/$name.out")
    if [ -n "$url" ]; then
      printf -v "url_$name" '%s' "$url"
      return 0
    fi
    sleep 0.1
  done
  echo "gate_trials.sh: server $name did not start: $(cat "$tmp/$name.err")" >&2
  exit 1
}
start_server A
start_server B --stall-every 100ms --stall-for 15ms

echo "# gate_trials.sh $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $("$bin/servelab" --version)"
echo "# $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $trials trials of 9 runs: baseline.toml, ${seconds}s measured + 1s warm-up, 100 connections; servers on core $server_core, client on core $client_core; --max-regression $limits"

run() {  # $1 = url, $2 = out dir
  taskset -c "$client_core" "$bin/servelab" run scenarios/baseline.toml --set "target=$1" \
    --set "load.duration=${seconds}s" --quiet --out "$2" >/dev/null 2>"$2.err" || true
  [ -f "$2/result.json" ] || { echo "gate_trials.sh: run $2 wrote no result: $(cat "$2.err")" >&2; exit 1; }
  printf '%s\t%s\t%s\n' "$(basename "$2")" "$(jq -r '.summary.rps' "$2/result.json")" \
    "$(jq -r '.summary.latency_us.p99' "$2/result.json")" >>"$tmp/runs.tsv"
}

gate() {  # $1 = limits, then the gate's files; prints 0 (pass) or 1 (fail); other exits are errors
  local rc=0 l=$1
  shift
  "$bin/servelab" gate "$@" --max-regression "$l" --no-scenario-thresholds >>"$tmp/gate.log" 2>&1 || rc=$?
  [ "$rc" -le 1 ] || { echo "gate_trials.sh: gate exited $rc: $(tail -3 "$tmp/gate.log")" >&2; exit 1; }
  echo "$rc"
}

start=$(date +%s)
aa_fail=0 ab_fail=0 ab_rps_fail=0 single_fail=0
printf 'trial\tA/A\tA/B\tA/B by rps alone\tone-run A/A\n'
for t in $(seq "$trials"); do
  d="$tmp/t$t"
  mkdir -p "$d"
  for i in 1 2 3; do
    run "$url_A" "$d/b$i"
    run "$url_A" "$d/a$i"
    run "$url_B" "$d/c$i"
  done
  aa=$(gate "$limits" "$d"/a{1,2,3}/result.json --baseline "$d"/b{1,2,3}/result.json)
  ab=$(gate "$limits" "$d"/c{1,2,3}/result.json --baseline "$d"/b{1,2,3}/result.json)
  ab_rps=$(gate rps=5% "$d"/c{1,2,3}/result.json --baseline "$d"/b{1,2,3}/result.json)
  one=$(gate "$limits" "$d/a1/result.json" --baseline "$d/b1/result.json")
  aa_fail=$((aa_fail + aa)) ab_fail=$((ab_fail + ab)) ab_rps_fail=$((ab_rps_fail + ab_rps))
  single_fail=$((single_fail + one))
  printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$([ "$aa" = 1 ] && echo FAIL || echo pass)" \
    "$([ "$ab" = 1 ] && echo caught || echo missed)" "$([ "$ab_rps" = 1 ] && echo caught || echo missed)" \
    "$([ "$one" = 1 ] && echo FAIL || echo pass)"
done
elapsed=$(($(date +%s) - start))

echo
echo "# runs (name, req/s, p99 µs):"
sed 's/^/#   /' "$tmp/runs.tsv"
python3 - "$tmp/runs.tsv" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
a = [float(r[1]) for r in rows if r[0][0] in "ab"]
b = [float(r[1]) for r in rows if r[0][0] == "c"]
ma, mb = statistics.median(a), statistics.median(b)
print(f"# median req/s: A {ma:.1f} ({len(a)} runs, {min(a):.0f} to {max(a):.0f}), "
      f"B {mb:.1f} ({len(b)} runs, {min(b):.0f} to {max(b):.0f}): B is {100 * (1 - mb / ma):.1f}% slower")
PY
echo "A/A false fails (3 vs 3): $aa_fail of $trials"
echo "A/B regressions caught (3 vs 3): $ab_fail of $trials ($ab_rps_fail of $trials by the rps=5% check alone)"
echo "one-run A/A false fails (1 vs 1): $single_fail of $trials"
echo "took ${elapsed}s ($(cut -d' ' -f1-3 /proc/loadavg) load average after)"
