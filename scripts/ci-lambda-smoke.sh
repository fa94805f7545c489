#!/usr/bin/env bash
# The cdc-processor binary on a Lambda runtime emulator, against an AWS emulator (CI runs every
# scripts/ci-*.sh): moto on a free 127.0.0.1 port with the resources the function needs,
# `cargo lambda watch` serving the function with its environment pointing at moto, and
# `cargo lambda invoke --data-file events/sample-cdc-event.json` twice: the first response must
# report no failures and the events must reach the bus rule's queue (bad records the DLQ); the
# second must publish nothing new (checkpoints). Works offline.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null

event=${1:-events/sample-cdc-event.json}
[ -f "$event" ] || { echo "lambda-smoke: $event not found" >&2; exit 1; }
py=.venv/bin/python
cargo_lambda=.venv/bin/cargo-lambda
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

work=$(mktemp -d)
moto_pid=""
watch_pid=""
cleanup() {
  [ -n "$watch_pid" ] && kill -- "-$watch_pid" 2>/dev/null || true
  [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "lambda-smoke: interrupted" >&2; tail -40 "$work/watch.log" "$work/invoke.err" >&2 2>/dev/null; exit 130' INT TERM

moto_port=$(free_port)
.venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
moto_pid=$!
endpoint="http://127.0.0.1:$moto_port"
for _ in $(seq 1 100); do
  "$py" -c "import urllib.request; urllib.request.urlopen('$endpoint/moto-api/')" 2>/dev/null && break
  sleep 0.2
done
"$py" scripts/lambda_smoke.py setup "$endpoint" "$work/env"

invoke_port=$(free_port)
# Its own process group, so cleanup ends the function process it starts too.
setsid "$cargo_lambda" lambda watch --invoke-address 127.0.0.1 --invoke-port "$invoke_port" \
  --ignore-changes --env-file "$work/env" -p cdc-processor >"$work/watch.log" 2>&1 &
watch_pid=$!

invoke() {
  "$cargo_lambda" lambda invoke cdc-processor --invoke-address 127.0.0.1 \
    --invoke-port "$invoke_port" --data-file "$event" >"$1" 2>"$work/invoke.err"
}

# The first invoke waits for the build (debug, shared target dir); retry while the server starts.
# Once the function has initialized ("init done" in its log), a few failures are enough to tell.
deadline=$((SECONDS + 1500))
failures_after_init=0
until invoke "$work/response1.json"; do
  grep -q '"init done"' "$work/watch.log" && failures_after_init=$((failures_after_init + 1))
  if [ $SECONDS -ge $deadline ] || [ $failures_after_init -ge 3 ] || ! kill -0 "$watch_pid" 2>/dev/null; then
    echo "lambda-smoke: the function did not answer" >&2
    tail -50 "$work/watch.log" "$work/invoke.err" >&2
    exit 1
  fi
  sleep 2
done
echo "lambda-smoke: first response: $(cat "$work/response1.json")"
"$py" scripts/lambda_smoke.py check "$endpoint" "$event" "$work/response1.json" "$work/watch.log" \
  || { tail -80 "$work/watch.log" >&2; exit 1; }

invoke "$work/response2.json"
echo "lambda-smoke: second response: $(cat "$work/response2.json")"
# The metrics line of the second invocation is the log's last.
"$py" scripts/lambda_smoke.py check "$endpoint" "$event" "$work/response2.json" "$work/watch.log" --again \
  || { tail -80 "$work/watch.log" >&2; exit 1; }
echo "lambda-smoke: ok"
