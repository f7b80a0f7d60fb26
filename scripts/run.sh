#!/usr/bin/env bash
# `make run`: the demo upstream on 127.0.0.1:9000 and bulwark in front of it
# with examples/quickstart.yaml. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-build/bin}
config=examples/quickstart.yaml

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$bin/demo-upstream" --listen 127.0.0.1:9000 --name demo >/dev/null &
pids+=($!)
"$bin/bulwark" check -c "$config" >/dev/null
"$bin/bulwark" run -c "$config" &
pids+=($!)

for _ in $(seq 50); do
  curl -fs -o /dev/null http://127.0.0.1:8080/healthz && break
  sleep 0.1
done

cat <<'MSG'

bulwark is running on http://127.0.0.1:8080 in front of the demo upstream (127.0.0.1:9000).
Try:
  curl -i http://127.0.0.1:8080/                 # proxied; note Via and X-Request-Id
  curl -i http://127.0.0.1:8080/headers          # what the upstream received (X-Forwarded-*)
  curl -i http://127.0.0.1:8080/stream/5         # a chunked response, streamed
  curl -i http://127.0.0.1:8080/delay/3000       # per_try_timeout 2s on /delay: a 504 problem+json
  curl -i http://127.0.0.1:8080/status/503       # upstream statuses pass through
Admin API:
  curl -s http://127.0.0.1:9901/admin/status     # listeners, upstreams, pools, config hash
  curl -s http://127.0.0.1:9901/metrics          # Prometheus metrics
  curl -s -X POST http://127.0.0.1:9901/admin/reload   # after editing examples/quickstart.yaml
Press Ctrl-C to stop.
MSG
wait -n
