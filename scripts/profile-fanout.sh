#!/usr/bin/env bash
# Profiles the 10,000-subscriber fan-out (embedded store) with linux-perf and prints where the
# gateway's CPU goes, by component (the runtime's SDK calls, the @connections server, the
# WebSocket writes, the kernel's TCP) and by function.
#
#   bash scripts/profile-fanout.sh [subscribers] [rounds] [extra gateway options...]
#
# The runtime pushes with the deployed client (signed-http); PUSH_CLIENT=sdk profiles the SDK
# client instead. The bench's sequential baseline is skipped: only the fan-outs are recorded.
#
# Only the fan-outs are recorded: perf starts disabled and the fanout bench turns it on and off
# through perf's control FIFO (BENCH_PERF_CONTROL). The gateway is built with the `profiling`
# cargo profile (release with symbols); samples are taken system-wide, so the report also shows
# how much the bench's own WebSocket clients took. The recording stays in
# target/profile-fanout.perf.data for `perf report -i`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WSPUSH_ROOT"

SUBSCRIBERS="${1:-10000}"
ROUNDS="${2:-4}"
shift $(( $# < 2 ? $# : 2 ))
TARGET="${CARGO_TARGET_DIR:-$WSPUSH_ROOT/target}"
DATA="$TARGET/profile-fanout.perf.data"

command -v perf >/dev/null 2>&1 || apt_install linux-perf
ensure_python_tools

log "building the gateway with symbols (profile: profiling) and the fanout bench"
cargo build --locked --profile profiling -p wspush-gateway --bin wspush-gateway
cargo bench --locked -p wspush-gateway --bench fanout --no-run

work="$(mktemp -d)"
perf_pid=""
cleanup() {
  [ -n "$perf_pid" ] && kill -INT "$perf_pid" 2>/dev/null && wait "$perf_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkfifo "$work/control"
# The extra options go to the gateway through a wrapper the bench starts instead of it.
{
  printf '#!/usr/bin/env bash\nexec %q' "$TARGET/profiling/wspush-gateway"
  [ $# -gt 0 ] && printf ' %q' "$@"
  printf ' "$@"\n'
} >"$work/gateway"
chmod +x "$work/gateway"

log "recording $ROUNDS fan-outs to $SUBSCRIBERS subscribers"
perf record -F 1999 -g --call-graph dwarf,16384 -a -o "$DATA" \
  --control "fifo:$work/control" -D -1 -- sleep 3600 >"$work/perf.log" 2>&1 &
perf_pid=$!
sleep 1
bench_status=0
BENCH_PERF_CONTROL="$work/control" WSPUSH_GATEWAY_BIN="$work/gateway" \
  cargo bench --locked -p wspush-gateway --bench fanout -- \
  --subscribers "$SUBSCRIBERS" --rounds "$ROUNDS" --push-clients "${PUSH_CLIENT:-signed-http}" \
  --skip-baseline || bench_status=$?
kill -INT "$perf_pid"
wait "$perf_pid" 2>/dev/null || true
perf_pid=""

log "samples by thread"
perf report -i "$DATA" --no-children --sort pid,comm -g none -q 2>/dev/null | head -8 || true
log "the gateway's CPU by component, and its hottest functions"
perf script -i "$DATA" --comm tokio-rt-worker -F pid,tid,ip,sym,dso 2>/dev/null |
  "$WSPUSH_VENV/bin/python" "$WSPUSH_ROOT/scripts/perf_components.py" "$TARGET/profiling/wspush-gateway"
if [ "$bench_status" -ne 0 ]; then
  echo "the bench failed (exit $bench_status); the report above covers the fan-outs recorded before" >&2
  exit "$bench_status"
fi
