#!/usr/bin/env bash
# End-to-end suite of the local gateway, on a fresh machine:
#   1. installs its clients: the Python venv in .tools/venv (pytest, websockets, the aws CLI v1,
#      jsonschema, PyJWT; scripts/lib.sh), the AsyncAPI parser in e2e/asyncapi and the OpenID
#      provider in e2e/oidc (npm ci, from the committed locks);
#   2. builds the gateway binary (dev profile: scripts/test.sh has just built it for the Rust
#      tests, so this costs nothing there);
#   3. runs the pytest suite in e2e/ twice: embedded store, then DynamoDB Local.
#
# DynamoDB Local must already be running with its endpoint in DYNAMODB_ENDPOINT
# (scripts/test.sh starts it). WSPUSH_E2E_STORES="embedded" runs the embedded half alone.
# Exits non-zero when anything fails; pytest's summary lines are printed for each run.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WSPUSH_ROOT"
STORES="${WSPUSH_E2E_STORES:-embedded dynamodb}"

case " $STORES " in
  *" dynamodb "*)
    if [ -z "${DYNAMODB_ENDPOINT:-}" ]; then
      echo "e2e.sh: DYNAMODB_ENDPOINT is not set; start DynamoDB Local and pass its endpoint," >&2
      echo "        or run WSPUSH_E2E_STORES=embedded scripts/e2e.sh for the embedded store only" >&2
      exit 2
    fi ;;
esac

ensure_python_tools
"$WSPUSH_VENV/bin/aws" --version

ensure_node
for package in e2e/asyncapi e2e/oidc; do
  log "node packages of $package (npm ci)"
  (cd "$package" && npm ci --no-audit --no-fund --loglevel=error)
done

log "build the gateway"
cargo build --locked -p wspush-gateway
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | "$WSPUSH_VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
export WSPUSH_GATEWAY_BIN="$TARGET_DIR/debug/wspush-gateway"
test -x "$WSPUSH_GATEWAY_BIN"

status=0
for store in $STORES; do
  log "end-to-end suite, $store store"
  WSPUSH_STORE="$store" "$WSPUSH_VENV/bin/python" -m pytest e2e -q -rfEP -p no:cacheprovider || status=1
done

if [ "$status" -ne 0 ]; then
  echo "e2e.sh: FAILED" >&2
fi
exit "$status"
