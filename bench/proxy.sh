#!/usr/bin/env bash
# bench/proxy.sh: wrk against bulwark and against nginx set up as the same
# reverse proxy to the same upstream (issue 3 §7; `make bench-proxy`).
#
# Layout on a 2-core machine: the proxy under test on CPU 1, wrk and the
# upstream on CPU 0, so each proxy has a core to itself and the numbers say
# what one bulwark worker costs against one nginx worker. Rounds are
# interleaved and every other round swaps which proxy goes first, so slow
# drift of the machine lands on both proxies alike; the table shows medians
# over rounds. bench/README.md explains the choices.
#
# Builds nothing: the binaries must already be in $BIN.
#   BIN       where bulwark and demo-upstream are     (default build/bin)
#   ROUNDS    rounds per case                         (default 5)
#   DURATION  seconds per wrk run                     (default 10)
#   UPSTREAM  demo: demo-upstream; nginx: static nginx (default demo)
#   LOGS      off: no access logs; on: both proxies log every request to a
#             file (bulwark's JSON log, nginx's combined log with buffer=64k)
#             (default off)
#   ONLY      case names to run, e.g. "64c-small 64c-16KiB" (default: all four)
#   POLICIES  none: a plain route; resilience: a circuit breaker on the
#             upstream and a retry policy with a budget on the route, never
#             triggered (issue 5 §8); limits: an IP rate limit never reached
#             and a required API key on bulwark, `limit_req` (never reached)
#             on nginx (issue 6 §6); cluster: the same IP rate limit with
#             `scope: cluster` on bulwark, sharing a redis-server the script
#             starts, and bulwark-plain with that limit at `scope: local`
#             (issue 14 §6: a cluster-scope limit against a local one)
#             (default none)
#
# With LOGS=on or POLICIES other than none, a second bulwark with neither
# ("bulwark-plain", same CPU) runs in the same rounds, so the cost of the logs
# or policies is read from one run (issues 4 §6 and 6 §6 ask for both ratios).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly BIN=${BIN:-build/bin}
readonly ROUNDS=${ROUNDS:-5}
readonly DURATION=${DURATION:-10}
readonly UPSTREAM=${UPSTREAM:-demo}
readonly LOGS=${LOGS:-off}
readonly POLICIES=${POLICIES:-none}
readonly LOAD_CPU=0 PROXY_CPU=1
if [[ $LOGS == on || $POLICIES != none ]]; then
  readonly PROXIES=(bulwark nginx bulwark-plain)
else
  readonly PROXIES=(bulwark nginx)
fi
ALL_CASES=("64 / 64c-small" "64 /bytes/16384 64c-16KiB" "1 / 1c-small" "1 /bytes/16384 1c-16KiB")
# ONLY=64c-small (a case name, or several separated by spaces) runs just those.
CASES=()
for entry in "${ALL_CASES[@]}"; do
  if [[ -z "${ONLY:-}" || " $ONLY " == *" ${entry##* } "* ]]; then CASES+=("$entry"); fi
done
readonly CASES
readonly LARGE_BYTES=16384

workdir=""
started=()  # "pid:start_time" of every process this script started, in order
adopted=()  # the same for nginx workers, which nginx started
upstream_port=""
declare -A proxy_ports  # proxy name -> the port wrk loads
declare -A proxy_pids  # proxy name -> pids whose CPU time and RSS it is charged
nginx_pids=""          # set by start_nginx: master and worker pids
wrk_result=""          # set by run_wrk
run_result=""          # set by measure

