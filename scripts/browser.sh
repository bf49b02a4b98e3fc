#!/usr/bin/env bash
# Browser end-to-end tests: headless Chromium against the local gateway and its console.
#   1. installs Debian's chromium and chromium-driver (and a font, so screenshots have text),
#      the aws CLI v1 (.tools/venv) and playwright-core (e2e/browser, npm ci from the committed
#      lock; it drives the Debian browser, nothing is downloaded by Playwright);
#   2. builds the gateway binary and starts two on free ports on 127.0.0.1 (embedded store): the
#      one under test, with the deployed settings, and a second with its own secret that plays a
#      deployed stack for the console;
#   3. runs e2e/browser/*.test.mjs with node's test runner, one file at a time;
#   4. stops both gateways, whatever happened.
# Screenshots of the console's key states land in .tools/browser-screenshots/.
# Exits non-zero when anything fails.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WSPUSH_ROOT"

ensure_chromium
chromium --version
ensure_python_tools
ensure_node
log "playwright-core (e2e/browser, npm ci)"
(cd e2e/browser && npm ci --no-audit --no-fund --loglevel=error)

log "build the gateway"
cargo build --locked -p wspush-gateway
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | "$WSPUSH_VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
GATEWAY_BIN="$TARGET_DIR/debug/wspush-gateway"
test -x "$GATEWAY_BIN"

GATEWAY_PIDS=()
stop_gateways() {
  local pid
  for pid in "${GATEWAY_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  GATEWAY_PIDS=()
}
trap stop_gateways EXIT

# start_gateway NAME ARGS...: starts the gateway on a free port with ARGS, logs to
# .tools/browser-NAME.log, and sets STARTED_ADDRESS once it listens. Not run in a subshell, so
# that its pid stays in GATEWAY_PIDS for stop_gateways.
start_gateway() {
  local name="$1" out="$WSPUSH_TOOLS/browser-$1.out" log="$WSPUSH_TOOLS/browser-$1.log" pid address=
  shift
  STARTED_ADDRESS=
  "$GATEWAY_BIN" --port 0 "$@" >"$out" 2>"$log" &
  pid=$!
  GATEWAY_PIDS+=("$pid")
  for _ in $(seq 1 100); do
    address="$(sed -n 's/^listening on \(127\.0\.0\.1:[0-9]*\)$/\1/p' "$out" | head -n 1)"
    if [ -n "$address" ]; then
      STARTED_ADDRESS="$address"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$log" >&2
      echo "browser.sh: the $name gateway exited during start-up" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "browser.sh: the $name gateway printed no address within 10 s" >&2
  return 1
}

log "start the gateways"
# The deployed settings: an event the runtime refuses reaches the dead-letter queue on its first
# receive, so the console's dead-letter test needs no shorter visibility timeout.
start_gateway gateway
address="$STARTED_ADDRESS"
# A second gateway with a random secret of its own plays a deployed stack for the console.
start_gateway remote
remote_address="$STARTED_ADDRESS"
log "gateway at http://$address, the stand-in for a deployed stack at http://$remote_address"

export WSPUSH_GATEWAY_URL="http://$address"
export WSPUSH_REMOTE_GATEWAY_URL="http://$remote_address"
export WSPUSH_AWS_BIN="$WSPUSH_VENV/bin/aws"
export WSPUSH_SCREENSHOTS="$WSPUSH_TOOLS/browser-screenshots"
status=0
(cd e2e/browser && node --test --test-concurrency=1 --test-reporter=spec \
  websocket.test.mjs console.test.mjs) || status=1

if [ "$status" -ne 0 ]; then
  echo "browser.sh: FAILED (gateway logs: $WSPUSH_TOOLS/browser-*.log)" >&2
fi
exit "$status"
