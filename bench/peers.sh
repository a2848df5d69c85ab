#!/usr/bin/env bash
# Generator cost per request against its peers (docs/PERFORMANCE.md,
# "Native engine" section).
#
# Targets: one nginx worker answering `return 200` on loopback, then
# servelab-server's GET /v2/health/ready (--threads 1). The server is
# pinned to SERVER_CORE, every client to CLIENT_CORE (taskset), so client
# and server never share a core. Clients, at each connection count, for
# ROUNDS rounds (tools interleaved within a round):
#   servelab engine=curl, servelab engine=native (threads=1 and threads=2),
#   wrk -t1, h2load --h1 -t1, hey, ab -k.
# Each client runs under GNU time (user+sys CPU and peak RSS of the whole
# client process; for servelab also the CPU of the measured phase alone,
# from result.json, without start-up and report writing). Printed per target and connection count: median RPS,
# median requests per client CPU-second, its ratio to wrk, median peak RSS.
#
# usage: bench/peers.sh [DURATION_S=5] [ROUNDS=3] [CONNECTION_COUNTS="50 1000"]
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-5}
rounds=${2:-3}
conn_list=${3:-"50 1000"}
port=${PEERS_PORT:-18080}
bin=${SERVELAB_BIN:-build/release/bin}
server_core=${SERVER_CORE:-0}
client_core=${CLIENT_CORE:-1}
targets=${PEERS_TARGETS:-"nginx servelab-server"}
tools=${PEERS_TOOLS:-"servelab-curl servelab-native servelab-native-t2 wrk h2load hey ab"}

for tool in nginx wrk h2load hey ab jq curl /usr/bin/time taskset; do
  command -v "$tool" >/dev/null || { echo "peers.sh: $tool missing (run scripts/setup --peers)" >&2; exit 2; }
done
[ -x "$bin/servelab" ] || { echo "peers.sh: $bin/servelab missing (cmake --build --preset release)" >&2; exit 2; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

tmp=$(mktemp -d)
server_pid=""
cleanup() {
  [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap "exit 130" INT TERM  # still runs the EXIT cleanup

wait_ready() {  # url
  for _ in $(seq 200); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "peers.sh: $1 did not answer" >&2
  exit 3
}

start_nginx() {
  cat > "$tmp/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 65536;
daemon on;
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 100000000;
  server { listen 127.0.0.1:$port backlog=4096; location / { return 200 "ok\n"; } }
}
CONF
  taskset -c "$server_core" nginx -c "$tmp/nginx.conf" -p "$tmp" -e "$tmp/error.log"
  url="http://127.0.0.1:$port/"
  wait_ready "$url"
}

start_servelab_server() {
  "$bin/servelab" models make "$tmp/models" --count 1 --dims 16,16 >/dev/null
  taskset -c "$server_core" "$bin/servelab-server" --models "$tmp/models" --threads 1 \
    --compute-threads 1 --port "$port" >"$tmp/server.log" 2>&1 &
  server_pid=$!
  url="http://127.0.0.1:$port/v2/health/ready"
  wait_ready "$url"
}

stop_target() {
  [ -f "$tmp/nginx.pid" ] && { kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true; rm -f "$tmp/nginx.pid"; }
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=""; fi
  sleep 0.5
}

# run_tool TOOL CONNECTIONS → prints "requests rps cpu_seconds rss_kb errors"
run_tool() {
  local tool=$1 c=$2 out="$tmp/out" tf="$tmp/time"
  local timed=(/usr/bin/time -f '%U %S %M' -o "$tf" taskset -c "$client_core")
  local req rps err=0 run_cpu=""
  case $tool in
    servelab-*)
      local engine=${tool#servelab-} threads=1
      [ "$engine" = native-t2 ] && { engine=native; threads=2; }
      cat > "$tmp/peer.toml" <<TOML
name = "peer"
target = "http://127.0.0.1:$port"
[load]
mode = "closed"
connections = $c
threads = $threads
engine = "$engine"
duration = "${duration}s"
[[requests]]
kind = "http"
url = "$url"
TOML
      rm -rf "$tmp/sl"
      "${timed[@]}" "$bin/servelab" run "$tmp/peer.toml" --print-path --out "$tmp/sl" >/dev/null || true
      req=$(jq '.summary.requests' "$tmp/sl/result.json")
      rps=$(jq '.summary.rps' "$tmp/sl/result.json")
      err=$(jq '.summary.errors' "$tmp/sl/result.json")
      # CPU of the measured phase only (no start-up, plan, report writing)
      run_cpu=$(jq '.summary.client_cpu_seconds' "$tmp/sl/result.json")
      ;;
    wrk)
      "${timed[@]}" wrk -t1 -c"$c" -d"${duration}s" "$url" >"$out"
      req=$(awk '/requests in/ {print $1}' "$out")
      rps=$(awk '/Requests\/sec/ {print $2}' "$out")
      err=$(awk '/Non-2xx|Socket errors/ {s += $NF} END {print s + 0}' "$out")
      ;;
    h2load)
      "${timed[@]}" h2load --h1 -t1 -c"$c" -D"$duration" "$url" >"$out" 2>&1 || true
      req=$(awk '/^requests:/ {print $8}' "$out")
      rps=$(awk '/^finished in/ {print $4}' "$out")
      err=$(awk '/^requests:/ {print $10 + $12}' "$out")
      ;;
    hey)
      "${timed[@]}" hey -z "${duration}s" -c "$c" "$url" >"$out" 2>&1 || true
      rps=$(awk '/Requests\/sec:/ {print $2}' "$out")
      req=$(awk '/\[200\]/ {print $2}' "$out")
      err=$(awk '/^Error distribution/ {e = 1} e && /\[[0-9]+\]/ {s += substr($1, 2) + 0} END {print s + 0}' "$out")
      ;;
    ab)
      "${timed[@]}" ab -k -q -c "$c" -t "$duration" -n 100000000 "$url" >"$out" 2>&1 || true
      req=$(awk '/^Complete requests:/ {print $3}' "$out")
      rps=$(awk '/^Requests per second:/ {print $4}' "$out")
      err=$(awk '/^Failed requests:/ {print $3}' "$out")
      ;;
  esac
  read -r u s m <"$tf"
  local cpu
  cpu=$(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}')
  echo "${req:-0} ${rps:-0} $cpu ${m:-0} ${err:-0} ${run_cpu:-$cpu}"
}

