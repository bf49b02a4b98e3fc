"""Memory given back after connections close.

    python -m stress.churn_memory [--clients 5000]

Opens `--clients` subscribed connections (in steps of 500), closes them all, and reads the
gateway's RSS before, while open, and 2 s and 15 s after the last `$disconnect`. Prints the
share of the growth given back (and records it, see `harness.Report`); exits non-zero when
less than half of it came back within 15 s (the gateway's allocator, jemalloc, purges freed
pages in the background).
"""

import argparse
import asyncio
import sys

from stress.harness import Gateway, Report, Subscriber, mb, raise_fd_limit, wait_until


async def churned(args, gateway):
    """RSS before, with `--clients` connections open, and 2 s and 15 s after they all closed."""
    token = gateway.token("churn")
    # Warm up the gateway's pools and caches first, so `before` is its working size.
    warm = [Subscriber(gateway, "churn", token=token) for _ in range(200)]
    await asyncio.gather(*(c.connect(["warm"]) for c in warm))
    await asyncio.gather(*(c.close() for c in warm))
    await wait_until(lambda: not gateway.get("/_gateway/connections")["connections"], 60)
    await asyncio.sleep(2)
    before = gateway.stats()["rss"]
    clients = [Subscriber(gateway, "churn", token=token) for _ in range(args.clients)]
    for i in range(0, args.clients, 500):
        await asyncio.gather(*(c.connect(["churn"]) for c in clients[i:i + 500]))
    await asyncio.sleep(2)
    opened = gateway.stats()["rss"]
    for i in range(0, args.clients, 500):
        await asyncio.gather(*(c.close() for c in clients[i:i + 500]))
    await wait_until(lambda: not gateway.get("/_gateway/connections")["connections"], 120)
    await asyncio.sleep(2)
    soon = gateway.stats()["rss"]
    await asyncio.sleep(13)
    return before, opened, soon, gateway.stats()["rss"]


async def run(args):
    raise_fd_limit()
    gateway = Gateway(log_name="churn")
    try:
        before, opened, soon, later = await churned(args, gateway)
    finally:
        code = gateway.close()
    given_back = 100 * (opened - later) / max(1, opened - before)
    out = Report(f"memory given back: {args.clients:,} connections opened and closed")
    out.figure("gateway memory (RSS)", f"open {mb(opened)}, 2 s after {mb(soon)}, 15 s after {mb(later)}",
               baseline=f"{mb(before)} before")
    out.figure("given back", f"{given_back:.0f}% of the growth within 15 s", target="≥ 50%", met=given_back >= 50)
    return out.verdict(given_back >= 50 and code == 0, f"(gateway exit {code}, log {gateway.log_path})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=5000)
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()
