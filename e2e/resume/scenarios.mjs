// The two scenarios, each run by a driver (drivers.mjs: Node or Chromium) on a store:
//
// - `continuity`: 1,000 "Entity Updated" and 200 "Send User Push Notification" events while the
//   clients' connections are deleted every 1–2 s with the aws CLI, the gateway closes every
//   connection after 3 s (one client is told and rolls over before, the other is not and gets
//   the server's 1001), and, on DynamoDB Local, the gateway is killed and started again on
//   the same port mid-run. Each client's handlers must receive n = 1, 2, 3, … of each stream
//   exactly once, in order, and no gap may be reported: nothing was lost.
// - `gapPastRetention`: a gateway keeping 10 messages per stream; the client is held away
//   while 30 messages of each stream are published, then let back. The loss must reach the
//   application as a `gap` with the server's reason, and delivery must go on in order after it.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { tokenFor } from "./app.mjs";
import { Cutter, deleteConnection, newestConnection } from "./cutter.mjs";
import { summary } from "./env.mjs";
import { Gateway, storeFlags } from "./gateway.mjs";
import { Probe } from "./probe.mjs";
import { Publisher, withTimeout } from "./publisher.mjs";
import { startRefuser } from "./servers.mjs";

const COUNTS = { entity: 1000, user: 200 };
/** How long the publisher spreads the events over (DynamoDB Local is slower than that anyway). */
const PUBLISH_MS = 20_000;
/** The gateway's connection lifetime in the continuity scenario, in seconds. */
const LIFETIME_SECS = 3;
/**
 * How the application reconnects: short delays, so a run spends its time delivering. A browser
 * cannot tell the failed handshakes of a gateway that is restarting from a refusal of its token;
 * the library's defaults count them as a refusal only after two minutes of failures, so the
 * restart is ridden out with the defaults, which this scenario keeps.
 */
const RECONNECT = { backoff: { baseMs: 200, maxMs: 2000 } };
/** How long the restarted gateway is away, as a process restart would be. */
const RESTART_DOWN_MS = 1000;
/** How long a run waits after the last message arrived, past the library's 1 s hold, so that a late repeat would be seen. */
const SETTLE_MS = 1500;

const CLIENTS = [
  // Told the server's lifetime: it moves to a new connection 1 s before the server's close.
  { name: "told", options: { maxConnectionMs: LIFETIME_SECS * 1000, rolloverBeforeMs: 1000, ...RECONNECT } },
  // Not told (its default is API Gateway's two hours): the server's 1001 close ends its connections.
  { name: "untold", options: { ...RECONNECT } },
];

/** A fresh user, entity and secret for one run, so runs share nothing. */
function freshRun(name, store, flags) {
  const id = randomUUID().slice(0, 8);
  const secret = `resume-${randomUUID()}`;
  const ids = { userId: `user-${id}`, entityId: `entity-${id}` };
  const gateway = new Gateway(name, ["--jwt-secret", secret, ...flags, ...storeFlags(store)]);
  const probe = () => new Probe(gateway.ws, () => tokenFor(secret, ids.userId, "probe"), ids.entityId);
  return { secret, ids, gateway, probe };
}

/** Polls `check` (sync or async) every 100 ms until it answers true. */
export async function until(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(100);
  }
}

// How a connection ended, by its close event: the server's close for `DELETE @connections`, the
// server's close at its lifetime, the library's own close when it rolls over (the server echoes
// code and reason), and a connection that died with the gateway.
const CUT = /^1000 Connection deleted$/;
const LIFETIME = /^1001 Going away$/;
const ROLLOVER = /^1000 replaced by a new connection$/;
const DROPPED = /^1006/;

const sum = (values) => values.reduce((a, b) => a + b, 0);
const tally = (counts, match) => sum(Object.entries(counts).filter(([k]) => match.test(k)).map(([, v]) => v));
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

