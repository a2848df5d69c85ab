#!/usr/bin/env bash
# Generator cost per request against wrk (docs/PERFORMANCE.md).
#
# One nginx worker answering `return 200` on loopback is pinned to one core,
# the client to the other, so client and server never fight for a core. wrk
# and `servelab run` (closed loop, http kind, pooling on) alternate for ROUNDS
# rounds with the same connections and duration; each is timed by
# /usr/bin/time (user+sys CPU of the whole client process). Reported per tool:
# median RPS and median requests per client CPU-second, and their ratio.
#
# usage: bench/peers.sh [DURATION_S=10] [CONNECTIONS=50] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10}
connections=${2:-50}
rounds=${3:-3}
port=${PEERS_PORT:-18080}
bin=${SERVELAB_BIN:-build/release/bin}
server_core=${SERVER_CORE:-0}
client_core=${CLIENT_CORE:-1}

for tool in nginx wrk jq /usr/bin/time taskset; do
  command -v "$tool" >/dev/null || { echo "peers.sh: $tool missing (run scripts/setup)" >&2; exit 2; }
done
[ -x "$bin/servelab" ] || { echo "peers.sh: $bin/servelab missing (cmake --build --preset release)" >&2; exit 2; }

tmp=$(mktemp -d)
cleanup() {
  [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

cat > "$tmp/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  server { listen 127.0.0.1:$port; location / { return 200 "ok\n"; } }
}
CONF
taskset -c "$server_core" nginx -c "$tmp/nginx.conf" -p "$tmp" -e "$tmp/error.log"
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
  sleep 0.05
done

cat > "$tmp/peer.toml" <<TOML
name = "peer-http"
target = "http://127.0.0.1:$port"
[load]
mode = "closed"
connections = $connections
threads = 1
duration = "${duration}s"
[[requests]]
kind = "http"
url = "/"
TOML

results="$tmp/results.tsv"
for round in $(seq "$rounds"); do
  /usr/bin/time -f '%U %S' -o "$tmp/wrk.time" \
    taskset -c "$client_core" wrk -t1 -c"$connections" -d"${duration}s" "http://127.0.0.1:$port/" >"$tmp/wrk.out"
  wrk_req=$(awk '/requests in/ {print $1}' "$tmp/wrk.out")
  wrk_rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.out")
  wrk_cpu=$(awk '{print $1 + $2}' "$tmp/wrk.time")
  printf 'wrk\t%s\t%s\t%s\n' "$wrk_req" "$wrk_rps" "$wrk_cpu" >>"$results"

  rm -rf "$tmp/sl"
  /usr/bin/time -f '%U %S' -o "$tmp/sl.time" \
    taskset -c "$client_core" "$bin/servelab" run "$tmp/peer.toml" --json --out "$tmp/sl" >/dev/null
  sl_req=$(jq '.summary.requests' "$tmp/sl/result.json")
  sl_rps=$(jq '.summary.rps' "$tmp/sl/result.json")
  sl_err=$(jq '.summary.errors' "$tmp/sl/result.json")
  sl_cpu=$(awk '{print $1 + $2}' "$tmp/sl.time")
  [ "$sl_err" = "0" ] || echo "warning: servelab saw $sl_err errors in round $round" >&2
  printf 'servelab\t%s\t%s\t%s\n' "$sl_req" "$sl_rps" "$sl_cpu" >>"$results"
  echo "round $round: wrk $wrk_rps req/s ($wrk_cpu CPU-s), servelab $sl_rps req/s ($sl_cpu CPU-s)" >&2
done

echo "# peers: nginx return 200 on core $server_core, client on core $client_core," \
  "$connections connections, ${duration}s x $rounds rounds, $(nproc) cores, $(date -u +%Y-%m-%d)"
awk -F'\t' '
  { rps[$1] = rps[$1] " " $3; eff[$1] = eff[$1] " " ($4 > 0 ? $2 / $4 : 0) }
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    printf "| tool | median req/s | median req per client CPU-s |\n|---|---:|---:|\n"
    for (t in rps) { m[t] = median(rps[t]); e[t] = median(eff[t]); printf "| %s | %.0f | %.0f |\n", t, m[t], e[t] }
    if (e["wrk"] > 0) printf "\nservelab / wrk: %.2fx req/s, %.2fx req per CPU-s\n", m["servelab"] / m["wrk"], e["servelab"] / e["wrk"]
  }' "$results"
