#!/usr/bin/env bash
# Browser end-to-end tests: headless Chromium against the local gateway and its console.
#   1. installs Debian's chromium and chromium-driver (and a font, so screenshots have text),
#      the aws CLI v1 (.tools/venv) and playwright-core (e2e/browser, npm ci from the committed
#      lock; it drives the Debian browser, nothing is downloaded by Playwright);
#   2. builds the gateway binary and starts it on a free port on 127.0.0.1 (embedded store,
#      1 s visibility timeout so a refused event is dead-lettered within seconds);
#   3. runs e2e/browser/*.test.mjs with node's test runner, one file at a time;
#   4. stops the gateway, whatever happened.
# Screenshots of the console's key states land in .tools/browser-screenshots/.
# Exits non-zero when anything fails.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WSPUSH_ROOT"

ensure_chromium() {
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 \
    && [ -d /usr/share/fonts/truetype/dejavu ]; then
    return 0
  fi
  apt_install chromium chromium-driver fonts-dejavu-core
}

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

GATEWAY_OUT="$WSPUSH_TOOLS/browser-gateway.out"
GATEWAY_LOG="$WSPUSH_TOOLS/browser-gateway.log"
GATEWAY_PID=
stop_gateway() {
  if [ -n "$GATEWAY_PID" ]; then
    kill "$GATEWAY_PID" 2>/dev/null || true
    wait "$GATEWAY_PID" 2>/dev/null || true
    GATEWAY_PID=
  fi
}
trap stop_gateway EXIT

log "start the gateway"
# A 1 s visibility timeout (deployed: 180 s) lets a refused event use up its receives and reach
# the dead-letter queue within seconds, for the console's dead-letter test.
"$GATEWAY_BIN" --port 0 --visibility-timeout-secs 1 >"$GATEWAY_OUT" 2>"$GATEWAY_LOG" &
GATEWAY_PID=$!
address=
for _ in $(seq 1 100); do
  address="$(sed -n 's/^listening on \(127\.0\.0\.1:[0-9]*\)$/\1/p' "$GATEWAY_OUT" | head -n 1)"
  [ -n "$address" ] && break
  if ! kill -0 "$GATEWAY_PID" 2>/dev/null; then
    cat "$GATEWAY_LOG" >&2
    echo "browser.sh: the gateway exited during start-up" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$address" ]; then
  echo "browser.sh: the gateway printed no address within 10 s" >&2
  exit 1
fi
log "gateway at http://$address"

export WSPUSH_GATEWAY_URL="http://$address"
export WSPUSH_AWS_BIN="$WSPUSH_VENV/bin/aws"
export WSPUSH_SCREENSHOTS="$WSPUSH_TOOLS/browser-screenshots"
status=0
(cd e2e/browser && node --test --test-concurrency=1 --test-reporter=spec \
  websocket.test.mjs console.test.mjs) || status=1

if [ "$status" -ne 0 ]; then
  echo "browser.sh: FAILED (gateway log: $GATEWAY_LOG)" >&2
fi
exit "$status"
