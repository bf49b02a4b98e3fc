#!/usr/bin/env bash
# End-to-end suite of the local gateway, on a fresh machine:
#   1. installs its clients: a Python venv in .tools/venv (pytest, websockets, the aws CLI v1,
#      jsonschema) and the AsyncAPI parser in e2e/asyncapi (npm ci, from the committed lock);
#   2. builds the gateway binary (release, default target dir);
#   3. runs the DynamoDB half of the store contract tests (cargo test --test store_contract);
#   4. runs the pytest suite in e2e/ twice: embedded store, then DynamoDB Local.
#
# DynamoDB Local must already be running; its endpoint comes in DYNAMODB_ENDPOINT
# (scripts/test.sh starts it). WSPUSH_E2E_STORES="embedded" runs the embedded half alone.
# Exits non-zero when anything fails; pytest's summary lines are printed for each run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STORES="${WSPUSH_E2E_STORES:-embedded dynamodb}"
VENV="$ROOT/.tools/venv"

step() { printf '\n== %s\n' "$*"; }

case " $STORES " in
  *" dynamodb "*)
    if [ -z "${DYNAMODB_ENDPOINT:-}" ]; then
      echo "e2e.sh: DYNAMODB_ENDPOINT is not set; start DynamoDB Local and pass its endpoint," >&2
      echo "        or run WSPUSH_E2E_STORES=embedded scripts/e2e.sh for the embedded store only" >&2
      exit 2
    fi ;;
esac

step "Python clients (.tools/venv)"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r e2e/requirements.txt
"$VENV/bin/aws" --version

step "AsyncAPI parser (e2e/asyncapi, npm ci)"
(cd e2e/asyncapi && npm ci --no-audit --no-fund --loglevel=error)

step "build the gateway (release)"
cargo build --release -p wspush-gateway
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
export WSPUSH_GATEWAY_BIN="$TARGET_DIR/release/wspush-gateway"
test -x "$WSPUSH_GATEWAY_BIN"

status=0
for store in $STORES; do
  if [ "$store" = dynamodb ]; then
    step "store contract against DynamoDB Local ($DYNAMODB_ENDPOINT)"
    cargo test -p wspush-gateway --test store_contract || status=1
  fi
  step "end-to-end suite, $store store"
  WSPUSH_STORE="$store" "$VENV/bin/python" -m pytest e2e -q -rfEP -p no:cacheprovider || status=1
done

if [ "$status" -ne 0 ]; then
  echo "e2e.sh: FAILED" >&2
fi
exit "$status"
