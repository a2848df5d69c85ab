#!/usr/bin/env bash
# End-to-end value of the `batching` toggle (docs/BATCHING.md).
#
# servelab-server serves one 1024x1024x1024 mlp (two 1024x1024 layers) pinned
# to one core (one network thread, one compute thread); the generator
# (`servelab run`, closed loop, 100 keep-alive connections, infer with 1 row)
# is pinned to the other. Batching off and on alternate for ROUNDS rounds;
# each run starts a fresh server. Per mode: median served rows/s, p50, p99,
# and the mean batch size from the server's servelab_batch_size histogram.
# Serving efficiency = served rows/s ÷ the pure forward-pass rows/s at the
# same (rounded) mean batch size, measured by bench_batch on the server's core.
#
# usage: bench/batching.sh [DURATION=10s] [ROUNDS=3] [CONNECTIONS=100]
#   env: BUILD (default build/release), SERVER_CORE=0, CLIENT_CORE=1,
#        SERVER_FLAGS (extra servelab-server flags for the "on" runs)
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10s}
rounds=${2:-3}
connections=${3:-100}
build=${BUILD:-build/release}
server_core=${SERVER_CORE:-0}
client_core=${CLIENT_CORE:-1}
server_flags=${SERVER_FLAGS:-}

for f in "$build/bin/servelab" "$build/bin/servelab-server" "$build/bench/bench_batch"; do
  [ -x "$f" ] || { echo "batching.sh: $f missing (cmake --build $build --target servelab servelab-server bench_batch)" >&2; exit 2; }
done
for tool in taskset curl python3; do
  command -v "$tool" >/dev/null || { echo "batching.sh: $tool missing" >&2; exit 2; }
done

tmp=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

"$build/bin/servelab" models make "$tmp/models" --dims 1024,1024,1024 >/dev/null

echo "# batching.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# duration $duration, $connections connections, $rounds rounds, server on core $server_core, client on core $client_core"

start_server() {  # $1 = on|off
  local flags=(--models "$tmp/models" --port 0 --threads 1 --compute-threads 1 --batching "$1")
  # shellcheck disable=SC2206
  [ "$1" = on ] && flags+=($server_flags)
  taskset -c "$server_core" "$build/bin/servelab-server" "${flags[@]}" >"$tmp/server.out" 2>"$tmp/server.err" &
  server_pid=$!
  for _ in $(seq 100); do
    url=$(sed -n 's/^listening //p' "$tmp/server.out")
    [ -n "$url" ] && return 0
    sleep 0.1
  done
  echo "batching.sh: server did not start: $(cat "$tmp/server.err")" >&2
  exit 1
}

stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=
}

run_once() {  # $1 = on|off; appends a line "mode rps p50_us p99_us mean_batch errors" to $tmp/runs
  start_server "$1"
  cat >"$tmp/scenario.toml" <<TOML
name = "batching-$1"
description = "batching.sh: infer on a 1024x1024x1024 mlp, batching $1"
target = "$url"

[load]
mode = "closed"
connections = $connections
threads = 1
duration = "$duration"
warmup = "2s"
timeout = "10s"

[toggles]
pooling = true

[[requests]]
kind = "infer"
model = "mlp-0"
rows = 1
TOML
  local result
  result=$(taskset -c "$client_core" "$build/bin/servelab" run "$tmp/scenario.toml" --quiet --print-path \
             --results "$tmp/results" | tail -1)
  curl -s "$url/metrics" >"$tmp/metrics.txt"
  stop_server
  python3 - "$result" "$tmp/metrics.txt" "$1" >>"$tmp/runs" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1]))["summary"]
metrics = open(sys.argv[2]).read()
def val(name):
    m = re.search(r'^' + re.escape(name) + r' (\S+)$', metrics, re.M)
    return float(m.group(1)) if m else 0.0
batches = val('servelab_batch_size_count{model="mlp-0"}')
rows = val('servelab_batch_size_sum{model="mlp-0"}')
mean = rows / batches if batches else 1.0  # off: every request is its own pass of 1 row
lat = r["latency_us"]
print(sys.argv[3], r["rps"], lat["p50"], lat["p99"], mean, r["errors"])
PY
  tail -1 "$tmp/runs" | awk '{printf "  %-3s rows/s %8.0f  p50 %7.2f ms  p99 %7.2f ms  mean batch %5.1f  errors %d\n", $1, $2, $3/1000, $4/1000, $5, $6}'
}

: >"$tmp/runs"
for round in $(seq "$rounds"); do
  echo "round $round"
  run_once off
  run_once on
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

read -r mean_on <<<"$(awk '$1=="on"{print $5}' "$tmp/runs" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')"
batch_on=$(python3 -c "print(max(1, round($mean_on)))")
SERVELAB_FORWARD_ROWS="1,$batch_on" taskset -c "$server_core" "$build/bench/bench_batch" \
  --benchmark_filter='BM_Forward' --benchmark_format=json --benchmark_min_time=1 >"$tmp/forward.json" 2>/dev/null

python3 - "$tmp/runs" "$tmp/forward.json" "$batch_on" <<'PY'
import json, statistics, sys
runs = [l.split() for l in open(sys.argv[1]) if l.strip()]
forward = {int(b["name"].split("batch:")[1].split("/")[0]): b["items_per_second"]
           for b in json.load(open(sys.argv[2]))["benchmarks"]}
batch_on = int(sys.argv[3])
med = {}
for mode in ("off", "on"):
    rs = [r for r in runs if r[0] == mode]
    med[mode] = {k: statistics.median(float(r[i]) for r in rs)
                 for k, i in (("rps", 1), ("p50", 2), ("p99", 3), ("batch", 4), ("errors", 5))}
print()
print("| batching | served rows/s | p50 | p99 | mean batch | pure forward rows/s at that batch | serving efficiency |")
print("|---|---|---|---|---|---|---|")
for mode, b in (("off", 1), ("on", batch_on)):
    m = med[mode]
    pure = forward[b]
    print(f"| {mode} | {m['rps']:.0f} | {m['p50']/1000:.2f} ms | {m['p99']/1000:.2f} ms | {m['batch']:.1f} "
          f"| {pure:.0f} (batch {b}) | {100*m['rps']/pure:.0f}% |")
print()
print(f"throughput on/off: {med['on']['rps']/med['off']['rps']:.2f}x (medians of {len(runs)//2} alternating rounds)")
PY
