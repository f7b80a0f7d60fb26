#!/usr/bin/env bash
# bench/cluster.sh: Redis commands per 1,000 admitted requests on one hot key
# of a cluster-scope rate limit, at 1x and 10x offered load (issue 14 §6).
#
# One bulwark (one worker) with a `key: global, scope: cluster` limit, a
# redis-server and the demo upstream. wrk first measures what the machine can
# push (X req/s, the limit far above it); the limit is then X/20, and wrk
# offers it at 1x and at 10x (paced by a per-request delay, wrk's Lua
# `delay()`). For each, the commands the cluster thread sent
# (bulwark_redis_commands_total: lease script calls and heartbeats) are
# divided by the admitted requests (bulwark_ratelimit_decisions_total{decision=
# "allow"}). Redis's own count (INFO stats) is shown beside it; it also counts
# the calls each script makes inside Redis.
# A design that asks Redis per request (Envoy's RLS, a Lua token bucket)
# costs 1,000 per 1,000 admitted at 1x, and 10,000 at 10x (every refused
# request asks too).
#
#   BIN       where bulwark and demo-upstream are   (default build/bin)
#   DURATION  seconds per wrk run                   (default 10)
#   SYNC      cluster.sync_interval                 (default 20ms)
set -euo pipefail
cd "$(dirname "$0")/.."

readonly BIN=${BIN:-build/bin}
readonly DURATION=${DURATION:-10}
readonly SYNC=${SYNC:-20ms}
workdir=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$workdir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # wait_for FILE TEXT
  for _ in $(seq 1 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1
}
metric() {  # metric ADMIN_PORT PATTERN: the value of the first line matching
  # awk reads to the end: an early exit would leave curl a broken pipe (pipefail).
  curl -s "localhost:$1/metrics" | awk -v p="$2" 'index($0, p) == 1 && !found { v = $NF; found = 1 } END { print v + 0 }'
}
redis_calls() {  # total commands Redis processed
  redis-cli -p "$redis_port" info stats | awk -F: '/^total_commands_processed/ { print $2+0 }'
}

redis_port=$(free_port)
redis-server --port "$redis_port" --save "" --appendonly no --dir "$workdir" >"$workdir/redis.log" 2>&1 &
pids+=($!)
wait_for "$workdir/redis.log" "Ready to accept connections"
upstream_port=$(free_port)
"$BIN/demo-upstream" --listen "127.0.0.1:$upstream_port" --threads 1 >"$workdir/upstream.log" 2>&1 &
pids+=($!)

readonly CONNECTIONS=64
# run_at RATE [OFFERED]: one bulwark with the limit at RATE/s, wrk offering
# OFFERED req/s (default: all it can); prints "requests admitted commands redis_commands".
run_at() {
  local rate=$1 offered=${2:-0} port admin pid
  port=$(free_port)
  admin=$(free_port)
  cat >"$workdir/bulwark.yaml" <<EOF
workers: 1
listeners: [{name: bench, address: 127.0.0.1:$port}]
upstreams: [{name: backend, endpoints: [127.0.0.1:$upstream_port]}]
routes:
  - name: hot
    upstream: backend
    rate_limits: [{name: hot, key: global, rate: $rate/s, burst: $rate, scope: cluster}]
cluster: {redis: {address: 127.0.0.1:$redis_port}, sync_interval: $SYNC}
observability: {access_log: off}
admin: {address: 127.0.0.1:$admin}
EOF
  "$BIN/bulwark" run -c "$workdir/bulwark.yaml" 2>"$workdir/bulwark.log" &
  pid=$!
  wait_for "$workdir/bulwark.log" '"msg":"ready"'
  local before_commands before_redis
  before_commands=$(metric "$admin" "bulwark_redis_commands_total")
  before_redis=$(redis_calls)
  local pacing=()
  if [[ $offered != 0 ]]; then
    # Each connection waits CONNECTIONS/OFFERED seconds between requests.
    awk -v c="$CONNECTIONS" -v r="$offered" 'BEGIN { printf "function delay() return %.3f end\n", 1000 * c / r }' \
      >"$workdir/pace.lua"
    pacing=(-s "$workdir/pace.lua")
  fi
  wrk -t 1 -c "$CONNECTIONS" -d "${DURATION}s" "${pacing[@]}" "http://127.0.0.1:$port/" >"$workdir/wrk.txt"
  local allowed denied commands redis_commands
  allowed=$(metric "$admin" 'bulwark_ratelimit_decisions_total{route="hot",policy="hot",decision="allow"}')
  denied=$(metric "$admin" 'bulwark_ratelimit_decisions_total{route="hot",policy="hot",decision="deny"}')
  commands=$(( $(metric "$admin" "bulwark_redis_commands_total") - before_commands ))
  redis_commands=$(( $(redis_calls) - before_redis ))
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  echo "$((allowed + denied)) $allowed $commands $redis_commands"
}

read -r requests _ _ _ < <(run_at 100000000)
capacity=$((requests / DURATION))
limit=$((capacity / 20))
echo "capacity: about $capacity req/s (wrk, $CONNECTIONS connections, ${DURATION}s); limit $limit/s; sync_interval $SYNC"
echo
echo "| offered / limit | requests | admitted | bulwark's Redis commands | per 1,000 admitted | Redis's count (script calls inside) | a per-request design |"
echo "|---|--:|--:|--:|--:|--:|--:|"
for factor in 1 10; do
  read -r total allowed commands redis_commands < <(run_at "$limit" $((limit * factor)))
  per_thousand=$(awk -v c="$commands" -v a="$allowed" 'BEGIN { printf "%.1f", a ? 1000 * c / a : 0 }')
  per_request=$(awk -v t="$total" -v a="$allowed" 'BEGIN { printf "%.0f", a ? 1000 * t / a : 0 }')
  echo "| ${factor}x | $total | $allowed | $commands | **$per_thousand** | $redis_commands | $per_request |"
done
