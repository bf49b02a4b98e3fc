#!/usr/bin/env bash
# Builds the Lambda artifact: target/lambda/bootstrap/bootstrap.zip, the one zip every function
# of the stack deploys. arm64 (Graviton) is the default, as in infra/; pass --x86-64 for x86_64.
#
# Then proves the zipped binary runs as Lambda runs it: it boots against the wire-level Lambda
# Runtime API fake the native test uses and answers an authorizer invocation (no token ->
# Unauthorized, valid token -> Allow) and a test-token one (`lambda-boot check`,
# tools/src/bin/lambda_boot.rs). The arm64 binary runs under qemu-user with Debian's arm64
# glibc as its loader.
#
# Installs only what it uses: cargo-lambda (PyPI, pinned in scripts/build-lambda.requirements.txt;
# brings zig for cross-linking) in its own virtualenv, the target's Rust std, and for arm64
# Debian's qemu-user-static and libc6-arm64-cross.
#
# BUILD_LAMBDA_SKIP_CHECK=1 skips the boot check (e.g. to time the build alone).
# BUILD_LAMBDA_INIT_RUNS=N also times the zipped binary's init N times (`lambda-boot bench`,
# under the same emulator as the check), alone and configured with an OpenID provider whose
# discovery document and key set it fetches in init. With BENCH_REPORT naming a file (scripts/bench.sh),
# the zip's size, the check and the init time are appended to it for docs/performance.md.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WSPUSH_ROOT"

arch_flag="--arm64"
target="aarch64-unknown-linux-gnu"
if [ "${1:-}" = "--x86-64" ]; then
  arch_flag="--x86-64"
  target="x86_64-unknown-linux-gnu"
fi

lambda_venv="$WSPUSH_TOOLS/cargo-lambda-venv"
requirements="$WSPUSH_ROOT/scripts/build-lambda.requirements.txt"
if ! cmp -s "$requirements" "$lambda_venv/.requirements" 2>/dev/null; then
  log "installing cargo-lambda (PyPI; brings zig for cross-linking)"
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  python3 -m venv "$lambda_venv" >&2
  "$lambda_venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2
  cp "$requirements" "$lambda_venv/.requirements"
fi
export PATH="$lambda_venv/bin:$PATH"
rustup target list --installed | grep -qx "$target" || rustup target add "$target"

# The `lambda` profile (workspace Cargo.toml) sets LTO, codegen units, opt-level, strip and
# panic itself, so cargo-lambda adds none of its release defaults.
cargo lambda build --profile lambda "$arch_flag" --output-format zip -p wspush-runtime --bin bootstrap
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
zip="$target_dir/lambda/bootstrap/bootstrap.zip"
python3 - "$zip" "$target" <<'PY'
import json, os, sys, zipfile
path, target = sys.argv[1], sys.argv[2]
entries = zipfile.ZipFile(path).infolist()
zipped = os.path.getsize(path)
unzipped = sum(i.file_size for i in entries)
names = ", ".join(f"{i.filename} (mode {oct(i.external_attr >> 16 & 0o777)})" for i in entries)
print(f"built {path} for {target}: {zipped} bytes zipped, {unzipped} bytes unzipped: {names}")
if os.environ.get("BENCH_REPORT"):
    arch = target.split("-")[0]
    figure = {"table": "The Lambda artifact (`build-lambda.sh`, `lambda-boot`)",
              "figure": f"{arch} zip (`bootstrap.zip`, `lambda` profile)", "result": f"{zipped:,} B",
              "baseline": f"{unzipped:,} B unzipped", "ratio": zipped / unzipped,
              "target": "≤ 5 MB", "met": zipped <= 5_000_000}
    with open(os.environ["BENCH_REPORT"], "a") as report:
        report.write(json.dumps(figure, ensure_ascii=False) + "\n")
PY

if [ "${BUILD_LAMBDA_SKIP_CHECK:-}" = "1" ]; then
  log "boot check skipped (BUILD_LAMBDA_SKIP_CHECK=1)"
  exit 0
fi

# Check what ships: the binary as extracted from the zip.
unpacked="$(mktemp -d)"
trap 'rm -rf "$unpacked"' EXIT
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$zip" "$unpacked"
chmod 755 "$unpacked/bootstrap"

launcher=()
if [ "$target" = "aarch64-unknown-linux-gnu" ] && [ "$(uname -m)" != "aarch64" ]; then
  missing=()
  command -v qemu-aarch64-static >/dev/null 2>&1 || missing+=(qemu-user-static)
  [ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || missing+=(libc6-arm64-cross)
  if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
  export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
  launcher=(--qemu qemu-aarch64-static)
fi
log "boot check: ${launcher[*]:-native}"
cargo run --locked -q -p wspush-tools --bin lambda-boot -- check --bootstrap "$unpacked/bootstrap" "${launcher[@]}"

if [ -n "${BUILD_LAMBDA_INIT_RUNS:-}" ]; then
  log "init time, $BUILD_LAMBDA_INIT_RUNS runs: ${launcher[*]:-native}"
  cargo run --locked -q -p wspush-tools --bin lambda-boot -- \
    bench --runs "$BUILD_LAMBDA_INIT_RUNS" "${launcher[@]}" --identity-provider \
    "${target%%-*}=$unpacked/bootstrap"
fi
