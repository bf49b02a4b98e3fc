#!/usr/bin/env bash
# Every performance figure, each with its baseline from the same run, written to
# docs/performance.md: the benches and tools append their figures to one JSON-lines file
# (BENCH_REPORT) and scripts/report/render.py fills docs' template (scripts/report/
# performance.md) with them, the machine and the commit. A rerun replaces the whole file.
#
#   1. the Lambda artifact: arm64 zip, boot check and init time under qemu  (build-lambda.sh)
#   2. the fan-out at API Gateway's limits: latency fixed and varying, account throttle,
#      the quick start's way under the same throttle          (cargo bench … perf -- limits)
#   3. the gateway's memory per idle connection, at scale, after churn   (perf -- memory)
#   4. the fan-out against sequential @connections calls, per push client   (bench fanout)
#   5. streams: the fan-out with streams on against off, a replay of 1,000 missed messages
#      against sequential @connections calls and against history pages      (bench history)
#   6. the bootstrap's peak memory for one fan-out through the gateway   (lambda-memory)
#   7. the bootstrap's CPU time and memory per fan-out, per push client  (lambda-fanout-rss)
#   8. one entity's 10^4 and 10^5 subscribers through the planner and the pushers, with and
#      without a 10,000/s throttle, 10^5 on DynamoDB Local, and the direct path at 10^4 and
#      10^5 for comparison                                            (bench scale), written
#      to docs/scale-figures.md with the command of each run
#
# Not part of scripts/test.sh: it takes over ten minutes on 2 cores, plus the artifact's
# fat-LTO cross build. Settings (environment):
#   BENCH_SUBSCRIBERS   subscribers of a fan-out (10000)
#   BENCH_CONNECTIONS   connections open at once (20000, or what the descriptor limit allows)
#   BENCH_LAMBDA_ARTIFACT=0   skips step 1; the document then says it was not measured
#   BENCH_INIT_RUNS     cold starts timed in step 1 (10)
#   BENCH_OUTPUT        the document to write (docs/performance.md), e.g. for a run at small sizes
#   BENCH_SCALE_OUTPUT  step 8's document (docs/scale-figures.md)
#   BENCH_SCALE_MILLION=1   step 8 runs 10^6 subscribers too, with and without the throttle
#                       (about three minutes more; otherwise 10^6 is run by hand, see the document)
#   BENCH_VERBOSE=1     prints the gateway's warnings too
# scripts/profile-fanout.sh profiles the fan-out of step 4.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WSPUSH_ROOT"

SUBSCRIBERS="${BENCH_SUBSCRIBERS:-10000}"
CONNECTIONS="${BENCH_CONNECTIONS:-20000}"
OUTPUT="${BENCH_OUTPUT:-$WSPUSH_ROOT/docs/performance.md}"
SCALE_OUTPUT="${BENCH_SCALE_OUTPUT:-$WSPUSH_ROOT/docs/scale-figures.md}"
ARTIFACT_TABLE='The Lambda artifact (`build-lambda.sh`, `lambda-boot`)'

# 20,000 clients in this process and 20,000 sockets in the gateway: raise the descriptor limit
# for this script and its children only. Where the hard limit cannot be raised (a container
# that refuses setrlimit, even to root), the scale figure uses what fits under it, and the
# document's header says so.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
connections_note=""
if [ -z "${BENCH_CONNECTIONS:-}" ] && [ "$(ulimit -n)" -lt 21000 ]; then
  CONNECTIONS=$(( $(ulimit -n) - 1000 ))
  connections_note=" (the descriptor limit, $(ulimit -n), cannot be raised here)"
  log "descriptor limit $(ulimit -n) cannot be raised here: the scale figure uses $CONNECTIONS connections"
fi
# The smaller idle and churn figures: 5,000 connections, a quarter of a small run's.
FEW=$(( CONNECTIONS >= 10000 ? 5000 : CONNECTIONS / 4 ))
# The throttle's burst, a tenth of a small run's fan-out: the bench compares the time beyond
# the burst with the token bucket's ideal.
BURST=$(( SUBSCRIBERS >= 10000 ? 1000 : SUBSCRIBERS / 10 ))

started=$(date +%s)
measured_commit="$(tree_commit)"
log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(cargo --version); descriptor limit $(ulimit -n)"
ensure_python_tools
PY="$WSPUSH_VENV/bin/python"
work="$(mktemp -d)"
cleanup() { stop_dynamodb_local; rm -rf "$work"; }
trap cleanup EXIT
export BENCH_REPORT="$work/figures.jsonl"
: >"$BENCH_REPORT"

# The artifact first, so that a failing build or install ends the run before the benches;
# its figures are appended after theirs.
if [ "${BENCH_LAMBDA_ARTIFACT:-1}" = "0" ]; then
  artifact="not measured in this run (BENCH_LAMBDA_ARTIFACT=0)"
  "$PY" -c 'import json, sys; print(json.dumps({"table": sys.argv[1], "note": sys.argv[2]}, ensure_ascii=False))' \
    "$ARTIFACT_TABLE" "Not measured in this run: \`BENCH_LAMBDA_ARTIFACT=0 bash scripts/bench.sh\` skips it." \
    >"$work/artifact.jsonl"
else
  log "1. the Lambda artifact (arm64): build, boot check, init time"
  artifact="arm64, init timed ${BENCH_INIT_RUNS:-10} times"
  BENCH_REPORT="$work/artifact.jsonl" BUILD_LAMBDA_INIT_RUNS="${BENCH_INIT_RUNS:-10}" bash scripts/build-lambda.sh
