"""Clients churning for minutes while events flow: no leaks, flat memory, each push once.

    python -m stress.soak [--clients 2000] [--minutes 10] [--store embedded|dynamodb]

`--clients` slots each loop: connect, subscribe to a random entity, stay a few seconds
(sometimes switching entity with unsubscribe + subscribe), disconnect, and start again.
Meanwhile a publisher sends `--rate` "Entity Updated" events a second across the entities.
Descriptors and memory are sampled once the clients are up and again at the end. After the
run every client disconnects and the store must hold no records (the embedded store's census,
or a Scan of DynamoDB Local's table); each (connection, event id) must arrive at most once
apart from reported receives-again. Prints (and records, see `harness.Report`) the figures;
exits non-zero on a leak, an unexplained duplicate, or more than 1% of sessions failing.
"""

import argparse
import asyncio
import random
import sys
import time

import botocore.session

from stress.harness import (DynamoDbLocal, Gateway, Publisher, Report, Subscriber, entity_entries, mb,
                            raise_fd_limit, wait_until)

ENTITIES = [f"soak{i}" for i in range(20)]


class Tally:
    def __init__(self):
        self.sessions = 0
        self.failures = 0
        self.pushes = 0
        self.duplicates = 0
        self.errors = []


async def churn(gateway, slot, stop, tally, tokens):
    rng = random.Random(slot)
    while not stop.is_set():
        client = Subscriber(gateway, f"soak-user{slot}", token=tokens[slot % len(tokens)])
        try:
            entity = rng.choice(ENTITIES)
            await asyncio.wait_for(client.connect([entity]), 30)
            tally.sessions += 1
            stay = rng.uniform(2, 10)
            await asyncio.sleep(stay / 2)
            if rng.random() < 0.5:
                other = rng.choice(ENTITIES)
                await client.request({"action": "unsubscribe", "entityId": entity}, 30)
                await client.request({"action": "subscribe", "entityId": other}, 30)
            await asyncio.sleep(stay / 2)
        except Exception as e:  # noqa: BLE001 — failures are the figure reported
            tally.failures += 1
            if len(tally.errors) < 5:
                tally.errors.append(repr(e)[:200])
        finally:
            try:
                await client.close()
            except Exception:  # noqa: BLE001
                pass
            tally.pushes += sum(client.received.values())
            tally.duplicates += sum(n - 1 for n in client.received.values() if n > 1)
        await asyncio.sleep(rng.uniform(0.5, 1.5))


async def publish(publisher, stop, rate, sent):
    while not stop.is_set():
        entries = entity_entries(random.choice(ENTITIES), 1, "soak-")
        sent.extend(await asyncio.to_thread(publisher.put, entries))
        await asyncio.sleep(1 / rate)


def dynamodb_records(endpoint, table):
    client = botocore.session.get_session().create_client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local")
    count, start = 0, None
    while True:
        kwargs = {"TableName": table, "Select": "COUNT"}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = client.scan(**kwargs)
        count += page["Count"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return count


async def soak(args, gateway, dynamo):
    """Churns the clients for `--minutes` while events flow; returns what `report` needs."""
    baseline = gateway.stats()
    tokens = [gateway.token(f"soak-user{i}") for i in range(args.clients)]
    stop = asyncio.Event()
    tally = Tally()
    sent = []
    tasks = [asyncio.ensure_future(churn(gateway, slot, stop, tally, tokens)) for slot in range(args.clients)]
    publisher = Publisher(gateway.http)
    tasks.append(asyncio.ensure_future(publish(publisher, stop, args.rate, sent)))
    await asyncio.sleep(min(30, args.minutes * 60 / 4))
    early = gateway.stats()
    await asyncio.sleep(max(0, args.minutes * 60 - min(30, args.minutes * 60 / 4)))
    late = gateway.stats()
    stop.set()
    await asyncio.gather(*tasks)
    await wait_until(lambda: not gateway.get("/_gateway/connections")["connections"], 60)
    await asyncio.sleep(3)
    after = gateway.stats()
    if dynamo:
        records = dynamodb_records(dynamo.endpoint, "soak")
    else:
        census = gateway.get("/_gateway/store")["census"]
        records = census["connections"] + census["subscriptions"]
    # A `$connect` whose store write timed out refused the client (500) while the write may
    # still have landed: that record stays until its TTL or a push's 410, as on AWS. Each
    # is logged; those are the only records allowed to outlive their connection.
    orphans_allowed = gateway.log_path.read_text(errors="replace").count(
        "$connect route failed: store request PutItem(connection)")
    return {"stats": (baseline, early, late, after), "tally": tally, "sent": len(sent), "records": records,
            "orphans_allowed": orphans_allowed, "counts": gateway.queue_counts()}


def report(args, r, code, log_path):
    """Prints and records the soak's figures; returns whether it passed."""
    out = Report(f"soak: {args.clients:,} clients churning for {args.minutes:g} min, {args.rate:g} events/s, "
                 f"{args.store} store")
    tally, counts = r["tally"], r["counts"]
    failed_ok = tally.failures <= tally.sessions // 100
    out.figure("sessions", f"{tally.sessions:,} ({tally.failures:,} failed)", target="≤ 1% failed", met=failed_ok)
    if tally.errors:
        out.figure("first failures", tally.errors)
    out.figure("events published, pushes received", f"{r['sent']:,}; {tally.pushes:,}")
    explained = counts["receivedAgain"] * args.clients
    out.figure("duplicates", f"{tally.duplicates:,}",
               baseline=f"{counts['receivedAgain']} receives-again reported, {counts['deadLetters']} dead-lettered",
               target="≤ receives-again × clients", met=tally.duplicates <= explained)
    out.figure("store records left, no connection open", r["records"],
               baseline=f"{r['orphans_allowed']} `$connect` writes that timed out",
               target="≤ the timed-out `$connect` writes", met=r["records"] <= r["orphans_allowed"])
    baseline, early, late, after = r["stats"]
    out.figure("gateway descriptors", f"early {early['fds']:,}, late {late['fds']:,}, after {after['fds']:,}",
               baseline=f"{baseline['fds']} before", target="after ≤ before + 16",
               met=after["fds"] <= baseline["fds"] + 16)
    out.figure("gateway memory (RSS)", f"early {mb(early['rss'])}, late {mb(late['rss'])}, after {mb(after['rss'])}",
               baseline=f"{mb(baseline['rss'])} before")
    ok = (failed_ok and tally.duplicates <= explained and r["records"] <= r["orphans_allowed"]
          and after["fds"] <= baseline["fds"] + 16 and code == 0)
    return out.verdict(ok, f"(gateway exit {code}, log {log_path})")


async def run(args):
    raise_fd_limit()
    dynamo = DynamoDbLocal() if args.store == "dynamodb" else None
    extra = ["--dynamodb-endpoint", dynamo.endpoint, "--table", "soak"] if dynamo else []
    gateway = Gateway(*extra, "--visibility-timeout-secs", "5", log_name="soak")
    try:
        results = await soak(args, gateway, dynamo)
    finally:
        code = gateway.close()
        if dynamo:
            dynamo.close()
    return report(args, results, code, gateway.log_path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=5)
    parser.add_argument("--store", choices=["embedded", "dynamodb"], default="embedded")
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()
