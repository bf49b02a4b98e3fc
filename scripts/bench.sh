#!/usr/bin/env bash
# Every performance figure, each printed with its baseline from the same run:
#   1. the fan-out at API Gateway's limits (latency fixed and varying, account throttle,
#      quick-start baseline)
#   2. the gateway's memory per idle connection, at 20,000 connections, after churn
#   3. the 10,000-subscriber fan-out against sequential @connections calls (embedded store),
#      once per push client (signed HTTP requests, the SDK client)
#   4. the bootstrap binary's peak memory for one 10,000-subscriber fan-out (DynamoDB Local)
# Not part of scripts/test.sh: it takes about 10 minutes on 2 cores (591 s on 2026-12-04,
# before the jitter scenario added about a minute). Figures are printed on
# stdout; set BENCH_VERBOSE=1 to see the gateway's warnings too. scripts/profile-fanout.sh
# profiles the fan-out figure (3.).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WSPUSH_ROOT"

SUBSCRIBERS="${BENCH_SUBSCRIBERS:-10000}"
CONNECTIONS="${BENCH_CONNECTIONS:-20000}"

# 20,000 clients in this process and 20,000 sockets in the gateway: raise the descriptor limit
# for this script and its children only. Where the hard limit cannot be raised (a container
# that refuses setrlimit, even to root), the scale figure uses what fits under it, and says so.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ -z "${BENCH_CONNECTIONS:-}" ] && [ "$(ulimit -n)" -lt 21000 ]; then
  CONNECTIONS=$(( $(ulimit -n) - 1000 ))
  log "descriptor limit $(ulimit -n) cannot be raised here: the scale figure uses $CONNECTIONS connections"
fi
log "descriptor limit for the benches: $(ulimit -n)"

started=$(date +%s)
log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(cargo --version)"
start_dynamodb_local

bench() { cargo bench --locked -p wspush-gateway "$@"; }

log "1. fan-out at API Gateway's limits"
bench --bench perf -- limits --subscribers "$SUBSCRIBERS" --latency-ms 20 --throttle-rps 2000 --throttle-burst 1000

log "2. gateway memory (idle per connection, scale, churn)"
bench --bench perf -- memory \
  --idle "5000,$CONNECTIONS" --churn 5000 --connections "$CONNECTIONS" --subscribers "$SUBSCRIBERS"

log "3. fan-out against sequential @connections calls, embedded store"
bench --bench fanout -- --subscribers "$SUBSCRIBERS" --store embedded

log "4. bootstrap's peak memory for one $SUBSCRIBERS-subscriber fan-out"
cargo build --locked --release -p wspush-runtime --bin bootstrap -p wspush-gateway --bin wspush-gateway
release="${CARGO_TARGET_DIR:-$WSPUSH_ROOT/target}/release"
cargo run --locked --release -p wspush-tools --bin lambda-memory -- \
  --subscribers "$SUBSCRIBERS" --bootstrap "$release/bootstrap" --gateway "$release/wspush-gateway"

log "benches done in $(($(date +%s) - started)) s"
