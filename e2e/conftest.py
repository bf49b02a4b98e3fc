"""End-to-end fixtures: the built gateway binary, the real aws CLI, a real WebSocket client.

The gateway is started once per session from WSPUSH_GATEWAY_BIN with --port 0 and stopped
(SIGTERM, then kill) at the end. WSPUSH_STORE=dynamodb runs it against DYNAMODB_ENDPOINT
(DynamoDB Local) with a fresh table; the default is the embedded store. `running_gateway`
starts further gateways the same way with flags of their own (an identity provider, a
subscribe policy), and `failed_start` runs one that must refuse its flags.

The identity fixtures: `oidc_provider`, a real OpenID provider (e2e/oidc, identity.py) for the
session, and `subscribe_hook`, the application's subscribe hook (subscribe_hook.py) per module.

Every frame a test receives goes through `recv_json`, which checks it against the server
message schemas of docs/asyncapi.yaml as parsed by the real AsyncAPI parser (node), so the
document cannot drift from what the gateway sends.
"""

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import jsonschema
import pytest

from identity import running_provider
from subscribe_hook import SubscribeHook

ROOT = Path(__file__).resolve().parent.parent
SECRET = "e2e-secret-" + uuid.uuid4().hex
ASYNCAPI_DIR = ROOT / "e2e" / "asyncapi"


def aws_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_PAGER="",
    )
    return env


def aws_bin():
    beside = Path(sys.executable).parent / "aws"
    if beside.exists():
        return str(beside)
    found = shutil.which("aws")
    if not found:
        pytest.fail("the aws CLI is not installed (scripts/e2e.sh installs it in .tools/venv)")
    return found


class Gateway:
    def __init__(self, proc, port, log_path, store):
        self.proc = proc
        self.port = port
        self.log_path = log_path
        self.store = store
        self.http = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}/production"
        self.management = f"{self.http}/production"

    def aws(self, *args, endpoint=None, check=True, cwd=ROOT):
        """Runs the real aws CLI against the gateway; returns the CompletedProcess."""
        cmd = [aws_bin(), *args, "--endpoint-url", endpoint or self.http]
        done = subprocess.run(cmd, cwd=cwd, env=aws_env(), capture_output=True, text=True, timeout=60)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done

    def put_events(self, entries_file):
        out = self.aws("events", "put-events", "--entries", f"file://{entries_file}")
        return json.loads(out.stdout)

    def connections(self):
        with urllib.request.urlopen(f"{self.http}/_gateway/connections", timeout=10) as r:
            return json.load(r)["connections"]

    def connection_of(self, user_id, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            ids = [c["connectionId"] for c in self.connections() if c["authorizer"].get("principalId") == user_id]
            if ids:
                return ids[0]
            time.sleep(0.05)
        raise AssertionError(f"no open connection of {user_id}")


def gateway_binary():
    binary = os.environ.get("WSPUSH_GATEWAY_BIN") or str(ROOT / "target" / "release" / "wspush-gateway")
    if not Path(binary).exists():
        pytest.fail(f"gateway binary {binary} not found: build it (cargo build --release -p wspush-gateway) or set WSPUSH_GATEWAY_BIN")
    return binary


def store_args(store):
    """The flags that put the gateway on `store`: a fresh DynamoDB Local table for each gateway."""
    if store == "embedded":
        return []
    if store != "dynamodb":
        pytest.fail(f"WSPUSH_STORE must be embedded or dynamodb, not {store!r}")
    endpoint = os.environ.get("DYNAMODB_ENDPOINT")
    if not endpoint:
        pytest.fail("WSPUSH_STORE=dynamodb needs DYNAMODB_ENDPOINT (DynamoDB Local)")
    return ["--dynamodb-endpoint", endpoint, "--table", f"e2e-{uuid.uuid4().hex[:12]}"]


def gateway_env():
    """The test's environment without the gateway's own settings: only the flags configure it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSPUSH_") and k != "JWT_SECRET"}
    env.setdefault("RUST_LOG", "info")
    return env


def read_port(proc, banner, timeout=60):
    """The port of the gateway's "listening on" line, or None if it exits or stays silent."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            return None
        banner.append(line)
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            return int(m.group(1))
    return None


@contextlib.contextmanager
def running_gateway(log_dir, extra_args=()):
    """A gateway on a free port with `--jwt-secret SECRET`, the store of WSPUSH_STORE and
    `extra_args`; SIGTERM (then kill) when the block ends, and it must exit with 0."""
    store = os.environ.get("WSPUSH_STORE", "embedded")
    args = [gateway_binary(), "--port", "0", "--jwt-secret", SECRET, *store_args(store), *extra_args]
    log_path = Path(log_dir) / "gateway.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True, env=gateway_env())
    banner = []
    port = read_port(proc, banner)
    if port is None:
        proc.kill()
        proc.wait()
        log.close()
        pytest.fail(f"gateway did not start: {''.join(banner)}\n{log_path.read_text()}")

    # Keep draining stdout so the gateway never blocks on a full pipe.
    def drain():
        for line in proc.stdout:
            banner.append(line)

    threading.Thread(target=drain, daemon=True).start()
    gw = Gateway(proc, port, log_path, store)
    gw.banner = banner
    gw.table = args[args.index("--table") + 1] if "--table" in args else None
    try:
        yield gw
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        log.close()
        print(f"\ngateway ({store}) exited with {code}; log at {log_path}")
        assert code == 0, f"gateway exited with {code}:\n{log_path.read_text()[-4000:]}"


@pytest.fixture(scope="session")
def gateway(tmp_path_factory):
    with running_gateway(tmp_path_factory.mktemp("gateway")) as gw:
        yield gw


def failed_start(extra_args, timeout=60):
    """What the gateway prints when it refuses to start with `extra_args`: its exit code and its
    output. Fails the test if it is still running after `timeout` (it started instead)."""
    args = [gateway_binary(), "--port", "0", "--jwt-secret", SECRET, *extra_args]
    try:
        done = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=gateway_env(), timeout=timeout)
    except subprocess.TimeoutExpired as running:
        pytest.fail(f"the gateway did not refuse to start with {extra_args}:\n{running.output}")
    return done.returncode, done.stdout


