"""A client that stops reading: the gateway's memory stays bounded and @connections says 429.

    python -m stress.slow_reader [--posts 5000] [--size 102400]

One client connects and never reads. `--posts` messages of `--size` bytes are posted to it
through `@connections` (botocore's apigatewaymanagementapi client, retries off). Prints (and
records, see `harness.Report`) how many were accepted and how many refused with 429
LimitExceededException, and the gateway's memory before and after; exits non-zero if the memory
grew by more than the client buffer limit plus the kernel's socket buffers allow (64 MB), or no
429 came back.
"""

import argparse
import asyncio
import sys
from collections import Counter

import botocore.config
import botocore.session
import websockets

from stress.harness import Gateway, Report, mb


async def flood(args, gateway):
    """Posts to a client that never reads; returns the outcomes and the gateway's memory."""
    before = gateway.stats()
    token = gateway.token("sloth")
    ws = await websockets.connect(f"{gateway.ws}?access_token={token}", max_size=None, ping_interval=None)
    connection_id = gateway.get("/_gateway/connections")["connections"][0]["connectionId"]
    client = botocore.session.get_session().create_client(
        "apigatewaymanagementapi", endpoint_url=f"{gateway.http}/production", region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
        config=botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1}))
    payload = b"x" * args.size
    outcomes = Counter()
    peak = before["rss"]
    for i in range(args.posts):
        try:
            await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=payload)
            outcomes["accepted"] += 1
        except client.exceptions.LimitExceededException:
            outcomes["429 LimitExceededException"] += 1
        if i % 100 == 0:
            peak = max(peak, gateway.stats()["rss"])
    after = gateway.stats()
    await ws.close()
    return outcomes, before["rss"], max(peak, after["rss"]), after["rss"]


async def run(args):
    gateway = Gateway(log_name="slow-reader")
    try:
        outcomes, before, peak, after = await flood(args, gateway)
    finally:
        code = gateway.close()
    out = Report(f"slow reader: {args.posts:,} posts of {args.size:,} B to a client that never reads")
    refused = outcomes["429 LimitExceededException"]
    out.figure("@connections answers", f"{outcomes['accepted']:,} accepted, {refused:,} answered 429 "
               "LimitExceededException", target="429 once the client's buffer is full", met=refused > 0)
    bounded = peak - before < 64 * 1024 * 1024
    out.figure("gateway memory (RSS)", f"peak {mb(peak)}, after {mb(after)}", baseline=f"{mb(before)} before",
               target="peak < before + 64 MB", met=bounded)
    return out.verdict(refused > 0 and bounded and code == 0, f"(gateway exit {code}, log {gateway.log_path})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=5000)
    parser.add_argument("--size", type=int, default=100 * 1024)
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()
