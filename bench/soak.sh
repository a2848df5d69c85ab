#!/usr/bin/env bash
# Soak: scenarios/sustained.toml (open loop, Poisson 4,000 req/s, up to 300
# connections, 2 mlp models) for SOAK_MINUTES (default 30, three times the
# scenario's own 10 minutes) against a servelab-server started here with the
# scenario's [server] settings, recording the resident memory (VmRSS from
# /proc/PID/status) of the generator and of the server every SAMPLE_SECONDS
# (default 60) into a CSV, then printing first, last and max RSS of each and
# the growth per hour (last - second sample, over the time between them: the
# first is taken at start-up, before the connections open). Flat is the goal
# (docs/PERFORMANCE.md, "Soak").
#
# usage: bench/soak.sh
#   env: SOAK_MINUTES=30, SAMPLE_SECONDS=60, BUILD (default build/release),
#        OUT (default soak-<UTC time>/: rss.csv, the run's result folder, server.log)
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${SOAK_MINUTES:-30}
sample=${SAMPLE_SECONDS:-60}
build=${BUILD:-build/release}
out=${OUT:-soak-$(date -u +%Y%m%dT%H%M%SZ)}

case $minutes in '' | *[!0-9]*) echo "soak.sh: SOAK_MINUTES must be whole minutes, got '$minutes'" >&2; exit 2 ;; esac
case $sample in '' | *[!0-9]* | 0) echo "soak.sh: SAMPLE_SECONDS must be a positive integer, got '$sample'" >&2; exit 2 ;; esac
[ "$minutes" -ge 1 ] || { echo "soak.sh: SOAK_MINUTES must be at least 1" >&2; exit 2; }
for f in "$build/bin/servelab" "$build/bin/servelab-server"; do
  [ -x "$f" ] || { echo "soak.sh: $f missing (cmake --build $build --target servelab servelab-server)" >&2; exit 2; }
done

mkdir -p "$out"
work=$(mktemp -d)
server_pid=
gen_pid=
cleanup() {
  [ -n "$gen_pid" ] && kill "$gen_pid" 2>/dev/null && wait "$gen_pid" 2>/dev/null
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The scenario's [server]: 2 models of dims 256,256,256, seed 42, 1 thread;
# its server-side toggles are all off.
"$build/bin/servelab" models make "$work/models" --count 2 --dims 256,256,256 --seed 42 >/dev/null
"$build/bin/servelab-server" --models "$work/models" --port 0 --threads 1 \
  --batching off --streaming off --async-loading off >"$out/server.log" 2>&1 &
server_pid=$!
url=
for _ in $(seq 1 200); do
  url=$(grep -o 'http://127.0.0.1:[0-9]*' "$out/server.log" | head -1 || true)
  [ -n "$url" ] && break
  sleep 0.05
done
[ -n "$url" ] || { echo "soak.sh: server did not start" >&2; cat "$out/server.log" >&2; exit 3; }

"$build/bin/servelab" run scenarios/sustained.toml --quiet --results "$work/results" \
  --out "$out/run" --set target="$url" --set load.duration="${minutes}m" >"$out/run.out" 2>&1 &
gen_pid=$!

rss_kb() {  # pid → VmRSS in KiB (empty once the process is gone)
  awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || true
}

csv="$out/rss.csv"
echo "elapsed_s,generator_rss_kb,server_rss_kb" >"$csv"
start=$(date +%s)
while :; do
  now=$(date +%s)
  g=$(rss_kb "$gen_pid")
  [ -n "$g" ] || break
  s=$(rss_kb "$server_pid")
  echo "$((now - start)),$g,${s:-0}" >>"$csv"
  # Sleep in 1 s steps so that the end of the run is noticed quickly.
  for _ in $(seq 1 "$sample"); do
    kill -0 "$gen_pid" 2>/dev/null || break 2
    sleep 1
  done
done
rc=0
wait "$gen_pid" || rc=$?
gen_pid=

echo "soak: $minutes min of sustained against $url; RSS every ${sample}s in $csv"
awk -F, 'NR > 1 {
    n++; t[n] = $1; g[n] = $2; s[n] = $3
    if ($2 + 0 > gmax) gmax = $2 + 0
    if ($3 + 0 > smax) smax = $3 + 0
  }
  END {
    if (n == 0) { print "soak: no samples"; exit 1 }
    # Growth from the second sample (one interval in: connections open,
    # warm-up done) to the last; the first is taken at start-up.
    b = n >= 3 ? 2 : 1
    hours = (t[n] - t[b]) / 3600
    printf "%-10s %12s %12s %12s %16s\n", "process", "first MiB", "last MiB", "max MiB", "growth MiB/h"
    printf "%-10s %12.1f %12.1f %12.1f %16s\n", "generator", g[1] / 1024, g[n] / 1024, gmax / 1024,
      (hours > 0 ? sprintf("%.1f", (g[n] - g[b]) / 1024 / hours) : "-")
    printf "%-10s %12.1f %12.1f %12.1f %16s\n", "server", s[1] / 1024, s[n] / 1024, smax / 1024,
      (hours > 0 ? sprintf("%.1f", (s[n] - s[b]) / 1024 / hours) : "-")
  }' "$csv"
grep -E 'req/s|p99|result:' "$out/run.out" || true
# 0 ok, 1 thresholds failed (reported, not a soak failure), anything else: the run failed.
if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
  echo "soak.sh: servelab run exited $rc" >&2
  cat "$out/run.out" >&2
  exit "$rc"
fi
