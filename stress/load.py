"""A burst of events against many subscribers: bounded, nothing lost, back to baseline after.

    python -m stress.load [--subscribers 100] [--senders 16] [--requests 300] [--store embedded|dynamodb]

Each request is a PutEvents of 10 "Entity Updated" entries for the one entity every subscriber
holds. While the burst runs, a probe opens a fresh connection every quarter second (new
clients must be accepted throughout), and the gateway's descriptors and memory are sampled
from /proc. The script prints the figures (and records them, see `harness.Report`) and exits
non-zero when a delivery is missing, a duplicate is not explained by a reported receive-again,
a new client was refused, or descriptors did not come back near their baseline.
"""

import argparse
import asyncio
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from stress.harness import (DynamoDbLocal, Gateway, Publisher, Report, Subscriber, deliveries, entity_entries,
                            mb, raise_fd_limit, wait_until)


# wspush_contract::http_pool: the runtime's idle connections per host, and their idle timeout.
# The pool keeps every connection a fan-out opened, up to MAX_IDLE_PER_HOST. On AWS each event
# invocation has its own pool; here the concurrent invocations share the gateway's one, so after
# a burst it may hold up to that many.
POOL_MAX_IDLE = 900
POOL_IDLE_SECS = 60


class Sampler(threading.Thread):
    """Samples the gateway's descriptors and memory; keeps the peaks."""

    def __init__(self, gateway):
        super().__init__(daemon=True)
        self.gateway = gateway
        self.peak = {"fds": 0, "rss": 0}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.2):
            try:
                stats = self.gateway.stats()
            except OSError:
                return
            for key in self.peak:
                self.peak[key] = max(self.peak[key], stats[key])


async def probe(gateway, stop, outcome):
    """A new client every 0.25 s: connect, subscribe, close."""
    n = 0
    while not stop.is_set():
        n += 1
        client = Subscriber(gateway, f"probe{n}")
        started = time.time()
        try:
            await asyncio.wait_for(client.connect(["probe"]), 15)
            outcome["accepted"] += 1
            outcome["slowest"] = max(outcome["slowest"], time.time() - started)
        except Exception as e:  # noqa: BLE001 — a refused client is the figure we report
            outcome["refused"] += 1
            outcome["errors"].append(repr(e)[:200])
        finally:
            try:
                await client.close()
            except Exception:  # noqa: BLE001
                pass
        await asyncio.sleep(0.25)


async def burst(args, gateway, dynamo):
    """Runs the burst against `gateway`; returns what `report` needs."""
    baseline = gateway.stats()
    subscribers = [Subscriber(gateway, f"user{i}") for i in range(args.subscribers)]
    await asyncio.gather(*(s.connect(["load"]) for s in subscribers))
    connected = gateway.stats()

    sampler = Sampler(gateway)
    sampler.start()
    stop = threading.Event()
    outcome = {"accepted": 0, "refused": 0, "slowest": 0.0, "errors": []}
    prober = asyncio.ensure_future(probe(gateway, stop, outcome))

    publisher = Publisher(gateway.http)
    started = time.time()
    with ThreadPoolExecutor(args.senders) as pool:
        batches = await asyncio.gather(*(
            asyncio.wrap_future(pool.submit(publisher.put, entity_entries("load", 10, f"r{r}-")))
            for r in range(args.requests)))
    published = time.time() - started
    event_ids = [e for batch in batches for e in batch]

    done = await wait_until(lambda: deliveries(subscribers, event_ids)[0] == 0, args.timeout)
    delivered_in = time.time() - started
    stop.set()
    await prober
    missing, duplicates = deliveries(subscribers, event_ids)
    counts = gateway.queue_counts()
    functions = {f["name"]: f for f in gateway.get("/_gateway/functions")["functions"]}

    await asyncio.gather(*(s.close() for s in subscribers))
    await asyncio.sleep(args.settle)
    after = gateway.stats()
    # The runtime keeps a warm pool to @connections, as a warm Lambda does: at most
    # MAX_IDLE_PER_HOST idle connections (two descriptors each, both ends are in this
    # process), closed after the pool's idle timeout.
    await asyncio.sleep(POOL_IDLE_SECS + 5 - args.settle if args.wait_pool else 0)
    drained = gateway.stats()
    sampler.stop.set()
    return {"baseline": baseline, "connected": connected, "peak": sampler.peak, "after": after,
            "drained": drained, "event_ids": event_ids, "done": done, "published": published, "delivered_in": delivered_in,
            "missing": missing, "duplicates": duplicates, "counts": counts, "outcome": outcome,
            "events": functions["Events"], "publisher_errors": dict(publisher.errors),
            "pooled": POOL_MAX_IDLE * (3 if dynamo else 2)}