fi

start_dynamodb_local
trap cleanup EXIT # start_dynamodb_local set its own
bench() { cargo bench --locked -p wspush-gateway "$@"; }

log "2. fan-out at API Gateway's limits"
bench --bench perf -- limits --subscribers "$SUBSCRIBERS" --latency-ms 20 --throttle-rps 2000 --throttle-burst "$BURST"

log "3. gateway memory (idle per connection, scale, churn)"
bench --bench perf -- memory \
  --idle "$FEW,$CONNECTIONS" --churn "$FEW" --connections "$CONNECTIONS" --subscribers "$SUBSCRIBERS"

log "4. fan-out against sequential @connections calls, embedded store"
bench --bench fanout -- --subscribers "$SUBSCRIBERS" --store embedded

log "5. streams: history write on a fan-out, replay of missed messages, embedded store"
bench --bench history -- --subscribers "$SUBSCRIBERS" --missed 1000 --store embedded

log "6. bootstrap's peak memory for one $SUBSCRIBERS-subscriber fan-out through the gateway"
# Built on their own: the bootstrap with the runtime's features only, as it ships, and the tools.
# The gateway is the one the benches above built.
cargo build --locked --release -p wspush-runtime --bin bootstrap
cargo build --locked --release -p wspush-tools --bins
release="${CARGO_TARGET_DIR:-$WSPUSH_ROOT/target}/release"
"$release/lambda-memory" --subscribers "$SUBSCRIBERS" --bootstrap "$release/bootstrap" \
  --gateway "$release/wspush-gateway"

log "7. bootstrap's CPU time per $SUBSCRIBERS-subscriber fan-out, per push client"
"$release/lambda-fanout-rss" --subscribers "$SUBSCRIBERS" --bootstrap "$release/bootstrap" \
  --push-clients sdk,signed-http --rounds 2

cat "$work/artifact.jsonl" >>"$BENCH_REPORT"
log "benches done in $(($(date +%s) - started)) s; writing $OUTPUT"
"$PY" scripts/report/render.py --commit "$measured_commit" --figures "$BENCH_REPORT" --template scripts/report/performance.md \
  --output "$OUTPUT" --command "bash scripts/bench.sh" --started "$started" \
  --param "subscribers per fan-out=$SUBSCRIBERS" \
  --param "connections at once=$CONNECTIONS$connections_note" \
  --param "Lambda artifact=$artifact"

log "8. scale: one entity's subscribers through the planner and the pushers"
scale_runs=(
  "--subscribers 10000"
  "--subscribers 10000 --throttle-rps 10000"
  "--subscribers 100000"
  "--subscribers 100000 --throttle-rps 10000"
  "--subscribers 10000 --direct"
  "--subscribers 100000 --direct"
  "--subscribers 100000 --store dynamodb"
)
if [ "${BENCH_SCALE_MILLION:-0}" = "1" ]; then
  scale_runs+=("--subscribers 1000000" "--subscribers 1000000 --throttle-rps 10000")
fi
scale_failed=0
: >"$work/scale-runs.md"
for run in "${scale_runs[@]}"; do
  : >"$work/scale-run.txt"
  # shellcheck disable=SC2086 # each run is a list of options
  bench --bench scale -- $run --out "$work/scale-run.txt" || scale_failed=1
  printf '```text\n$ cargo bench -p wspush-gateway --bench scale -- %s\n%s\n```\n\n' \
    "$run" "$(cat "$work/scale-run.txt")" >>"$work/scale-runs.md"
done
if [ "${BENCH_SCALE_MILLION:-0}" = "1" ]; then
  million_note="The 10^6 runs are part of this one (\`BENCH_SCALE_MILLION=1\`)."
else
  million_note="10^6 is not part of this run: it takes minutes more. Run it by hand with \`cargo bench -p wspush-gateway --bench scale -- --subscribers 1000000 [--throttle-rps 10000]\`, or have this file written with it by \`BENCH_SCALE_MILLION=1 bash scripts/bench.sh\`."
fi
cat >"$SCALE_OUTPUT" <<EOF
# Scale: one entity's subscribers through the planner and the pushers

Written by \`bash scripts/bench.sh\` (step 8) at commit $measured_commit on $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr). A rerun replaces this file.

Each run is one PutEvents of an "Entity Updated" event to the n subscribers of one entity, on the
embedded store unless it says \`--store dynamodb\` (DynamoDB Local): n - K virtual connections (ids with no socket, whose pushes the gateway counts
after the same SigV4 and throttle checks as a socket's) and K real WebSocket clients (1,000, or
a tenth of n). \`delivered\`, \`missing\` and \`repeated\` count both; \`secs\` runs from
PutEvents accepted to the last first copy. With \`--throttle-rps R\` (the account throttle, and
the pushers' shared rate), \`ideal_secs\` is the token bucket's time for n calls,
max(0, n - R/2) / R, and \`ratio\` is secs / ideal_secs. \`--direct\` has the events function
push to everyone itself instead of planning. \`gateway/benches/scale.rs\` says more.

$(cat "$work/scale-runs.md")

$million_note
EOF
log "scale figures written to $SCALE_OUTPUT"
if [ "$scale_failed" = 1 ]; then
  echo "bench.sh: a scale run missed a subscriber or a real client's single copy; see $SCALE_OUTPUT" >&2
  exit 1
fi