results="$tmp/results.tsv"
: >"$results"
for target in $targets; do
  case $target in
    nginx) start_nginx ;;
    servelab-server) start_servelab_server ;;
  esac
  for c in $conn_list; do
    for round in $(seq "$rounds"); do
      for tool in $tools; do
        read -r req rps cpu rss err run_cpu < <(run_tool "$tool" "$c")
        [ "$err" = "0" ] || echo "warning: $tool saw $err errors ($target, $c connections, round $round)" >&2
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$c" "$tool" "$req" "$rps" "$cpu" "$rss" "$run_cpu" >>"$results"
        echo "$target c=$c round $round: $tool $rps req/s, $req requests in $cpu CPU-s, ${rss} KB" >&2
      done
    done
  done
  stop_target
done

echo "# peers.sh: ${duration}s x $rounds rounds, server on core $server_core, client on core $client_core," \
  "$(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(date -u +%Y-%m-%d)"
awk -F'\t' -v order="$tools" '
  { k = $1 "|" $2; keys[k] = 1; tk = k "|" $3
    rps[tk] = rps[tk] " " $5; eff[tk] = eff[tk] " " ($6 > 0 ? $4 / $6 : 0); rss[tk] = rss[tk] " " $7
    run[tk] = run[tk] " " ($8 > 0 ? $4 / $8 : 0) }
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    nt = split(order, tl, " ")
    for (k in keys) {
      split(k, kp, "|")
      printf "\n%s, %s connections\n\n| client | req/s | req per client CPU-s | vs wrk | same, measured phase only | peak RSS (MB) |\n|---|---:|---:|---:|---:|---:|\n", kp[1], kp[2]
      w = median(eff[k "|wrk"])
      for (i = 1; i <= nt; i++) {
        tk = k "|" tl[i]
        if (!(tk in rps)) continue
        e = median(eff[tk])
        r = median(run[tk])
        printf "| %s | %.0f | %.0f | %.2fx | %.0f (%.2fx) | %.1f |\n", tl[i], median(rps[tk]), e, (w > 0 ? e / w : 0), r, (w > 0 ? r / w : 0), median(rss[tk]) / 1024
      }
    }
  }' "$results"
