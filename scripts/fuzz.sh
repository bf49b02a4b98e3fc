#!/usr/bin/env bash
# Fuzzes the runtime's and the gateway's entry points with cargo-fuzz (libFuzzer, nightly):
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# runs each target (default: all of them, see fuzz/Cargo.toml) for SECONDS (default 60), from
# the committed seeds in fuzz/seeds/TARGET plus what earlier runs found (fuzz/corpus/TARGET,
# not committed), and prints per target the executions, the corpus size and whether it
# crashed. A crash leaves its input in fuzz/artifacts/TARGET/ and makes the script exit 1;
# reproduce it with `fuzz/target/<host>/release/TARGET fuzz/artifacts/TARGET/crash-…`, then
# turn it into a named regression test (runtime/tests/properties.rs, gateway/tests/properties.rs).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WSPUSH_ROOT/fuzz"

CARGO_FUZZ_VERSION="0.13.2"
seconds="${1:-60}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]  (SECONDS: a whole number >= 1)" >&2
  exit 2
fi

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  log "installing the nightly toolchain (cargo-fuzz needs -Z sanitizer flags)"
  rustup toolchain install nightly --profile minimal >&2
fi
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION from crates.io"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked >&2
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

# The fuzz crate has its own lock file and target directory, whatever the caller exports.
unset CARGO_TARGET_DIR
target_dir="$PWD/target"
host="$(rustc -vV | sed -n 's/^host: //p')"
log "building ${targets[*]} (nightly, AddressSanitizer, debug assertions)"
for target in "${targets[@]}"; do
  cargo +nightly fuzz build --target-dir "$target_dir" "$target" >&2
done

dict_for() {
  case "$1" in
    connections_path) echo "dict/paths.dict" ;;
    token_verify) echo "" ;;
    *) echo "dict/json.dict" ;;
  esac
}

summary=()
crashed=0
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  log "fuzzing $target for $seconds s"
  log_file="artifacts/$target/last-run.log"
  dict="$(dict_for "$target")"
  args=(
    "-max_total_time=$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048
    -print_final_stats=1 "-artifact_prefix=artifacts/$target/"
    # The gateway's state keeps accepted events in queues nobody polls here (by design; the
    # targets rebuild it every 500 inputs), which LeakSanitizer would scan for after every
    # input. Memory growth is caught by -rss_limit_mb instead.
    -detect_leaks=0
  )
  [ -n "$dict" ] && args+=("-dict=$dict")
  status=0
  RUST_LOG=off "$target_dir/$host/release/$target" "${args[@]}" \
    "corpus/$target" "seeds/$target" >"$log_file" 2>&1 || status=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log_file" | tail -n 1)"
  if [ -z "$runs" ]; then
    runs="$(grep -oE '^#[0-9]+' "$log_file" | tail -n 1 | tr -d '#')"
  fi
  corpus="$(find "corpus/$target" -type f | wc -l)"
  if [ "$status" -eq 0 ]; then
    result="ok"
  else
    crashed=1
    artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log_file" | tail -n 1)"
    result="CRASH (exit $status) ${artifact:-see $log_file}"
    grep -m 5 -E "panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer" "$log_file" >&2 || true
  fi
  summary+=("$(printf '%-18s %12s runs %6s/s  corpus %5s  %s' "$target" "${runs:-?}" \
    "$(( ${runs:-0} / seconds ))" "$corpus" "$result")")
done

log "fuzzing summary ($seconds s per target; logs in fuzz/artifacts/TARGET/last-run.log)"
printf '%s\n' "${summary[@]}"
exit "$crashed"