export async function continuity(driver, store) {
  const label = `${driver.name}/${store}`;
  const run = freshRun(`${driver.name}-${store}-continuity`, store, ["--max-connection-secs", String(LIFETIME_SECS)]);
  const started = Date.now();
  let app, probe, cutter;
  try {
    await run.gateway.start();
    probe = run.probe();
    await probe.connect();
    app = await driver.start({ url: run.gateway.ws, secret: run.secret, ...run.ids, clients: CLIENTS });
    await withTimeout(app.ready(), 30_000, "the clients did not subscribe");
    const publisher = new Publisher({ gateway: run.gateway, probe, ids: run.ids });
    // Two cuts of the told client for each of the untold one, so that the untold one's
    // connections often live long enough for the server to close them.
    cutter = new Cutter(run.gateway, run.ids.userId, ["told", "told", "untold"]);
    cutter.start();
    let published = false;
    const publishing = publisher.publish(COUNTS, PUBLISH_MS).finally(() => (published = true));
    publishing.catch(() => undefined); // awaited below, after the restart
    const parts = { gateway: run.gateway, publisher, cutter, probe, app };
    const restarted = store === "dynamodb" ? await restartMidRun(parts, () => published) : 0;
    await publishing;
    await cutter.stop();
    assert.equal(restarted, store === "dynamodb" ? 1 : 0, "the gateway was restarted mid-run on DynamoDB Local");
    // The gateway still closes connections at their lifetime: a client may be between two.
    const done = (s) => s.every((c) => c.state === "open" && c.entityCount >= COUNTS.entity && c.userCount >= COUNTS.user);
    await until(async () => done(await app.snapshot()), 60_000, "every client has every message and is connected");
    await sleep(SETTLE_MS);
    const clients = await app.snapshot(true);
    assert.deepEqual(probe.misplaced, [], "every event's serial is its sequence number");
    for (const client of clients) checkContinuity(client, { restarted });
    summary(continuitySummary(label, clients, cutter, restarted, started));
  } finally {
    await cutter?.stop().catch(() => undefined);
    await app?.close();
    probe?.close();
    await run.gateway.stop();
  }
}

/**
 * At the run's half, kills the gateway and starts it again on the same port with the same
 * flags and table; answers how many restarts there were (none when publishing ended first).
 */
async function restartMidRun({ gateway, publisher, cutter, probe, app }, published) {
  await until(() => published() || publisher.accepted.entity >= COUNTS.entity / 2, 300_000, "half the events are published");
  if (published()) return 0;
  await Promise.all([publisher.pause(), cutter.pause()]);
  // The gateway's queues live in memory and end with the process (documented: unlike SQS,
  // they are not persisted), so an event accepted but not yet written to history would die
  // with it. That loss is the emulator's, not the client's: wait until history holds every
  // event accepted so far, and only then kill the gateway. Nothing else is done to hide loss.
  await until(
    async () => (await probe.written("entity")) === publisher.accepted.entity && (await probe.written("user")) === publisher.accepted.user,
    30_000,
    "history holds every accepted event",
  );
  // Every client connected, so that the kill drops a connection of each (one that is
  // reconnecting just then finds the gateway away instead).
  await until(async () => (await app.snapshot()).every((c) => c.state === "open"), 30_000, "every client is connected");
  await gateway.restart(RESTART_DOWN_MS);
  // The probe connects again by itself; the publisher's next confirmation waits for it.
  cutter.resume();
  publisher.resume();
  return 1;
}

/** Each stream n = 1 … count, once, in order, at serial n of one generation; nothing else. */
function checkStream(client, stream, received, count) {
  const who = `${client.name}'s ${stream} stream`;
  assert.deepEqual(received.map(([n]) => n), range(1, count), `${who}: n = 1 … ${count}, once each, in order`);
  assert.deepEqual(received.map(([, serial]) => serial), range(1, count), `${who}: serials 1 … ${count}`);
  assert.equal(new Set(received.map(([, , streamId]) => streamId)).size, 1, `${who}: one generation`);
}

function checkContinuity(client, { restarted }) {
  checkStream(client, "entity", client.entity, COUNTS.entity);
  checkStream(client, "user", client.user, COUNTS.user);
  assert.deepEqual(client.gaps, [], `${client.name}: nothing was lost, so no gap`);
  assert.deepEqual(client.errors, [], `${client.name}: no error`);
  const { closes } = client.stats;
  const seen = JSON.stringify(closes);
  assert.ok(tally(closes, CUT) > 0, `${client.name}: connections were deleted (${seen})`);
  if (client.name === "told") assert.ok(tally(closes, ROLLOVER) > 0, `told: rolled over (${seen})`);
  else assert.ok(tally(closes, LIFETIME) > 0, `untold: the server closed connections at their lifetime (${seen})`);
  if (restarted > 0) {
    const hit = tally(closes, DROPPED) + client.stats.failedHandshakes;
    assert.ok(hit > 0, `${client.name}: the restart dropped a connection or refused one (${seen})`);
  }
}

function continuitySummary(label, clients, cutter, restarted, started) {
  const each = clients.map((c) => {
    const { closes, failedHandshakes } = c.stats;
    return `${c.name}: ${c.entity.length}+${c.user.length} msgs, ${cutter.cuts[c.name]} cuts, ${c.reconnects} reconnects (${failedHandshakes} failed handshakes), ${tally(closes, ROLLOVER)} rollovers, ${tally(closes, LIFETIME)} lifetime closes, ${c.gaps.length} gaps`;
  });
  const { begun, none, gone } = cutter.tries;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  return `resume ${label} continuity: ${each.join("; ")}; ${begun} cuts tried (${none} found no connection, ${gone} found it gone); restarts ${restarted}; ${seconds} s`;
}

