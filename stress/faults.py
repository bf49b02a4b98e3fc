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

It prints (and records, see `harness.Report`) per phase how many events were delivered,
dead-lettered and lost, and exits non-zero if any event is lost (neither delivered to every
subscriber nor kept in the dead-letter queue), a client did not get an answer to its frame in
time while the store was frozen, or the clients could not subscribe again after the restart.
"""

import argparse
import asyncio
import json
import sys
import time

from stress.harness import (DynamoDbLocal, Gateway, Publisher, Report, Subscriber, entity_entries, mb,
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


async def phases(args, gateway, dynamo, out):
    """Runs the three phases and records each; returns (lost events, whether the clients' frames
    were answered throughout)."""
    publisher = Publisher(gateway.http)
    subscribers = [Subscriber(gateway, f"fault{i}") for i in range(args.subscribers)]
    await asyncio.gather(*(s.connect([ENTITY]) for s in subscribers))
    # A separate client whose frames must be answered even while the store is frozen.
    asker = Subscriber(gateway, "asker")
    await asker.connect([])

    ids = await publish(publisher, args.events, "healthy")
    healthy = await settle(gateway, subscribers, ids, 60)
    phase(out, "1. healthy", healthy)

    dynamo.freeze()
    frozen_at = time.time()
    ids = await publish(publisher, args.events, "frozen")
    frozen_subscribe = await answer_time_of_subscribe(asker)
    await asyncio.sleep(max(0, args.freeze - (time.time() - frozen_at)))
    dynamo.thaw()
    frozen = await settle(gateway, subscribers, ids, 120)
    phase(out, f"2. store frozen {args.freeze:.0f} s, then thawed", frozen)
    out.figure("a subscribe sent during the freeze",
               f"answered in {frozen_subscribe:.1f} s" if frozen_subscribe is not None else "no answer in 30 s",
               target="answered within 30 s", met=frozen_subscribe is not None)

    killed, resubscribed = await killed_phase(args, gateway, dynamo, publisher, subscribers, out)
    counts = gateway.queue_counts()
    stats = gateway.stats()
    out.figure("queues and gateway", f"{counts['receivedAgain']} receives again, {counts['deadLettered']} dead-lettered; "
               f"gateway {stats['fds']} descriptors, {mb(stats['rss'])}")
    await asyncio.gather(*(s.close() for s in subscribers), asker.close())
    lost = healthy[2] + frozen[2] + killed[2]
    return lost, frozen_subscribe is not None and resubscribed


def phase(out, name, result):
    delivered, kept, lost = result
    out.figure(f"phase {name}", f"{delivered} delivered, {kept} dead-lettered, {lost} lost",
               target="0 lost", met=lost == 0)


async def killed_phase(args, gateway, dynamo, publisher, subscribers, out):
    """DynamoDB Local killed while events are published, then restarted empty; the dead letters
    are redriven. Returns the tallies after the redrive and whether every client could subscribe
    again."""
    dynamo.kill()
    ids = await publish(publisher, args.events, "killed")
    everything_dead = await wait_until(lambda: set(ids) <= dead_event_ids(gateway), 120, step=0.5)
    kept = len(set(ids) & dead_event_ids(gateway))
    dynamo.start()
    # The restarted DynamoDB Local is empty: the first request re-creates the table.
    replies = await asyncio.gather(*(c.request({"action": "subscribe", "entityId": ENTITY}, 60) for c in subscribers))
    resubscribed = all((r or {}).get("type") == "Subscribed" for r in replies)
    out.figure("clients subscribing again after the restart",
               "all answered Subscribed" if resubscribed else f"failed: {replies[:3]}",
               target="all answered", met=resubscribed)
    redriven = gateway.post("/_gateway/dead-letters/redrive")["redriven"]
    result = await settle(gateway, subscribers, ids, 120)
    out.figure("phase 3. store killed, events kept", f"{kept} of {len(ids)} in the dead-letter queue while down"
               f"{'' if everything_dead else ' (not all)'}")
    phase(out, f"3. restarted empty, {redriven} redriven", result)
    return result, resubscribed


async def run(args):
    raise_fd_limit()
    dynamo = DynamoDbLocal()
    gateway = Gateway("--dynamodb-endpoint", dynamo.endpoint, "--visibility-timeout-secs", "1", log_name="faults")
    out = Report(f"faults: DynamoDB Local frozen {args.freeze:.0f} s, then killed and restarted empty; "
                 f"{args.subscribers} subscribers, {args.events} events a phase")
    try:
        lost, answered = await phases(args, gateway, dynamo, out)
    finally:
        code = gateway.close()
        dynamo.close()
    out.figure("events lost", lost, target="0", met=lost == 0)
    return out.verdict(lost == 0 and answered and code == 0, f"(gateway exit {code}, log {gateway.log_path})")


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
