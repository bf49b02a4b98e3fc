"""Clients that flood pings and never read: the gateway's memory stays bounded, others are served.

    python -m stress.flooder [--seconds 10] [--rss-cap-mb 300]

Two flooders in turn, each sending `{"action":"ping"}` as fast as it can for `--seconds` and
never reading an answer, on a raw socket after the handshake:
- `stalls` never reads a byte: its kernel buffers fill, then the gateway's writes wait;
- `discards` takes every byte and drops it unread, as a client library with an unbounded
  receive queue does: the gateway's writes never wait, so only its own bounds (the route
  throttling, the client buffer, the invocations per connection) hold its memory.

Meanwhile a probe opens a fresh connection every quarter second (connect, subscribe, close),
and a normal subscriber receives an event published every half second. The gateway's memory
is sampled from /proc, and its view of each flooder (`/_gateway/connections`: bytes queued
for it, replies dropped) every second.

Prints the frames each flooder wrote, the gateway's peak RSS, the flooders' queued bytes and
dropped replies, and the new clients accepted. Exits non-zero when the peak RSS is over
`--rss-cap-mb` (a bound on memory, not a speed figure), a new client was refused, a push was
not delivered, a flooder's queue went over the client buffer limit, or the gateway did not
stop cleanly.
"""

import argparse
import asyncio
import base64
import os
import sys
import threading
import time

from stress.harness import (Gateway, Publisher, Subscriber, deliveries, entity_entries, mb, stop_and_judge,
                            wait_until)
from stress.load import Sampler, probe

# The gateway's default --max-client-buffer-bytes.
CLIENT_BUFFER_LIMIT = 1024 * 1024
PING = b'{"action":"ping"}'
MODES = ("stalls", "discards")


def masked_text_frame(payload):
    """One client text frame (clients must mask), for payloads under 126 bytes."""
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + key + masked


async def open_raw(gateway, token):
    """A WebSocket handshake on a plain socket, whose frames are then never parsed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET /production?access_token={token} HTTP/1.1\r\nHost: 127.0.0.1:{gateway.port}\r\n"
                  f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    if not head.startswith(b"HTTP/1.1 101"):
        raise SystemExit(f"the flooder's handshake was refused: {head[:80]!r}")
    return reader, writer


async def discard(reader):
    """Takes every byte the gateway sends and drops it."""
    while await reader.read(1 << 16):
        pass


async def flood(writer, seconds):
    """Writes pings in batches for `seconds`, each as soon as the kernel takes the last (TCP's
    backpressure is all that slows it); returns how many the kernel took."""
    batch_frames = 1000
    batch = masked_text_frame(PING) * batch_frames
    deadline = time.time() + seconds
    written = 0
    while time.time() < deadline:
        writer.write(batch)
        try:
            await asyncio.wait_for(writer.drain(), max(0.01, deadline - time.time()))
        except asyncio.TimeoutError:
            break
        written += batch_frames
    return written


async def flooder(gateway, mode, seconds):
    """One flooder for `seconds`, then its socket is dropped; what it wrote."""
    reader, writer = await open_raw(gateway, await asyncio.to_thread(gateway.token, f"flooder-{mode}"))
    drain = asyncio.ensure_future(discard(reader)) if mode == "discards" else None
    written = await flood(writer, seconds)
    writer.transport.abort()
    if drain:
        drain.cancel()
    await wait_until(lambda: len(gateway.get("/_gateway/connections")["connections"]) <= 1, 30)
    return written


async def watch_flooders(gateway, stop, seen):
    """Every second, the gateway's view of each flooder's connection: the most seen."""
    while not stop.is_set():
        connections = await asyncio.to_thread(gateway.get, "/_gateway/connections")
        for c in connections["connections"]:
            user = c["authorizer"].get("userId", "")
            if user.startswith("flooder-"):
                mode = seen.setdefault(user[len("flooder-"):], {"queuedBytes": 0, "repliesDropped": 0})
                for key in mode:
                    mode[key] = max(mode[key], c.get(key) or 0)
        await asyncio.sleep(1)


async def publish(publisher, stop, sent):
    while not stop.is_set():
        sent.extend(await asyncio.to_thread(publisher.put, entity_entries("flood-watch", 1, "flood-")))
        await asyncio.sleep(0.5)


def report(args, floods, seen, outcome, pushes, rss):
    """Prints the figures; returns whether every bound held."""
    print(f"flooder: pings from clients that never read, {args.seconds} s each")
    for mode in MODES:
        view = seen.get(mode, {"queuedBytes": 0, "repliesDropped": 0})
        print(f"  {mode:<8}              {floods[mode]} frames taken; at most {view['queuedBytes']} bytes queued "
              f"for it (limit {CLIENT_BUFFER_LIMIT}), {view['repliesDropped']} replies dropped")
    print(f"  new clients           {outcome['accepted']} accepted, {outcome['refused']} refused, "
          f"slowest {outcome['slowest']:.2f} s")
    print(f"  pushes to a reader    {pushes['sent'] - pushes['missing']} of {pushes['sent']} delivered")
    print(f"  memory (RSS)          baseline {mb(rss['baseline'])}, peak {mb(rss['peak'])} "
          f"(cap {args.rss_cap_mb} MB), after {mb(rss['after'])}")
    if outcome["errors"]:
        print(f"  first refusals        {outcome['errors'][:3]}")
    return (rss["peak"] <= args.rss_cap_mb * 1024 * 1024 and outcome["refused"] == 0 and outcome["accepted"] > 0
            and pushes["delivered"] and pushes["sent"] > 0 and pushes["missing"] == 0
            and all(v["queuedBytes"] <= CLIENT_BUFFER_LIMIT for v in seen.values()))


async def run(args):
    gateway = Gateway(log_name="flooder")
    ok = False
    try:
        baseline = gateway.stats()["rss"]
        watcher = Subscriber(gateway, "watcher")
        await watcher.connect(["flood-watch"])
        sampler = Sampler(gateway)
        sampler.start()
        stop = threading.Event()
        outcome = {"accepted": 0, "refused": 0, "slowest": 0.0, "errors": []}
        seen, sent = {}, []
        background = [asyncio.ensure_future(probe(gateway, stop, outcome)),
                      asyncio.ensure_future(watch_flooders(gateway, stop, seen)),
                      asyncio.ensure_future(publish(Publisher(gateway.http), stop, sent))]
        floods = {mode: await flooder(gateway, mode, args.seconds) for mode in MODES}
        stop.set()
        await asyncio.gather(*background)
        delivered = await wait_until(lambda: deliveries([watcher], sent)[0] == 0, 30)
        pushes = {"sent": len(sent), "missing": deliveries([watcher], sent)[0], "delivered": delivered}
        await watcher.close()
        after = gateway.stats()["rss"]
        sampler.stop.set()
        rss = {"baseline": baseline, "peak": max(sampler.peak["rss"], after), "after": after}
        ok = report(args, floods, seen, outcome, pushes, rss)
    finally:
        ok = stop_and_judge(gateway, ok)
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="how long each flooder floods")
    parser.add_argument("--rss-cap-mb", type=int, default=300, help="the gateway's peak RSS must stay under it")
    sys.exit(0 if asyncio.run(run(parser.parse_args())) else 1)


if __name__ == "__main__":
    main()
