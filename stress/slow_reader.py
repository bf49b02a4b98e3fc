"""A client that stops reading: the gateway's memory stays bounded and @connections says 429.

    python -m stress.slow_reader [--posts 5000] [--size 102400]

One client connects and never reads. `--posts` messages of `--size` bytes are posted to it
through `@connections` (botocore's apigatewaymanagementapi client, retries off). Prints how
many were accepted and how many refused with 429 LimitExceededException, and the gateway's
memory before and after; exits non-zero if the memory grew by more than the client buffer
limit plus the kernel's socket buffers allow (64 MB), or no 429 came back.
"""

import argparse
import asyncio
import sys
from collections import Counter

import botocore.config
import botocore.session
import websockets

from stress.harness import Gateway, mb


async def run(args):
    gateway = Gateway(log_name="slow-reader")
    ok = True
    try:
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
        peak = max(peak, after["rss"])
        print(f"slow reader: {args.posts} posts of {args.size} bytes to a client that never reads")
        print(f"  outcomes        {dict(outcomes)}")
        print(f"  memory (RSS)    before {mb(before['rss'])}, peak {mb(peak)}, after {mb(after['rss'])}")
        ok = outcomes["429 LimitExceededException"] > 0 and peak - before["rss"] < 64 * 1024 * 1024
        await ws.close()
    finally:
        code = gateway.close()
    ok &= code == 0
    print("  verdict         " + ("PASS" if ok else "FAIL"))
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=5000)
    parser.add_argument("--size", type=int, default=100 * 1024)
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()