def report(args, r, code, log_path):
    """Prints and records the burst's figures; returns whether it passed."""
    out = Report(f"burst: {args.requests:,} PutEvents × 10 entries from {args.senders} senders, "
                 f"{args.subscribers:,} subscribers, {args.store} store")
    sent, total = args.requests * 10, len(r["event_ids"]) * args.subscribers
    out.figure("events accepted", f"{len(r['event_ids']):,}", baseline=f"{sent:,} sent",
               target="no publisher error", met=not r["publisher_errors"])
    if r["publisher_errors"]:
        out.figure("publisher errors", r["publisher_errors"])
    out.figure("deliveries", f"{total - r['missing']:,} of {total:,} in {r['delivered_in']:.1f} s "
               f"(published in {r['published']:.1f} s)",
               target=f"every one within {args.timeout:.0f} s", met=r["done"] and r["missing"] == 0)
    counts = r["counts"]
    explained = counts["receivedAgain"] * args.subscribers
    out.figure("duplicates", f"{r['duplicates']:,}",
               baseline=f"{counts['receivedAgain']} receives-again reported, {counts['deadLetters']} dead-lettered",
               target="≤ receives-again × subscribers", met=r["duplicates"] <= explained)
    outcome = r["outcome"]
    out.figure("new clients during the burst",
               f"{outcome['accepted']} accepted, {outcome['refused']} refused, slowest {outcome['slowest']:.2f} s",
               target="none refused", met=outcome["refused"] == 0)
    if outcome["errors"]:
        out.figure("first refusals", outcome["errors"][:3])
    events = r["events"]
    out.figure("events function", f"{events['invocations']:,} invocations, {events['errors']} errors, "
               f"peak concurrency {events['peakRunning']} of {events['concurrencyLimit']}")
    descriptors_ok = report_gateway(args, r, out)
    return out.verdict(r["done"] and r["missing"] == 0 and r["duplicates"] <= explained
                       and outcome["refused"] == 0 and not r["publisher_errors"] and descriptors_ok
                       and code == 0, f"(gateway exit {code}, log {log_path})")


def report_gateway(args, r, out):
    """The gateway's descriptors and memory through the run; whether the descriptors came back."""
    baseline, after, drained = r["baseline"], r["after"], r["drained"]
    later = f"; {POOL_IDLE_SECS + 5} s after, past the pool's idle timeout, {{}}" if args.wait_pool else ""
    back = after["fds"] <= baseline["fds"] + r["pooled"] + 16
    back_to_baseline = not args.wait_pool or drained["fds"] <= baseline["fds"] + 16
    out.figure("gateway descriptors",
               f"peak {r['peak']['fds']:,}; {args.settle:.0f} s after {after['fds']:,}" + later.format(f"{drained['fds']:,}"),
               baseline=f"{baseline['fds']} idle, {r['connected']['fds']:,} with subscribers",
               target=f"≤ baseline + the pool's {r['pooled']:,} + 16 after"
               + ("; ≤ baseline + 16 past the pool's idle timeout" if args.wait_pool else ""),
               met=back and back_to_baseline)
    out.figure("gateway memory (RSS)",
               f"peak {mb(r['peak']['rss'])}; {args.settle:.0f} s after {mb(after['rss'])}" + later.format(mb(drained["rss"])),
               baseline=f"{mb(baseline['rss'])} idle, {mb(r['connected']['rss'])} with subscribers")
    return back and back_to_baseline


async def run(args):
    raise_fd_limit()
    dynamo = DynamoDbLocal() if args.store == "dynamodb" else None
    extra = ["--dynamodb-endpoint", dynamo.endpoint] if dynamo else []
    gateway = Gateway(*extra, log_name="load")
    try:
        results = await burst(args, gateway, dynamo)
    finally:
        code = gateway.close()
        if dynamo:
            dynamo.close()
    return report(args, results, code, gateway.log_path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--store", choices=["embedded", "dynamodb"], default="embedded")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--settle", type=float, default=5)
    parser.add_argument("--wait-pool", action="store_true",
                        help="also wait out the runtime's pool idle timeout and expect the baseline exactly")
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()
