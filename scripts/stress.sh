#!/usr/bin/env bash
# The load, fault, soak and slow-reader scripts (stress/), on a fresh machine: installs their
# clients (the Python venv with botocore and websockets, DynamoDB Local), builds the gateway,
# runs them, and renders the figures they record (stress/harness.py `Report`, one table per
# run) with scripts/report/render.py. Each script starts and stops its own gateway and
# DynamoDB Local.
#
#   bash scripts/stress.sh short    # the short runs scripts/test.sh makes; the figures go to
#                                   # target/reliability-short.md, never to docs/
#   bash scripts/stress.sh full     # the full sizes: the burst and ten times it on each store,
#                                   # faults, a 10-minute soak of 2,000 clients on each store;
#                                   # rewrites docs/reliability.md (about half an hour)
#
# `short` uses the dev build (test.sh has just built it) and also runs the renderer's tests;
# `full` the release build. Either exits non-zero when a run fails: a lost event, an
# unexplained duplicate, a refused client or a leak. `full` writes the document all the same,
# with the criteria that were not met marked.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WSPUSH_ROOT"
MODE="${1:-short}"

ensure_python_tools
ensure_dynamodb_local
PY="$WSPUSH_VENV/bin/python"

case "$MODE" in
  short)
    cargo build --locked -p wspush-gateway
    profile=debug ;;
  full)
    cargo build --locked --release -p wspush-gateway
    profile=release ;;
  *)
    echo "usage: scripts/stress.sh [short|full]" >&2
    exit 2 ;;
esac
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
# The gateway under test is a copy, so a build in the same target directory cannot replace it
# between two runs.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$TARGET_DIR/$profile/wspush-gateway" "$work/wspush-gateway"
export WSPUSH_GATEWAY_BIN="$work/wspush-gateway"

started=$(date +%s)
measured_commit="$(tree_commit)"
export STRESS_REPORT="$work/figures.jsonl"
: >"$STRESS_REPORT"

status=0
run() {
  log "$*"
  "$PY" -m "$@" || status=1
}

if [ "$MODE" = short ]; then
  log "the figures renderer's tests"
  "$PY" -m unittest discover -s scripts/report -q
  run stress.load --requests 30 --subscribers 20 --senders 8
  run stress.faults --subscribers 5 --events 5 --freeze 5
  run stress.soak --clients 100 --minutes 0.5 --rate 5
  run stress.slow_reader --posts 500
  run stress.slow_body
  run stress.churn_memory --clients 1000
  run stress.flooder --seconds 15
  output="$TARGET_DIR/reliability-short.md"
else
  run stress.slow_reader --posts 5000
  run stress.churn_memory --clients 5000
  for store in embedded dynamodb; do
    run stress.load --requests 300 --subscribers 100 --senders 16 --store "$store" --wait-pool
    # Ten times the events; 20 subscribers, because at 100 the Python clients (one process)
    # and not the gateway set the pace of 3 million deliveries.
    run stress.load --requests 3000 --subscribers 20 --senders 16 --store "$store"
  done
  run stress.faults --subscribers 50 --events 50 --freeze 10
  for store in embedded dynamodb; do
    run stress.soak --clients 2000 --minutes 10 --store "$store"
  done
  output="$WSPUSH_ROOT/docs/reliability.md"
fi

"$PY" scripts/report/render.py --commit "$measured_commit" --figures "$STRESS_REPORT" --template scripts/report/reliability.md \
  --output "$output" --command "bash scripts/stress.sh $MODE" --started "$started" \
  --param "gateway build=$profile" --columns "figure,result,baseline,target=pass criterion"

[ "$status" -eq 0 ] || echo "stress.sh: FAILED" >&2
exit "$status"
