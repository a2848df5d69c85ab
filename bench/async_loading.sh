#!/usr/bin/env bash
# End-to-end value of the `async_loading` toggle (docs/PERFORMANCE.md
# "Async model loading").
#
# scenarios/examples/many_models.toml: 12 mlp models (256x1024x1024x256, 6.3 MB
# of weights each), a memory budget for 4, Zipf traffic (exponent 1) from 32
# closed-loop keep-alive connections, one server network thread. The
# repository made here marks the hot set (mlp-0..3) preload = "eager" with
# priorities and the other eight "lazy". async_loading off and on alternate
# for ROUNDS rounds, each against a freshly started embedded server (which
# `servelab run` starts and waits for /v2/health/ready). Per run: req/s, p50,
# p99, p99.9, errors, cold loads (servelab_model_loads_total during the
# measured phase), evictions, requests that waited for a load, and the
# preload hit rate (servelab_model_preload_hits_total / _preloads_total,
# whole server lifetime: the eager set plus prediction).
# Then the time from spawning servelab-server (async on) to
# /v2/health/ready = 200, i.e. the eager hot set loaded, over 3 starts.
#
# usage: bench/async_loading.sh [DURATION=10s] [ROUNDS=2]
#   env: BUILD (default build/release)
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10s}
rounds=${2:-2}
build=${BUILD:-build/release}
scenario=scenarios/examples/many_models.toml

for f in "$build/bin/servelab" "$build/bin/servelab-server"; do
  [ -x "$f" ] || { echo "async_loading.sh: $f missing (cmake --build $build --target servelab servelab-server)" >&2; exit 2; }
done
for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "async_loading.sh: $tool missing" >&2; exit 2; }
done

tmp=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

models=$tmp/models
"$build/bin/servelab" models make "$models" --count 12 --dims 256,1024,1024,256 >/dev/null
for i in $(seq 0 11); do
  if [ "$i" -lt 4 ]; then
    printf 'preload = "eager"\npriority = %d\n' $((4 - i)) >>"$models/mlp-$i/model.toml"
  else
    printf 'preload = "lazy"\n' >>"$models/mlp-$i/model.toml"
  fi
done
weights=$(stat -c %s "$models/mlp-0/model.safetensors")

echo "# async_loading.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $scenario, duration $duration, $rounds rounds; 12 models of $weights bytes, budget 27MiB (4 fit)"

for round in $(seq "$rounds"); do
  for mode in off on; do
    toggle=false
    [ "$mode" = on ] && toggle=true
    out=$tmp/run-$mode-$round
    "$build/bin/servelab" run "$scenario" --quiet --out "$out" --results "$tmp/results" \
      --set "toggles.async_loading=$toggle" --set "server.model_repository=$models" \
      --set "load.duration=$duration" >/dev/null || true
    [ -f "$out/result.json" ] || { echo "async_loading.sh: run $mode $round wrote no result" >&2; exit 1; }
    python3 - "$out/result.json" "$mode" "$round" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, d = r["summary"], r["server"]["metrics_delta"]
lat = s["latency_us"]
g = lambda k: d.get(k, 0.0)
print(f"{sys.argv[2]:>3} round {sys.argv[3]}: {s['rps']:8.1f} req/s  p50 {lat['p50']/1000:8.2f} ms  "
      f"p99 {lat['p99']/1000:8.2f} ms  p99.9 {lat['p99_9']/1000:8.2f} ms  max {lat['max']/1000:8.2f} ms  "
      f"errors {s['errors']}  cold loads {g('servelab_model_loads_total'):.0f}  "
      f"evictions {g('servelab_model_evictions_total'):.0f}  waited {g('servelab_model_waited_requests_total'):.0f}  "
      f"cache misses {g('servelab_model_cache_misses_total'):.0f}/{g('servelab_model_cache_misses_total')+g('servelab_model_cache_hits_total'):.0f}  "
      f"preloads {g('servelab_model_preloads_total'):.0f} (hits {g('servelab_model_preload_hits_total'):.0f})  "
      f"load time mean {1000*g('servelab_model_load_duration_seconds_sum')/max(1,g('servelab_model_load_duration_seconds_count')):.0f} ms")
PY
  done
done

echo "# start to ready (async on, eager hot set mlp-0..3 by priority), 3 starts:"
for i in 1 2 3; do
  start=$(date +%s%N)
  "$build/bin/servelab-server" --models "$models" --port 0 --threads 1 --async-loading on \
    --model-memory-budget 27MiB >"$tmp/server.out" 2>"$tmp/server.err" &
  server_pid=$!
  url=
  for _ in $(seq 1000); do
    url=$(sed -n 's/^listening //p' "$tmp/server.out")
    [ -n "$url" ] && break
    sleep 0.005
  done
  listening=$(date +%s%N)
  for _ in $(seq 2000); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/v2/health/ready")" = 200 ] && break
    sleep 0.005
  done
  ready=$(date +%s%N)
  loads=$(curl -s "$url/metrics" | sed -n 's/^servelab_model_loads_total //p')
  echo "start $i: listening after $(( (listening - start) / 1000000 )) ms, ready after $(( (ready - start) / 1000000 )) ms ($loads models loaded)"
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
  server_pid=
done
