#!/usr/bin/env bash
# Time to first token with and without response streaming, at equal light
# load, against the embedded servelab-server and its `tokens` model
# (docs/PERFORMANCE.md, "Response streaming: TTFT").
#
# Three modes run scenarios/examples/generate.toml (open loop, RATE req/s,
# max_tokens TOKENS), alternating for ROUNDS rounds, each with a fresh
# embedded server:
#   stream     "stream": true, server --streaming on  (tokens leave as produced)
#   toggle-off "stream": true, server --streaming off (all events sent at the end)
#   whole      "stream": false                         (one JSON answer; TTFT = latency)
# Per mode: median over rounds of TTFT p50/p99, latency p50, ITL p50 (one
# token step as the client sees it) and TTFT p50 ÷ ITL p50 of the stream mode.
#
# usage: bench/ttft.sh [DURATION=10s] [ROUNDS=3] [RATE=10] [TOKENS=64]
#   env: BUILD (default build/release)
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10s}
rounds=${2:-3}
rate=${3:-10}
tokens=${4:-64}
build=${BUILD:-build/release}

for f in "$build/bin/servelab" "$build/bin/servelab-server"; do
  [ -x "$f" ] || { echo "ttft.sh: $f missing (cmake --build $build --target servelab servelab-server)" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "ttft.sh: python3 missing" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run_mode() {  # mode round
  local mode=$1 round=$2 stream=true toggle=true
  case $mode in
    toggle-off) toggle=false ;;
    whole) stream=false ;;
  esac
  "$build/bin/servelab" run scenarios/examples/generate.toml --quiet --results "$work/results" \
    --out "$work/$mode-$round" --set load.duration="$duration" --set load.rate="$rate" \
    --set load.warmup=1s --set requests.0.max_tokens="$tokens" --set requests.0.stream="$stream" \
    --set toggles.streaming="$toggle" --set 'thresholds=[]' >/dev/null
}

for round in $(seq 1 "$rounds"); do
  for mode in stream toggle-off whole; do
    run_mode "$mode" "$round"
  done
done

python3 - "$work" "$rounds" "$rate" "$tokens" "$duration" <<'PY'
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
        tps=statistics.median([x["tokens_per_second"] for x in g]),
        errors=sum(x["summary"]["errors"] for x in res), answers=sum(x["requests"] for x in g))
print(f"open loop {rate} req/s, max_tokens {tokens}, {duration} x {rounds} rounds per mode (medians)")
print(f"{'mode':<11} {'TTFT p50 ms':>12} {'TTFT p99 ms':>12} {'latency p50':>12} {'ITL p50 ms':>11} {'tokens/s':>9} {'answers':>8} {'errors':>7}")
for mode, r in rows.items():
    itl = f"{r['itl50']:.3f}" if r["itl50"] is not None else "-"
    print(f"{mode:<11} {r['ttft50']:>12.3f} {r['ttft99']:>12.3f} {r['lat50']:>12.3f} {itl:>11} {r['tps']:>9.1f} {r['answers']:>8} {r['errors']:>7}")
s = rows["stream"]
if s["itl50"]:
    print(f"stream TTFT p50 / one token step (ITL p50): {s['ttft50'] / s['itl50']:.2f}  (goal: <= 2)")
print(f"TTFT p50 whole / stream: {rows['whole']['ttft50'] / s['ttft50']:.1f}x")
PY