log() { printf 'proxy.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- process bookkeeping and cleanup ---------------------------------------

# Start time of a pid (field 22 of stat(5), after the parenthesised command
# name), empty once it is gone. Pairing it with the pid keeps the cleanup
# from signalling an unrelated process that reused the pid.
start_time() {
  local stat
  { stat=$(<"/proc/$1/stat"); } 2>/dev/null || return 0
  read -r -a f <<<"${stat##*) }"
  echo "${f[19]}"
}
track() { local -n list=$1; list+=("$2:$(start_time "$2")"); }
ours() { [[ $(start_time "${1%%:*}") == "${1#*:}" ]]; }
signal_ours() {
  local sig=$1 entry
  shift
  for entry in "$@"; do
    if ours "$entry"; then kill "-$sig" "${entry%%:*}" 2>/dev/null || true; fi
  done
}

# Runs on every exit: SIGTERM to what the script started (latest first; an
# nginx master takes its workers down, while a worker signalled alone would
# be respawned), then SIGKILL to anything left, nginx workers included.
cleanup() {
  local status=$? i entry alive
  trap - EXIT INT TERM
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do signal_ours TERM "${started[i]}"; done
  for _ in $(seq 50); do
    alive=0
    for entry in "${started[@]}" "${adopted[@]}"; do ours "$entry" && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  signal_ours KILL "${started[@]}" "${adopted[@]}"
  wait 2>/dev/null || true
  if ((status != 0 && status < 128)) && [[ -n $workdir ]]; then
    for f in "$workdir"/*.log; do
      [[ -s $f ]] && { log "--- tail of $(basename "$f")"; tail -n 5 "$f" >&2; }
    done
  fi
  [[ -n $workdir ]] && rm -rf "$workdir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers ---------------------------------------------------------------

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_until DESCRIPTION PID COMMAND...: polls COMMAND for up to 10 s, failing
# at once if PID died.
wait_until() {
  local what=$1 pid=$2
  shift 2
  for _ in $(seq 200); do
    "$@" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || die "$what exited during startup"
    sleep 0.05
  done
  die "$what not ready after 10 s"
}

# A proxy answering 502s fast would win any benchmark: refuse to measure
# unless both paths answer 200 with the expected body size.
check_serves() {
  local name=$1 port=$2 got headers=()
  [[ -n $api_key ]] && headers=(-H "X-API-Key: $api_key")
  got=$(curl -s "${headers[@]}" -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$port/") ||
    die "$name: curl failed on /"
  [[ $got == 200\ * ]] || die "$name: GET / answered '$got', expected 200"
  got=$(curl -s "${headers[@]}" -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$port/bytes/$LARGE_BYTES") ||
    die "$name: curl failed on /bytes/$LARGE_BYTES"
  [[ $got == "200 $LARGE_BYTES" ]] ||
    die "$name: GET /bytes/$LARGE_BYTES answered '$got', expected '200 $LARGE_BYTES'"
}

# Sum of utime+stime in clock ticks (fields 14 and 15 of stat(5)).
cpu_ticks() {
  local pid stat total=0
  for pid in "$@"; do
    stat=$(<"/proc/$pid/stat")
    read -r -a f <<<"${stat##*) }"
    ((total += f[11] + f[12]))
  done
  echo "$total"
}

# Sum of VmRSS in KiB.
rss_kib() {
  local pid total=0
  for pid in "$@"; do
    ((total += $(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")))
  done
  echo "$total"
}

# --- nginx -----------------------------------------------------------------

# Shared top of both nginx configs: everything nginx writes stays in its own
# prefix directory, never in the system paths.
nginx_conf_head() {
  cat <<EOF
worker_processes 1;
pid nginx.pid;
error_log error.log warn;
events { worker_connections 4096; }
http {
  $([ "$LOGS" = on ] && echo "access_log access.log combined buffer=64k;" || echo "access_log off;")
  client_body_temp_path tmp/body;
  proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi;
  scgi_temp_path tmp/scgi;
  # nginx closes a client connection after 1000 requests by default; bulwark
  # does not, and wrk reconnecting would charge nginx for the handshakes.
  keepalive_requests 1000000;
  default_type text/plain;
EOF
}

# nginx as the same reverse proxy as bulwark: keep-alive to the upstream,
# Host passed through, the X-Forwarded-* headers bulwark adds.
nginx_proxy_conf() {
  nginx_conf_head
  cat <<EOF
$(nginx_limits_http)
  upstream backend {
    server 127.0.0.1:$upstream_port;
    keepalive 256;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${proxy_ports[nginx]};
    location / {
$(nginx_limits_location)
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$http_host;
    }
  }
}
EOF
}

# nginx as a static upstream (UPSTREAM=nginx), answering the two paths of
# the benchmark with the sizes demo-upstream uses.
nginx_static_conf() {
  nginx_conf_head
  cat <<EOF
  server {
    listen 127.0.0.1:$upstream_port;
    location = / { return 200 "Hello from the static nginx upstream of bulwark's proxy benchmark, the same size as demo.\n"; }
    location /bytes/ { root www; }
  }
}
EOF
}

# start_nginx NAME CPU CONF_FUNCTION PORT: runs nginx from its own prefix
# directory and sets nginx_pids to its master and worker pids.
start_nginx() {
  local name=$1 cpu=$2 conf_fn=$3 port=$4 dir="$workdir/$1" master worker
  mkdir -p "$dir/tmp" "$dir/www/bytes"
  head -c "$LARGE_BYTES" /dev/zero | tr '\0' 'x' >"$dir/www/bytes/$LARGE_BYTES"
  "$conf_fn" >"$dir/nginx.conf"
  # Started as root, nginx runs its worker as nobody, who must reach the prefix.
  chmod -R a+rX "$workdir"
  taskset -c "$cpu" nginx -p "$dir/" -c "$dir/nginx.conf" -g 'daemon off;' 2>"$workdir/$name.log" &
  master=$!
  track started "$master"
  wait_until "$name" "$master" curl -sf -o /dev/null "http://127.0.0.1:$port/"
  nginx_pids=$master
  for worker in $(ps -o pid= --ppid "$master"); do
    track adopted "$worker"
    nginx_pids+=" $worker"
  done
  [[ $nginx_pids == *\ * ]] || die "$name: no worker process"
}

# --- upstream and bulwark --------------------------------------------------

start_demo_upstream() {
  local out="$workdir/upstream.out" pid
  taskset -c "$LOAD_CPU" "$BIN/demo-upstream" --listen 127.0.0.1:0 >"$out" 2>"$workdir/upstream.log" &
  pid=$!
  track started "$pid"
  wait_until demo-upstream "$pid" grep -q '^listening ' "$out"
  upstream_port=$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$out")
}

start_upstream() {
  case $UPSTREAM in
    demo) start_demo_upstream ;;
    nginx)
      upstream_port=$(free_port)
      start_nginx upstream "$LOAD_CPU" nginx_static_conf "$upstream_port"
      ;;
    *) die "UPSTREAM must be demo or nginx, got '$UPSTREAM'" ;;
  esac
  check_serves upstream "$upstream_port"
}

api_key=""  # POLICIES=limits: the key wrk sends (both proxies get it; nginx ignores it)

nginx_limits_http() {
  [[ $POLICIES == limits || $POLICIES == cluster ]] && echo "  limit_req_zone \$binary_remote_addr zone=perip:10m rate=1000000r/s;"
  return 0
}

nginx_limits_location() {
  [[ $POLICIES == limits || $POLICIES == cluster ]] && echo "      limit_req zone=perip burst=1000000 nodelay;"
  return 0
}

# The bulwark config's parts for POLICIES ($1 is the value for this bulwark).
upstream_policies() {
  case "$1" in
    resilience) echo "    circuit_breaker: {window: 10s, min_requests: 20, failure_rate: 0.5, open_for: 5s}" ;;
  esac
}

route_policies() {
  case "$1" in
    resilience)
      echo "    retry: {attempts: 3, per_try_timeout: 2s, backoff: {base: 10ms, max: 100ms},"
      echo "            budget: {ratio: 0.2, min_per_s: 10}}" ;;
    limits)
      echo "    auth: {api_key: required}"
      echo "    rate_limits: [{name: per-ip, key: client_ip, rate: 1000000/s, burst: 1000000}]" ;;
    cluster)
      echo "    rate_limits: [{name: per-ip, key: client_ip, rate: 1000000/s, burst: 1000000, scope: cluster}]" ;;
    local)
      echo "    rate_limits: [{name: per-ip, key: client_ip, rate: 1000000/s, burst: 1000000}]" ;;
  esac
}

redis_port=""  # POLICIES=cluster: the redis-server the cluster-scope limit uses
cluster_section() {
  [[ $1 == cluster ]] && echo "cluster: {redis: {address: 127.0.0.1:$redis_port}}"
  return 0
}

start_redis() {
  local pid
  redis_port=$(free_port)
  taskset -c "$LOAD_CPU" redis-server --port "$redis_port" --save "" --appendonly no \
    --dir "$workdir" >"$workdir/redis.log" 2>&1 &
  pid=$!
  track started "$pid"
  wait_until redis "$pid" grep -q "Ready to accept connections" "$workdir/redis.log"
}

auth_section() {
  [[ $1 == limits ]] && echo "auth: {api_keys: {db: $workdir/keys.db}}"
  return 0
}

# bulwark_conf PORT ADMIN_PORT LOGS POLICIES
bulwark_conf() {
  local port=$1 admin=$2 logs=$3 policies=$4
  cat <<EOF
workers: 1
listeners:
  - name: bench
    address: 127.0.0.1:$port
upstreams:
  - name: backend
    endpoints: [127.0.0.1:$upstream_port]
    pool: {max_connections: 256, max_idle: 256}
$(upstream_policies "$policies")
routes:
  - name: everything
    match: {path_prefix: /}
    upstream: backend
$(route_policies "$policies")
$(auth_section "$policies")
$(cluster_section "$policies")
observability:
  access_log: $([ "$logs" = on ] && echo "{path: $workdir/access.log}" || echo off)
admin:
  address: 127.0.0.1:$admin
EOF
}

# start_bulwark NAME LOGS POLICIES: a bulwark (with its own admin port, so
# runs never collide) on the proxy CPU.
start_bulwark() {
  local name=$1 logs=$2 policies=$3 conf="$workdir/$1.yaml" port pid
  port=$(free_port)
  if [[ $policies == limits && -z $api_key ]]; then
    api_key=$("$BIN/bulwark" keys create --db "$workdir/keys.db" --name bench 2>/dev/null | head -1)
  fi
  bulwark_conf "$port" "$(free_port)" "$logs" "$policies" >"$conf"
  "$BIN/bulwark" check -c "$conf" >/dev/null || die "bulwark check refused $conf"
  taskset -c "$PROXY_CPU" "$BIN/bulwark" run -c "$conf" 2>"$workdir/$name.log" &
  pid=$!
  track started "$pid"
  wait_until "$name" "$pid" grep -q '"msg":"ready"' "$workdir/$name.log"
  proxy_pids[$name]=$pid
  proxy_ports[$name]=$port
}

start_proxies() {
  if [[ $POLICIES == cluster ]]; then
    start_redis
    start_bulwark bulwark "$LOGS" cluster
    start_bulwark bulwark-plain off local
  else
    start_bulwark bulwark "$LOGS" "$POLICIES"
    if [[ " ${PROXIES[*]} " == *" bulwark-plain "* ]]; then start_bulwark bulwark-plain off none; fi
  fi
  proxy_ports[nginx]=$(free_port)
  start_nginx nginx "$PROXY_CPU" nginx_proxy_conf "${proxy_ports[nginx]}"
  proxy_pids[nginx]=$nginx_pids
  local proxy
  for proxy in "${PROXIES[@]}"; do check_serves "$proxy" "${proxy_ports[$proxy]}"; done
}

port_of() { echo "${proxy_ports[$1]}"; }

# --- measuring -------------------------------------------------------------

# wrk prints latencies as 41.00us, 1.18ms, 2.00s: normalised to milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    u = v; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1
    if (f < 0) exit 1
    printf "%.4f", (v + 0) * f }'
}

# run_wrk CONNS URL [SECONDS]: one wrk run on the load CPU; sets wrk_result to
# "requests req/s p50_ms p99_ms elapsed_ns". wrk runs in the background and
# is waited for so that Ctrl-C or SIGTERM interrupts the wait at once (bash
# defers traps while a foreground command runs, and wrk exits 0 on SIGINT).
run_wrk() {
  local conns=$1 url=$2 seconds=${3:-$DURATION} out="$workdir/wrk.out" start end pid
  start=$(date +%s%N)
  local headers=()
  [[ -n $api_key ]] && headers=(-H "X-API-Key: $api_key")
  taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"${seconds}s" --latency "${headers[@]}" "$url" >"$out" 2>&1 &
  pid=$!
  track started "$pid"
  wait "$pid" || die "wrk failed on $url: $(cat "$out")"
  end=$(date +%s%N)
  grep -q 'Non-2xx' "$out" && die "non-2xx answers from $url: $(grep 'Non-2xx' "$out")"
  grep -q 'Socket errors' "$out" && log "warning: $url: $(grep 'Socket errors' "$out" | sed 's/^ *//')"
  local requests rps p50 p99
  requests=$(awk '/ requests in / {print $1}' "$out")
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  p50=$(awk '$1 == "50%" {print $2}' "$out")
  p99=$(awk '$1 == "99%" {print $2}' "$out")
  [[ -n $requests && -n $rps && -n $p50 && -n $p99 ]] || die "cannot parse wrk output:"$'\n'"$(cat "$out")"
  wrk_result="$requests $rps $(to_ms "$p50") $(to_ms "$p99") $((end - start))"
}

# measure PROXY CONNS PATH: one run against a proxy; sets run_result to
# "req/s p50_ms p99_ms rss_kib cpu_us_per_request cpu_percent
# serving_rss_kib", the last being the process that serves the requests
# (bulwark itself, nginx's worker).
measure() {
  local proxy=$1 conns=$2 path=$3 procs before after requests rps p50 p99 elapsed
  read -r -a procs <<<"${proxy_pids[$proxy]}"
  before=$(cpu_ticks "${procs[@]}")
  run_wrk "$conns" "http://127.0.0.1:$(port_of "$proxy")$path"
  after=$(cpu_ticks "${procs[@]}")
  read -r requests rps p50 p99 elapsed <<<"$wrk_result"
  run_result=$(awk -v r="$requests" -v rps="$rps" -v p50="$p50" -v p99="$p99" \
    -v rss="$(rss_kib "${procs[@]}")" -v serving="$(rss_kib "${procs[-1]}")" \
    -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" -v ns="$elapsed" 'BEGIN {
      s = ticks / hz
      printf "%s %s %s %s %.2f %.1f %s", rps, p50, p99, rss, s * 1e6 / r, 100 * s * 1e9 / ns, serving }')
}

# The upstream answering wrk directly, once per case: the most the load CPU
# allows, so a proxy close to it is limited by CPU 0 rather than by itself.
measure_direct() {
  local entry conns path label rps p50 p99
  for entry in "${CASES[@]}"; do
    read -r conns path label <<<"$entry"
    run_wrk "$conns" "http://127.0.0.1:$upstream_port$path"
    read -r _ rps p50 p99 _ <<<"$wrk_result"
    echo "$label direct 0 $rps $p50 $p99" >>"$workdir/runs.txt"
    log "direct $label: $rps req/s, p99 $p99 ms"
  done
}

# Fills bulwark's and nginx's upstream pools before anything is recorded.
warm_up() {
  local proxy
  for proxy in "${PROXIES[@]}"; do
    run_wrk 64 "http://127.0.0.1:$(port_of "$proxy")/" 1
  done
}

run_rounds() {
  local round entry conns path label proxy order rps p99 rss cpu pct i
  for ((round = 1; round <= ROUNDS; round++)); do
    # Every other round runs the proxies in reverse order, so drift of the
    # machine during a round lands on all of them alike.
    order=("${PROXIES[@]}")
    if ((round % 2 == 0)); then
      order=()
      for ((i = ${#PROXIES[@]} - 1; i >= 0; i--)); do order+=("${PROXIES[i]}"); done
    fi
    for entry in "${CASES[@]}"; do
      read -r conns path label <<<"$entry"
      for proxy in "${order[@]}"; do
        measure "$proxy" "$conns" "$path"
        echo "$label $proxy $round $run_result" >>"$workdir/runs.txt"
        read -r rps _ p99 rss cpu pct <<<"$run_result"
        log "round $round/$ROUNDS $label $proxy: $rps req/s, p99 $p99 ms, RSS $((rss / 1024)) MiB, $cpu µs/req, CPU $pct%"
      done
    done
  done
}

# --- report ----------------------------------------------------------------

# Medians over rounds as a markdown table, ratios bulwark/nginx below each
# case (the issue's targets in bold: req/s ≥ 1, p99 ≤ 1, RSS ≤ 2).
report() {
  echo
  echo "bulwark $(git rev-parse --short HEAD 2>/dev/null || echo '?') vs $(nginx -v 2>&1 | sed 's/.*: //')," \
    "1 worker each on CPU $PROXY_CPU; wrk (1 thread) and the upstream ($UPSTREAM) on CPU $LOAD_CPU;" \
    "median of $ROUNDS rounds × $DURATION s; load average at start $START_LOAD on $(nproc) CPUs."
  echo
  POLICIES=$POLICIES python3 - "$workdir/runs.txt" "${CASES[@]}" <<'PY'
import os
import sys
from statistics import mean, median, stdev

runs_file, cases = sys.argv[1], [c.split()[2] for c in sys.argv[2:]]
runs = {}  # (case, who) -> list of rows of floats
by_round = {}  # (case, who) -> {round: req/s}
for line in open(runs_file):
    case, who, round_, *values = line.split()
    runs.setdefault((case, who), []).append([float(v) for v in values])
    by_round.setdefault((case, who), {})[round_] = float(values[0])

def medians(case, who):
    rows = runs[(case, who)]
    return [median(col) for col in zip(*rows)]

def ratio(a, b):
    return f"{a / b:.2f}×" if b else "n/a"

print("| case | proxy | req/s | p50 ms | p99 ms | RSS MiB | CPU µs/req | CPU % |")
print("|---|---|--:|--:|--:|--:|--:|--:|")
for case in cases:
    rps, p50, p99 = medians(case, "direct")
    print(f"| {case} | upstream alone | {rps:.0f} | {p50:.3f} | {p99:.3f} | | | |")
    m = {who: medians(case, who) for who in ("bulwark", "nginx", "bulwark-plain") if (case, who) in runs}
    for who, (rps, p50, p99, rss, cpu, pct, _) in m.items():
        print(f"| {case} | {who} | {rps:.0f} | {p50:.3f} | {p99:.3f} | {rss / 1024:.1f} | {cpu:.1f} | {pct:.0f} |")
    b, n = m["bulwark"], m["nginx"]
    print(f"| {case} | **bulwark/nginx** | **{ratio(b[0], n[0])}** | {ratio(b[1], n[1])} | **{ratio(b[2], n[2])}**"
          f" | **{ratio(b[3], n[3])}** | {ratio(b[4], n[4])} | |")
    if "bulwark-plain" in m:
        p = m["bulwark-plain"]
        print(f"| {case} | **bulwark/bulwark-plain** | **{ratio(b[0], p[0])}** | {ratio(b[1], p[1])}"
              f" | {ratio(b[2], p[2])} | {ratio(b[3], p[3])} | {ratio(b[4], p[4])} | |")

# Each round's proxies ran back to back, so the ratio within a round cancels
# the machine's slower drift; the spread of those ratios shows the noise, and
# mean ± 2 standard errors is the interval a target is judged against (a
# difference of a few percent needs dozens of rounds here: bench/README.md).
def spread(ratios):
    text = f"{median(ratios):.2f}× ({ratios[0]:.2f}–{ratios[-1]:.2f}"
    if len(ratios) >= 3:
        text += f"; {mean(ratios):.3f} ± {2 * stdev(ratios) / len(ratios) ** 0.5:.3f}"
    return text + ")"

print()
for case in cases:
    parts = []
    for other in ("nginx", "bulwark-plain"):
        if (case, other) not in by_round:
            continue
        mine, theirs = by_round[(case, "bulwark")], by_round[(case, other)]
        ratios = sorted(mine[r] / theirs[r] for r in mine if r in theirs and theirs[r])
        parts.append(f"bulwark/{other} {spread(ratios)}")
    print(f"Per-round req/s ratios, {case}: median (range; mean ± 2 SE) " + ", ".join(parts) + ".")

bulwark, worker = (max(medians(case, who)[6] for case in cases) for who in ("bulwark", "nginx"))
print()
print("RSS: VmRSS after each run, nginx's master and worker summed (which counts the binary and libraries"
      f" mapped in both twice); largest over the cases, nginx's worker alone: {worker / 1024:.1f} MiB,"
      f" bulwark {bulwark / 1024:.1f} MiB, bulwark/worker {ratio(bulwark, worker)}."
      " CPU: utime+stime of the proxy's processes over the run, per request and as a share of one core."
      " \"upstream alone\": wrk straight to the upstream, once per case."
      + (" bulwark-plain: the same route with the same rate limit at scope: local, in the same rounds."
         if os.environ.get("POLICIES") == "cluster" else
         " bulwark-plain (when present): bulwark without the access log and the policies, in the same rounds."))
PY
}

# --- main ------------------------------------------------------------------

main() {
  [[ -x $BIN/bulwark && -x $BIN/demo-upstream ]] || die "no bulwark or demo-upstream in $BIN (make build, or set BIN)"
  local tool
  for tool in nginx wrk taskset curl python3; do
    command -v "$tool" >/dev/null || die "$tool not found (run scripts/setup.sh)"
  done
  ((ROUNDS >= 1 && DURATION >= 1)) || die "ROUNDS and DURATION must be at least 1"
  START_LOAD=$(cut -d' ' -f1 /proc/loadavg)
  workdir=$(mktemp -d /tmp/bulwark-bench.XXXXXX)
  : >"$workdir/runs.txt"

  start_upstream
  start_proxies
  log "upstream :$upstream_port ($UPSTREAM), $(for p in "${PROXIES[@]}"; do printf '%s :%s, ' "$p" "${proxy_ports[$p]}"; done)" \
    "$ROUNDS rounds × ${#CASES[@]} cases × ${#PROXIES[@]} proxies × $DURATION s"
  measure_direct
  warm_up
  run_rounds
  report
}

main "$@"
