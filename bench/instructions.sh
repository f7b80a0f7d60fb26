#!/usr/bin/env bash
# bench/instructions.sh: user-space instructions per proxied request, counted
# by callgrind. Unlike req/s on a shared machine (10-15% run to run), the
# count is deterministic to within about 2%, so it shows what a change to the
# data path costs or saves before any wall-clock benchmark. It counts bulwark
# alone (all its threads), not the kernel.
#
#   bench/instructions.sh [ROUTE] [PATH] [CONNECTIONS]
#     ROUTE        plain: one route, access log off (default)
#                  logs: the same with the JSON access log to a file
#                  limits: an IP rate limit (never reached) and a required
#                  API key, which wrk sends (issue 6 §6)
#     PATH         the request path (default /; /bytes/16384 for 16 KiB)
#     CONNECTIONS  wrk connections (default 64)
#   BIN            where bulwark and demo-upstream are (default build/bin)
#
# Prints `requests N  instructions/request M`. Needs valgrind and wrk
# (scripts/setup.sh). Takes about 15 s.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly ROUTE=${1:-plain} REQUEST_PATH=${2:-/} CONNECTIONS=${3:-64}
readonly BIN=$(realpath "${BIN:-build/bin}")
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_for() {  # wait_for FILE PATTERN
  for _ in $(seq 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "instructions.sh: timed out waiting for $2 in $1" >&2
  exit 1
}

"$BIN/demo-upstream" --listen 127.0.0.1:0 >"$work/upstream.out" 2>"$work/upstream.log" &
pids+=($!)
wait_for "$work/upstream.out" '^listening'
upstream_port=$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$work/upstream.out")
port=$(free_port)

route_extras="" top_extras="" access_log="off" headers=()
case $ROUTE in
  plain) ;;
  logs) access_log="{path: $work/access.log}" ;;
  limits)
    route_extras=$'    auth: {api_key: required}\n    rate_limits: [{name: per-ip, key: client_ip, rate: 1000000/s, burst: 1000000}]'
    top_extras="auth: {api_keys: {db: $work/keys.db}}"
    key=$("$BIN/bulwark" keys create --db "$work/keys.db" --name bench 2>/dev/null | head -1)
    headers=(-H "X-API-Key: $key")
    ;;
  *) echo "instructions.sh: ROUTE is plain, logs or limits" >&2; exit 2 ;;
esac

cat >"$work/bulwark.yaml" <<EOF
workers: 1
listeners:
  - name: bench
    address: 127.0.0.1:$port
upstreams:
  - name: backend
    endpoints: [127.0.0.1:$upstream_port]
    pool: {max_connections: 256, max_idle: 256}
routes:
  - name: everything
    match: {path_prefix: /}
    upstream: backend
$route_extras
$top_extras
observability:
  access_log: $access_log
admin:
  address: 127.0.0.1:$(free_port)
EOF

(cd "$work" && exec valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
   "$BIN/bulwark" run -c "$work/bulwark.yaml" 2>"$work/bulwark.log") &
bulwark_pid=$!
pids+=("$bulwark_pid")
wait_for "$work/bulwark.log" '"msg":"ready"'
url="http://127.0.0.1:$port$REQUEST_PATH"
wrk -t1 -c"$CONNECTIONS" -d2s "${headers[@]}" "$url" >/dev/null  # warm-up: pools, caches
callgrind_control -z "$bulwark_pid" >/dev/null
out=$(wrk -t1 -c"$CONNECTIONS" -d4s "${headers[@]}" "$url")
callgrind_control -d "$bulwark_pid" >/dev/null
requests=$(awk '/ requests in / {print $1}' <<<"$out")
dump=$(ls -t "$work"/callgrind.out.* | head -1)
total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "requests $requests  instructions/request $((total / requests))"
if [[ -n ${KEEP:-} ]]; then cp "$dump" "$KEEP" && echo "callgrind output: $KEEP"; fi