# ---------------------------------------------------------------------------------------
# Identity: a real OpenID provider, and the application's subscribe hook.

# Seconds the provider's `brief` client's tokens live: long enough to connect, subscribe and
# receive one push on a loaded machine, short enough to wait out.
SHORT_LIFETIME = 8


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory):
    with running_provider(tmp_path_factory.mktemp("oidc"), SHORT_LIFETIME) as provider:
        yield provider


@pytest.fixture(scope="module")
def subscribe_hook():
    with SubscribeHook() as hook:
        yield hook


# ---------------------------------------------------------------------------------------
# AsyncAPI: the document parsed by the real parser, its message schemas used on every frame.


@pytest.fixture(scope="session")
def asyncapi(tmp_path_factory):
    script = ASYNCAPI_DIR / "validate.mjs"
    if not (ASYNCAPI_DIR / "node_modules" / "@asyncapi" / "parser").exists():
        pytest.fail("the AsyncAPI parser is not installed: run `npm ci` in e2e/asyncapi (scripts/e2e.sh does)")
    dump = tmp_path_factory.mktemp("asyncapi") / "messages.json"
    done = subprocess.run(
        ["node", str(script), str(ROOT / "docs" / "asyncapi.yaml"), "--dump", str(dump)],
        capture_output=True, text=True, timeout=120,
    )
    return {"returncode": done.returncode, "output": done.stdout + done.stderr,
            "messages": json.loads(dump.read_text()) if dump.exists() else []}


class FrameChecker:
    """Validates frames against the AsyncAPI message payloads of one direction."""

    def __init__(self, messages):
        socket = [m for m in messages if m["channel"] == "socket"]
        self.sent = [m for m in socket if m["action"] == "send"]
        # `unrouted` documents that any frame is answered; it would match everything.
        self.received = [m for m in socket if m["action"] == "receive" and m["name"] != "unrouted"]
        self.seen = {}
        # Schemas are checked once here; validating a frame is then cheap (1,000-socket tests).
        for message in self.sent + self.received:
            cls = jsonschema.validators.validator_for(message["payload"], default=jsonschema.Draft7Validator)
            cls.check_schema(message["payload"])
            message["validator"] = cls(message["payload"])

    def _match(self, candidates, frame):
        for message in candidates:
            if message["validator"].is_valid(frame):
                self.seen[message["name"]] = self.seen.get(message["name"], 0) + 1
                return message["name"]
        names = [m["name"] for m in candidates]
        raise AssertionError(f"frame {frame!r} matches none of the AsyncAPI messages {names}")

    def from_server(self, frame):
        return self._match(self.sent, frame)

    def from_client(self, frame):
        return self._match(self.received, frame)


@pytest.fixture(scope="session")
def frames(asyncapi):
    if asyncapi["returncode"] != 0 or not asyncapi["messages"]:
        pytest.fail(f"docs/asyncapi.yaml did not parse:\n{asyncapi['output']}")
    return FrameChecker(asyncapi["messages"])


# ---------------------------------------------------------------------------------------
# Tokens signed here, to make forged and expired ones the gateway must refuse.


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims, secret=SECRET, alg="HS256"):
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def token_for(user_id, secret=SECRET, lifetime=3600):
    now = int(time.time())
    return sign({"exp": now + lifetime, "iat": now, "data": {"userId": user_id, "firstName": "E", "lastName": "Two"}}, secret)


@pytest.fixture
def run():
    """Runs a coroutine to completion (tests stay plain functions, no plugin needed)."""
    return lambda coro: asyncio.run(coro)
