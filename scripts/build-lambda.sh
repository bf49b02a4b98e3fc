#!/usr/bin/env bash
# Builds the Lambda artifact: target/lambda/bootstrap/bootstrap.zip, the one zip every function
# of the stack deploys. arm64 (Graviton) is the default, as in infra/; pass --x86-64 for x86_64.
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

if ! command -v cargo-lambda >/dev/null 2>&1 && [ ! -x "$WSPUSH_VENV/bin/cargo-lambda" ]; then
  ensure_python_tools
  log "installing cargo-lambda (PyPI; brings zig for cross-linking)"
  "$WSPUSH_VENV/bin/pip" install -q --disable-pip-version-check cargo-lambda==1.9.2 >&2
fi
export PATH="$WSPUSH_VENV/bin:$PATH"
rustup target list --installed | grep -qx "$target" || rustup target add "$target"

cargo lambda build --profile lambda "$arch_flag" --output-format zip -p wspush-runtime --bin bootstrap
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
zip="$target_dir/lambda/bootstrap/bootstrap.zip"
python3 - "$zip" "$target" <<'PY'
import os, sys, zipfile
path, target = sys.argv[1], sys.argv[2]
unzipped = sum(i.file_size for i in zipfile.ZipFile(path).infolist())
print(f"built {path} for {target}: {os.path.getsize(path)} bytes zipped, {unzipped} bytes unzipped")
PY
