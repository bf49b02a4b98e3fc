"""DynamoDB Local frozen, killed and restarted mid-run: every event is delivered or kept.

    python -m stress.faults [--subscribers 20] [--events 20]

The gateway runs against its own DynamoDB Local, with a one-second visibility timeout so
failed events are received again quickly. Three phases, each publishing `--events` events to
the entity every subscriber holds:

1. healthy: every event is delivered;
2. frozen (SIGSTOP) while events are published, then thawed: the SDK's timeouts end the stalled
   calls, the events are received again and delivered (or kept in the dead-letter queue);
3. killed while events are published: each is received `maxReceiveCount` times and lands in
   the dead-letter queue; DynamoDB Local restarts empty, the gateway re-creates the table on
   the next request, the clients subscribe again, the dead letters are redriven, and every
   event is delivered.

It prints per phase how many events were delivered, dead-lettered and lost, and exits non-zero
if any event is lost (neither delivered to every subscriber nor kept in the dead-letter queue),
or a client did not get an answer to its frame in time while the store was frozen.
"""

import argparse
import asyncio
import json
import sys
import time

from stress.harness import (DynamoDbLocal, Gateway, Publisher, Subscriber, deliveries, entity_entries, mb,
                            raise_fd_limit, wait_until)

ENTITY = "faults"


def dead_event_ids(gateway):
    return {m["event"]["id"] for m in gateway.get("/_gateway/dead-letters")["messages"]}


async def publish(publisher, count, tag):
    ids = []
    for i in range(count):
        ids += await asyncio.to_thread(publisher.put, entity_entries(ENTITY, 1, f"{tag}{i}-"))
        await asyncio.sleep(0.1)
    return ids


async def settle(gateway, subscribers, ids, timeout):
    """Waits until each event is delivered to everyone or dead-lettered; returns the tallies."""
    def tally():
        dead = dead_event_ids(gateway)
        delivered = [e for e in ids if all(s.received[e] > 0 for s in subscribers)]
        kept = [e for e in ids if e in dead and e not in delivered]
        return delivered, kept

    await wait_until(lambda: sum(map(len, tally())) == len(ids), timeout, step=0.5)
    delivered, kept = tally()
    return len(delivered), len(kept), len(ids) - len(delivered) - len(kept)




async def run(args):
    raise_fd_limit()
    dynamo = DynamoDbLocal()
    gateway = Gateway("--dynamodb-endpoint", dynamo.endpoint, "--visibility-timeout-secs", "1", log_name="faults")
    publisher = Publisher(gateway.http)
    lost_total = 0
    ok = True
    try:
        subscribers = [Subscriber(gateway, f"fault{i}") for i in range(args.subscribers)]
        await asyncio.gather(*(s.connect([ENTITY]) for s in subscribers))
        # A separate client whose frames must be answered even while the store is frozen.
        asker = Subscriber(gateway, "asker")
        await asker.connect([])

        ids = await publish(publisher, args.events, "healthy")
        result = await settle(gateway, subscribers, ids, 60)
        print(f"phase 1, healthy:        delivered {result[0]}, dead-lettered {result[1]}, lost {result[2]}")
        lost_total += result[2]

        dynamo.freeze()
        frozen_at = time.time()
        ids = await publish(publisher, args.events, "frozen")
        frozen_subscribe = await answer_time_of_subscribe(asker)
        await asyncio.sleep(max(0, args.freeze - (time.time() - frozen_at)))
        dynamo.thaw()
        result = await settle(gateway, subscribers, ids, 120)
        print(f"phase 2, frozen {args.freeze:.0f} s:     delivered {result[0]}, dead-lettered {result[1]}, lost {result[2]}; "
              f"a subscribe during the freeze was answered in "
              + (f"{frozen_subscribe:.1f} s" if frozen_subscribe is not None else "NO TIME (no answer in 30 s)"))
        lost_total += result[2]
        ok &= frozen_subscribe is not None

        dynamo.kill()
        ids = await publish(publisher, args.events, "killed")
        everything_dead = await wait_until(lambda: set(ids) <= dead_event_ids(gateway), 120, step=0.5)
        kept = len(set(ids) & dead_event_ids(gateway))
        dynamo.start()
        # The restarted DynamoDB Local is empty: the first request re-creates the table.
        replies = await asyncio.gather(*(c.request({"action": "subscribe", "entityId": ENTITY}, 60) for c in subscribers))
        if any((r or {}).get("type") != "Subscribed" for r in replies):
            print(f"  subscribing again after the restart failed: {replies[:3]}")
            ok = False
        redriven = gateway.post("/_gateway/dead-letters/redrive")["redriven"]
        result = await settle(gateway, subscribers, ids, 120)
        print(f"phase 3, killed:         {kept} of {len(ids)} kept in the dead-letter queue while down"
              f"{'' if everything_dead else ' (NOT all)'}; after restart and redrive of {redriven}: "
              f"delivered {result[0]}, still dead-lettered {result[1]}, lost {result[2]}")
        lost_total += result[2]

        missing, duplicates = deliveries(subscribers, [])
        counts = gateway.queue_counts()
        stats = gateway.stats()
        print(f"totals:                  lost {lost_total}; receives again {counts['receivedAgain']}, "
              f"dead-lettered {counts['deadLettered']}; gateway {stats['fds']} descriptors, {mb(stats['rss'])}")
        await asyncio.gather(*(s.close() for s in subscribers), asker.close())
    finally:
        code = gateway.close()
        dynamo.close()
    ok &= lost_total == 0 and code == 0
    print("verdict:                 " + ("PASS" if ok else f"FAIL (gateway exit {code}, log {gateway.log_path})"))
    return ok


async def answer_time_of_subscribe(client):
    """How long a subscribe takes to be answered while the store is frozen (None: > 30 s)."""
    started = time.time()
    reply = await client.request({"action": "subscribe", "entityId": "during-freeze"}, 30)
    return None if reply is None else time.time() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--freeze", type=float, default=8)
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()