/** The stream length the gap scenario's gateway keeps, and how much it publishes. */
const KEPT = 10;
const BEFORE = 5;
const WHILE_HELD = 30;
const AFTER = 5;

export async function gapPastRetention(driver, store) {
  const label = `${driver.name}/${store}`;
  const run = freshRun(`${driver.name}-${store}-gap`, store, ["--history-max-messages", String(KEPT)]);
  const started = Date.now();
  const streams = { entity: 0, user: 0 };
  const totals = (n) => Object.fromEntries(Object.keys(streams).map((s) => [s, n]));
  let app, probe, refuser;
  try {
    refuser = await startRefuser();
    await run.gateway.start();
    probe = run.probe();
    await probe.connect();
    // Held handshakes fail like an unreachable server; the hold lasts seconds, well inside the
    // library's default window before failures in a browser count as a refusal.
    const options = { backoff: { baseMs: 200, maxMs: 1000 } };
    const config = { url: run.gateway.ws, secret: run.secret, ...run.ids, refuserUrl: refuser.url, clients: [{ name: "held", options }] };
    app = await driver.start(config);
    await withTimeout(app.ready(), 30_000, "the client did not subscribe");
    const publisher = new Publisher({ gateway: run.gateway, probe, ids: run.ids });
    const client = async () => (await app.snapshot())[0];
    await publisher.publish(totals(BEFORE));
    await until(async () => (await client()).entityCount === BEFORE && (await client()).userCount === BEFORE, 15_000, "the first messages arrived");
    await holdDown(app, run, client);
    await publisher.publish(totals(BEFORE + WHILE_HELD));
    await until(async () => (await client()).stats.failedHandshakes > 0, 15_000, "a held handshake failed");
    await app.hold(false);
    await until(async () => (await client()).gaps.length === 2, 15_000, "both streams reported a gap");
    await publisher.publish(totals(BEFORE + WHILE_HELD + AFTER));
    const last = BEFORE + WHILE_HELD + AFTER;
    await until(async () => (await client()).entityCount >= BEFORE + AFTER && (await client()).userCount >= BEFORE + AFTER, 15_000, `messages up to ${last} arrived`);
    await sleep(SETTLE_MS);
    const [held] = await app.snapshot(true);
    checkGap(held, run.ids.entityId);
    summary(gapSummary(label, held, started));
  } finally {
    await app?.close();
    probe?.close();
    await run.gateway.stop();
    await refuser?.close();
  }
}

/** Points the client's next connections at the refuser, then deletes the one it has. */
async function holdDown(app, run, client) {
  await app.hold(true);
  const id = await newestConnection(run.gateway, run.ids.userId, "held");
  assert.ok(id !== undefined, "the client has a connection to cut");
  assert.ok(await deleteConnection(run.gateway, id), "its connection was deleted");
  await until(async () => (await client()).state === "reconnecting", 15_000, "the client lost its connection");
}

function checkGap(client, entityId) {
  const missedTo = BEFORE + WHILE_HELD;
  const expected = [...range(1, BEFORE), ...range(missedTo + 1, missedTo + AFTER)];
  for (const stream of ["entity", "user"]) {
    const received = client[stream];
    assert.deepEqual(received.map(([n]) => n), expected, `${stream}: the messages before the hold, then the ones after it, in order`);
    assert.deepEqual(received.map(([, serial]) => serial), expected, `${stream}: serials`);
    const streamId = received[0][2];
    const gap = client.gaps.find((g) => (stream === "entity" ? "entityId" in g.stream : g.stream.stream === "user"));
    assert.deepEqual(
      gap,
      {
        stream: stream === "entity" ? { entityId } : { stream: "user" },
        reason: "position_expired",
        from: { streamId, serial: BEFORE },
        to: { streamId, serial: missedTo },
      },
      `${stream}: the loss is reported as a gap from ${BEFORE} to ${missedTo}, with the server's reason`,
    );
  }
  assert.equal(client.gaps.length, 2, "one gap per stream, no more");
  assert.deepEqual(client.errors, [], "no error");
}

function gapSummary(label, client, started) {
  const gaps = client.gaps.map((g) => `${"entityId" in g.stream ? "entity" : "user"} ${g.reason} ${g.from.serial}→${g.to.serial}`);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  return `resume ${label} gap: ${client.entity.length}+${client.user.length} msgs delivered, ${WHILE_HELD}+${WHILE_HELD} missed while held (${client.stats.failedHandshakes} refused handshakes), ${client.reconnects} reconnects, ${client.gaps.length} gaps (${gaps.join(", ")}); ${seconds} s`;
}
