"""What the load, fault and soak scripts share: the gateway and DynamoDB Local as processes,
their descriptors and memory read from /proc, WebSocket subscribers that count every push by
event id, and a PutEvents publisher on botocore (the aws CLI's own library).

Everything listens on 127.0.0.1 and every process started here is stopped by `close()`.
Figures are printed through `Report`, which also appends them to the file `STRESS_REPORT` names
(scripts/stress.sh renders that file into docs/reliability.md); they are never asserted against
wall-clock targets. The scripts exit non-zero only when something is lost, duplicated without a
reported retry, refused, or left behind.
"""

import asyncio
import json
import os
import re
import resource
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import botocore.session
import websockets

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
# API Gateway's answer to a frame over the stage's route throttling.
THROTTLED = "Too Many Requests"


def raise_fd_limit(wanted=65536):
    """More descriptors for this process only (thousands of client sockets), never globally."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stats(pid):
    """Open descriptors and resident memory (bytes) of a process, from /proc."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    return {"fds": fds, "rss": rss}


def mb(n):
    return f"{n / (1024 * 1024):.1f} MB"


class Report:
    """One run's figures: printed, and appended as JSON lines to the file `STRESS_REPORT` names,
    one table per run (scripts/report/render.py). A figure's target is the script's own pass
    criterion, and `met` whether this run met it."""

    def __init__(self, table):
        self.table = table
        print(table)

    def figure(self, figure, result, baseline=None, target=None, met=None):
        line = {"table": self.table, "figure": figure, "result": str(result)}
        text = f"  {figure + ':':<29} {result}"
        if baseline is not None:
            line["baseline"] = baseline
            text += f" | baseline: {baseline}"
        if target is not None:
            line["target"] = target
            text += f" | {target}"
        if met is not None:
            line["met"] = bool(met)
            text += " — met" if met else " — NOT met"
        print(text)
        path = os.environ.get("STRESS_REPORT")
        if path:
            with open(path, "a") as report:
                report.write(json.dumps(line, ensure_ascii=False) + "\n")

    def verdict(self, ok, why=""):
        """The run's verdict, the last row; `why` says where to look when it failed."""
        self.figure("verdict", "PASS" if ok else f"FAIL {why}".strip(), target="every criterion above", met=ok)
        return ok


