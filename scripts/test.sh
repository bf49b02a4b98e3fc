#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs (Java and DynamoDB Local,
# Python clients, the aws CLI, node packages, Chromium), starts DynamoDB Local, runs every test, and stops
# every server it started. `.ci/run` calls exactly this.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WSPUSH_ROOT"

started=$(date +%s)
log "toolchain: $(cargo --version)"
ensure_python_tools
start_dynamodb_local

log "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

log "Rust tests (runtime, gateway, infra) with DynamoDB Local at $DYNAMODB_ENDPOINT"
cargo test --workspace --locked 2>&1 | tee "$WSPUSH_TOOLS/cargo-test.log"

log "scale test: 10,000 subscribers through the planner and the pushers, embedded store and DynamoDB Local"
cargo test --locked -p wspush-gateway --test scale -- --ignored --test-threads 1

log "end-to-end suite (real aws CLI and WebSocket clients against the local gateway)"
bash scripts/e2e.sh

log "browser suite (headless Chromium against the gateway and its console)"
bash scripts/browser.sh

log "client library tests (clients/js: unit tests, protocol tests against a fake server)"
(cd clients/js && npm ci --no-audit --no-fund --loglevel=error && npm run build && npm test)

log "resume suite (the client library through cuts, rollovers and restarts, in Node and Chromium)"
bash scripts/resume.sh

log "short load, fault and soak runs (stress/, figures printed)"
bash scripts/stress.sh short

log "all tests passed in $(($(date +%s) - started)) s"
