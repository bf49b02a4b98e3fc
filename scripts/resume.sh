#!/usr/bin/env bash
# The client library (@wspush/client) against the local gateway while its connections are cut:
#   1. installs what it needs: Debian's chromium, the aws CLI v1 (.tools/venv), the client
#      library's packages (clients/js, npm ci) and the tests' (e2e/resume: ws, playwright-core,
#      npm ci from the committed locks);
#   2. builds the library (clients/js/dist, which the tests import) and the gateway binary;
#   3. runs e2e/resume in Node (node.test.mjs) and in headless Chromium (browser.test.mjs), each
#      on the embedded store and on DynamoDB Local (a fresh table per gateway):
#      - continuity: 1,000 entity updates and 200 user notifications while connections are
#        deleted with the aws CLI every 1–2 s, the gateway closes each after 3 s, and (DynamoDB
#        Local) the gateway is killed and restarted mid-run; every message once and in order;
#      - gap: a gateway keeping 10 messages per stream, the client held away while 30 are
#        published; the loss is a `gap` event with its reason, and delivery goes on after it;
#   4. prints each run's summary line. The tests stop every gateway and browser they start.
#
# DynamoDB Local: the one at DYNAMODB_ENDPOINT (scripts/test.sh starts it), else one started
# here for the run. WSPUSH_RESUME_STORES="embedded" runs the embedded store alone.
# Gateway logs of the last run: .tools/resume-logs/. Exits non-zero when anything fails.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WSPUSH_ROOT"
started=$(date +%s)
STORES="${WSPUSH_RESUME_STORES:-embedded dynamodb}"

ensure_chromium
ensure_python_tools
ensure_node
case " $STORES " in
  *" dynamodb "*) [ -n "${DYNAMODB_ENDPOINT:-}" ] || start_dynamodb_local ;;
esac

log "the client library (clients/js: npm ci, build)"
(cd clients/js && npm ci --no-audit --no-fund --loglevel=error && npm run build)
log "the tests' packages (e2e/resume: npm ci)"
(cd e2e/resume && npm ci --no-audit --no-fund --loglevel=error)

log "build the gateway"
cargo build --locked -p wspush-gateway
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | "$WSPUSH_VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
export WSPUSH_GATEWAY_BIN="$TARGET_DIR/debug/wspush-gateway"
test -x "$WSPUSH_GATEWAY_BIN"

export WSPUSH_AWS_BIN="$WSPUSH_VENV/bin/aws"
export WSPUSH_RESUME_STORES="$STORES"
export WSPUSH_RESUME_SUMMARY="$WSPUSH_TOOLS/resume-summary.txt"
rm -rf "$WSPUSH_TOOLS/resume-logs"
: >"$WSPUSH_RESUME_SUMMARY"

log "resume suite: Node and headless Chromium, stores: $STORES"
status=0
(cd e2e/resume && node --test --test-concurrency=1 --test-reporter=spec node.test.mjs browser.test.mjs) || status=1

log "summary"
cat "$WSPUSH_RESUME_SUMMARY" >&2
if [ "$status" -ne 0 ]; then
  echo "resume.sh: FAILED (gateway logs: $WSPUSH_TOOLS/resume-logs/)" >&2
else
  log "resume suite passed in $(($(date +%s) - started)) s"
fi
exit "$status"