class DynamoDbLocal:
    """DynamoDB Local in memory on a fixed port, so it can be killed and restarted there."""

    def __init__(self, port=None):
        jars = list((TOOLS / "dynamodb-local").rglob("DynamoDBLocal.jar"))
        if not jars:
            raise SystemExit("DynamoDB Local is not installed: source scripts/lib.sh and run ensure_dynamodb_local")
        self.dir = jars[0].parent
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["java", f"-Djava.library.path={self.dir / 'DynamoDBLocal_lib'}", "-jar", str(self.dir / "DynamoDBLocal.jar"),
             "-inMemory", "-disableTelemetry", "-port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("DynamoDB Local did not start")

    def freeze(self):
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.thaw()
            self.proc.kill()
            self.proc.wait()


class Gateway:
    """The gateway binary on a free port; stopped with SIGTERM (every socket runs $disconnect)."""

    def __init__(self, *args, log_name="gateway"):
        binary = os.environ.get("WSPUSH_GATEWAY_BIN") or str(ROOT / "target" / "release" / "wspush-gateway")
        if not Path(binary).exists():
            raise SystemExit(f"gateway binary {binary} not found (cargo build --release -p wspush-gateway)")
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"wspush-{log_name}-{os.getpid()}.log"
        self.log = open(self.log_path, "w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("WSPUSH_") and k != "JWT_SECRET"}
        env.setdefault("RUST_LOG", "warn")
        self.proc = subprocess.Popen([binary, "--port", "0", *args], stdout=subprocess.PIPE, stderr=self.log,
                                     text=True, env=env)
        self.port = None
        deadline = time.time() + 60
        while time.time() < deadline and self.port is None:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
        if self.port is None:
            self.proc.kill()
            raise SystemExit(f"gateway did not start; log: {self.log_path}")
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        self.http = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}/production"

    def stats(self):
        return proc_stats(self.proc.pid)

    def get(self, path):
        with urllib.request.urlopen(f"{self.http}{path}", timeout=30) as r:
            return json.load(r)

    def post(self, path, body=b""):
        request = urllib.request.Request(f"{self.http}{path}", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.load(r)

    def token(self, user_id):
        answer = self.post("/2015-03-31/functions/CreateTestJwt/invocations", json.dumps({"userId": user_id}).encode())
        return answer["token"]

    def queue_counts(self):
        total = Counter()
        for queue in self.get("/_gateway/queues")["queues"]:
            total.update(queue["counts"])
            total["deadLetters"] += queue["deadLetters"]
        return total

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class Publisher:
    """PutEvents through botocore, as `aws events put-events` sends it; one client per thread."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.local = threading.local()
        self.errors = Counter()

    def client(self):
        if not hasattr(self.local, "client"):
            session = botocore.session.get_session()
            self.local.client = session.create_client(
                "events", endpoint_url=self.endpoint, region_name="us-east-1",
                aws_access_key_id="local", aws_secret_access_key="local",
                config=botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=60, connect_timeout=10))
        return self.local.client

    def put(self, entries):
        """Sends one request; returns the accepted event ids (failures counted by kind)."""
        try:
            answer = self.client().put_events(Entries=entries)
        except Exception as e:  # noqa: BLE001 — every failure is counted and reported
            self.errors[type(e).__name__] += 1
            return []
        for entry in answer["Entries"]:
            if "ErrorCode" in entry:
                self.errors[entry["ErrorCode"]] += 1
        return [e["EventId"] for e in answer["Entries"] if "EventId" in e]


def entity_entries(entity_id, count, tag=""):
    return [{"Source": "stress", "DetailType": "Entity Updated",
             "Detail": json.dumps({"entityId": entity_id, "message": f"{tag}{i}"})} for i in range(count)]


class Subscriber:
    """One WebSocket client subscribed to entities, counting every push by event id."""

    def __init__(self, gateway, user_id, token=None):
        self.gateway = gateway
        self.user_id = user_id
        self.token = token
        self.received = Counter()
        self.replies = asyncio.Queue()
        self.ws = None
        self.reader = None

    async def connect(self, entities):
        token = self.token or await asyncio.to_thread(self.gateway.token, self.user_id)
        self.ws = await websockets.connect(f"{self.gateway.ws}?access_token={token}", max_size=None,
                                           open_timeout=30, ping_interval=None)
        for entity in entities:
            await self.subscribe(entity)
        self.reader = asyncio.ensure_future(self._read())

    async def subscribe(self, entity):
        request = json.dumps({"action": "subscribe", "entityId": entity})
        await self.ws.send(request)
        if self.reader is None:
            while True:
                frame = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
                if frame.get("type") == "Subscribed":
                    return
                if frame.get("message") == THROTTLED:
                    # The stage's route throttling: resubmit at a slower pace, as AWS advises.
                    await asyncio.sleep(0.2)
                    await self.ws.send(request)
                    continue
                self._count(frame)

    async def request(self, frame, timeout=30):
        """Sends a frame while the reader runs and waits for its reply (None: none in time)."""
        await self.ws.send(json.dumps(frame))
        try:
            return await asyncio.wait_for(self.replies.get(), timeout)
        except asyncio.TimeoutError:
            return None

    def _count(self, frame):
        if frame.get("type") in ("Entity Updated", "User Push Notification"):
            self.received[frame["eventId"]] += 1
        elif self.reader is not None:
            self.replies.put_nowait(frame)

    async def _read(self):
        try:
            async for raw in self.ws:
                self._count(json.loads(raw))
        except websockets.ConnectionClosed:
            pass

    async def close(self):
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await self.reader


async def wait_until(check, timeout, step=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return True
        await asyncio.sleep(step)
    return check()


def stop_and_judge(gateway, ok):
    """Stops the gateway and prints the verdict: PASS when `ok` and the gateway exited cleanly."""
    code = gateway.close()
    if code != 0:
        print(f"  gateway exited with {code}; log {gateway.log_path}")
    ok = ok and code == 0
    print("  verdict               " + ("PASS" if ok else "FAIL"))
    return ok


def deliveries(subscribers, event_ids):
    """Missing (subscriber, event) pairs and duplicate copies."""
    missing = sum(1 for s in subscribers for e in event_ids if s.received[e] == 0)
    duplicates = sum(max(0, n - 1) for s in subscribers for n in s.received.values())
    return missing, duplicates
