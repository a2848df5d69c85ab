#!/usr/bin/env bash
# Time to first token with and without response streaming, at equal light
# load, against servelab-server serving one `tokens` model of HIDDEN width
# (docs/PERFORMANCE.md, "Generator: TTFT with and without streaming").
# The server is pinned to SERVER_CORE, the generator to CLIENT_CORE.
#
# Three modes run scenarios/examples/generate.toml against it (open loop,
# RATE req/s, max_tokens TOKENS), alternating for ROUNDS rounds, each with a
# freshly started server:
#   stream     "stream": true, server --streaming on  (tokens leave as produced)
#   toggle-off "stream": true, server --streaming off (all events sent at the end)
#   whole      "stream": false                         (one JSON answer; TTFT = latency)
# Per mode: median over rounds of TTFT p50/p99, latency p50, ITL p50, TPOT
# p50 (one token step as the client sees it) and, for the stream mode,
# TTFT p50 ÷ TPOT p50 (the goal: within 2 token steps).
#
# usage: bench/ttft.sh [DURATION=10s] [ROUNDS=3] [RATE=10] [TOKENS=64]
#   env: BUILD (default build/release), HIDDEN (default 1024), SERVER_CORE=0, CLIENT_CORE=1
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10s}
rounds=${2:-3}
rate=${3:-10}
tokens=${4:-64}
build=${BUILD:-build/release}
hidden=${HIDDEN:-1024}
server_core=${SERVER_CORE:-0}
client_core=${CLIENT_CORE:-1}

for f in "$build/bin/servelab" "$build/bin/servelab-server"; do
  [ -x "$f" ] || { echo "ttft.sh: $f missing (cmake --build $build --target servelab servelab-server)" >&2; exit 2; }
done
for tool in python3 taskset; do
  command -v $tool >/dev/null || { echo "ttft.sh: $tool missing" >&2; exit 2; }
done

work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
"$build/bin/servelab" models make "$work/models" --kind tokens --hidden "$hidden" >/dev/null

start_server() {  # on|off → sets server_pid, url
  taskset -c "$server_core" "$build/bin/servelab-server" --models "$work/models" --port 0 --streaming "$1" \
    >"$work/server.out" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 200); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/server.out" | head -1 || true)
    [ -n "$url" ] && return 0
    sleep 0.05
  done
  echo "ttft.sh: server did not start" >&2; cat "$work/server.out" >&2; exit 3
}
stop_server() { kill "$server_pid"; wait "$server_pid" || true; server_pid=; }

run_mode() {  # mode round
  local mode=$1 round=$2 stream=true toggle=true
  case $mode in
    toggle-off) toggle=false ;;
    whole) stream=false ;;
  esac
  start_server "$([ $toggle = true ] && echo on || echo off)"
  taskset -c "$client_core" "$build/bin/servelab" run scenarios/examples/generate.toml --quiet \
    --results "$work/results" --out "$work/$mode-$round" --set target="$url" \
    --set load.duration="$duration" --set load.rate="$rate" --set load.warmup=1s \
    --set requests.0.max_tokens="$tokens" --set requests.0.stream="$stream" \
    --set toggles.streaming=false --set 'thresholds=[]' >/dev/null
  stop_server
}

for round in $(seq 1 "$rounds"); do
  for mode in stream toggle-off whole; do
    run_mode "$mode" "$round"
  done
done

python3 - "$work" "$rounds" "$rate" "$tokens" "$duration" "$hidden" <<'PY'
import json, statistics, sys
work, rounds, rate, tokens, duration = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def load(mode, r):
    with open(f"{work}/{mode}-{r}/result.json") as f:
        return json.load(f)
rows = {}
for mode in ("stream", "toggle-off", "whole"):
    res = [load(mode, r) for r in range(1, rounds + 1)]
    g = [x["summary"]["generate"] for x in res]
    med = lambda vals: statistics.median(vals) / 1000.0
    rows[mode] = dict(
        ttft50=med([x["ttft_us"]["p50"] for x in g]), ttft99=med([x["ttft_us"]["p99"] for x in g]),
        lat50=med([x["summary"]["latency_us"]["p50"] for x in res]),
        itl50=med([x["itl_us"]["p50"] for x in g]) if all(x["itl_us"]["count"] for x in g) else None,
        tpot50=med([x["tpot_us"]["p50"] for x in g]) if all(x["tpot_us"]["count"] for x in g) else None,
        tps=statistics.median([x["tokens_per_second"] for x in g]),
        errors=sum(x["summary"]["errors"] for x in res), answers=sum(x["requests"] for x in g))
print(f"open loop {rate} req/s, max_tokens {tokens}, tokens model hidden {sys.argv[6]}, {duration} x {rounds} rounds per mode (medians)")
print(f"{'mode':<11} {'TTFT p50 ms':>12} {'TTFT p99 ms':>12} {'latency p50':>12} {'ITL p50 ms':>11} {'TPOT p50 ms':>12} {'tokens/s':>9} {'answers':>8} {'errors':>7}")
for mode, r in rows.items():
    itl = f"{r['itl50']:.3f}" if r["itl50"] is not None else "-"
    tpot = f"{r['tpot50']:.3f}" if r["tpot50"] is not None else "-"
    print(f"{mode:<11} {r['ttft50']:>12.3f} {r['ttft99']:>12.3f} {r['lat50']:>12.3f} {itl:>11} {tpot:>12} {r['tps']:>9.1f} {r['answers']:>8} {r['errors']:>7}")
s = rows["stream"]
if s["tpot50"]:
    print(f"stream TTFT p50 / one token step (TPOT p50, as the client sees it): {s['ttft50'] / s['tpot50']:.1f}  (goal: <= 2)")
print(f"TTFT p50 whole / stream: {rows['whole']['ttft50'] / s['ttft50']:.1f}x")
PY
