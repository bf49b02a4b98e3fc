"""Requests whose bodies never come: they cannot lock new WebSocket clients out.

    python -m stress.slow_body [--slots 400] [--waves 6] [--wave 100] [--body-timeout 2] [--clients-per-s 5]

An attacker sends the headers of POSTs (to @connections, PutEvents and Invoke in turn), each
announcing a body of 100 bytes it never sends: `--waves` waves of `--wave` such connections,
one wave every `--body-timeout` seconds, against a gateway holding at most `--slots`
connections that are not (yet) WebSockets (`--max-pending-connections`) with that body
timeout (`--body-timeout-secs`). Altogether they are more than the slots, so if they were
never closed every slot would be taken and new clients refused; closed at the body deadline,
at most two waves are open at once. Meanwhile new WebSocket clients connect, `--clients-per-s`
a second, each on its first try.

Prints how many holders the gateway closed (and how many of them were answered 408), the new
clients accepted and refused during the attack, and the gateway's peak memory; exits non-zero
if any new client was refused, or any holder was still open once the attack was over and one
more deadline had passed.
"""

import argparse
import asyncio
import sys
import time

import websockets

from stress.harness import Gateway, mb, raise_fd_limit

HEADS = [
    "POST /production/@connections/R0oXAdfD0kwCH6w= HTTP/1.1",
    "POST / HTTP/1.1\r\nX-Amz-Target: AWSEvents.PutEvents\r\nContent-Type: application/x-amz-json-1.1",
    "POST /2015-03-31/functions/CreateTestJwt/invocations HTTP/1.1",
]


class Holder:
    """One connection that sent a request's headers and holds its body back."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.answer = b""
        self.closed = asyncio.ensure_future(self._until_closed())

    @classmethod
    async def open(cls, gateway, n):
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        head = HEADS[n % len(HEADS)]
        writer.write(f"{head}\r\nHost: 127.0.0.1:{gateway.port}\r\nContent-Length: 100\r\n\r\n".encode())
        await writer.drain()
        return cls(reader, writer)

    async def _until_closed(self):
        try:
            self.answer = await self.reader.read()
        except OSError:
            pass

    def timed_out(self):
        return self.answer.startswith(b"HTTP/1.1 408")

    def close(self):
        self.closed.cancel()
        self.writer.close()


class Newcomers:
    """New WebSocket clients, connecting at a steady pace, each on its first try."""

    def __init__(self, gateway, token):
        self.url = f"{gateway.ws}?access_token={token}"
        self.accepted = []
        self.refused = 0

    async def arrive(self, per_second, stop):
        while not stop.is_set():
            try:
                self.accepted.append(await websockets.connect(self.url, open_timeout=10, ping_interval=None))
            except (OSError, EOFError, asyncio.TimeoutError, websockets.exceptions.WebSocketException):
                self.refused += 1
            await asyncio.sleep(1 / per_second)

    async def close(self):
        for ws in self.accepted:
            await ws.close()


async def watch_memory(gateway, stop, peak):
    while not stop.is_set():
        peak[0] = max(peak[0], gateway.stats()["rss"])
        await asyncio.sleep(0.2)


async def attack(gateway, args):
    holders = []
    for wave in range(args.waves):
        opened = await asyncio.gather(*(Holder.open(gateway, n) for n in range(args.wave)), return_exceptions=True)
        holders += [h for h in opened if isinstance(h, Holder)]
        if wave + 1 < args.waves:
            await asyncio.sleep(args.body_timeout)
    return holders


async def run(args):
    raise_fd_limit()
    gateway = Gateway("--max-pending-connections", str(args.slots), "--body-timeout-secs", str(args.body_timeout),
                      log_name="slow-body")
    ok = True
    try:
        before = gateway.stats()
        newcomers = Newcomers(gateway, gateway.token("newcomer"))
        stop = asyncio.Event()
        peak = [before["rss"]]
        background = [asyncio.ensure_future(newcomers.arrive(args.clients_per_s, stop)),
                      asyncio.ensure_future(watch_memory(gateway, stop, peak))]
        started = time.time()
        holders = await attack(gateway, args)
        # The last wave's deadline, and one more for the gateway to close them.
        await asyncio.sleep(2 * args.body_timeout)
        stop.set()
        await asyncio.gather(*background)
        elapsed = time.time() - started
        closed = [h for h in holders if h.closed.done()]
        timed_out = sum(1 for h in closed if h.timed_out())
        after = gateway.stats()
        print(f"slow body: {args.waves} waves of {args.wave} unfinished bodies, one every {args.body_timeout} s, "
              f"against {args.slots} pending-connection slots and a {args.body_timeout} s body timeout")
        print(f"  holders         {len(holders)} opened, {len(closed)} closed by the gateway ({timed_out} answered 408)")
        print(f"  new clients     {len(newcomers.accepted)} accepted, {newcomers.refused} refused in {elapsed:.1f} s")
        print(f"  memory (RSS)    before {mb(before['rss'])}, peak {mb(peak[0])}, after {mb(after['rss'])}")
        ok = newcomers.refused == 0 and newcomers.accepted and len(closed) == len(holders) == args.waves * args.wave
        for holder in holders:
            holder.close()
        await newcomers.close()
    finally:
        code = gateway.close()
    ok &= code == 0
    print("  verdict         " + ("PASS" if ok else "FAIL"))
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slots", type=int, default=400)
    parser.add_argument("--waves", type=int, default=6)
    parser.add_argument("--wave", type=int, default=100)
    parser.add_argument("--body-timeout", type=int, default=2)
    parser.add_argument("--clients-per-s", type=float, default=5)
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()
