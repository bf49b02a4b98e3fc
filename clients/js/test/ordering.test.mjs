// The per-stream rule on its own: once, in order, holes filled from history or reported.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { StreamOrderer } from "../dist/ordering.js";
import { ManualClock } from "./support/clock.mjs";

const HOLD_MS = 1000;

function push(serial, streamId = "g1") {
  return { type: "Entity Updated", entityId: "X", eventId: `${streamId}-${serial}`, streamId, serial, message: serial };
}

function page(serials, { streamId = "g1", newest = Math.max(0, ...serials), oldest = serials[0] ?? null, more = false } = {}) {
  return { streamId, oldestSerial: oldest, serial: newest, more, messages: serials.map((s) => push(s, streamId)) };
}

/** An orderer synced at `position`, recording what it delivers, asks and reports. */
function orderer(position = { streamId: "g1", serial: 0 }, { settleCheckMs = 0 } = {}) {
  const clock = new ManualClock();
  const seen = { delivered: [], fills: [], gaps: [] };
  const o = new StreamOrderer(
    {
      deliver: (p) => seen.delivered.push(p.serial ?? p.eventId),
      requestFill: (after) => seen.fills.push(after),
      gap: (g) => seen.gaps.push(g),
    },
    { holdMs: HOLD_MS, settleCheckMs, clock },
  );
  if (position !== undefined) o.endSync(o.beginSync(), { kind: "position", position });
  return { o, clock, seen };
}

describe("ordering", () => {
  it("delivers in order and drops repeats of a serial", () => {
    const { o, seen } = orderer();
    for (const s of [1, 2, 2, 1, 3]) o.push(push(s));
    assert.deepEqual(seen.delivered, [1, 2, 3]);
    assert.deepEqual(o.position(), { streamId: "g1", serial: 3 });
  });

  it("reads one page after the position a moment after each sync, and delivers what the live pushes missed", () => {
    const { o, clock, seen } = orderer({ streamId: "g1", serial: 0 }, { settleCheckMs: 2000 });
    o.push(push(1));
    clock.advance(1999);
    assert.deepEqual(seen.fills, []);
    clock.advance(1);
    assert.deepEqual(seen.fills, [1], "one page after the position");
    o.fillPage(page([2], { newest: 2 }));
    assert.deepEqual(seen.delivered, [1, 2], "the message the live path let slip");
    clock.advance(10_000);
    assert.deepEqual(seen.fills, [1], "once per sync");
    assert.equal(clock.pending, 0);
  });

  it("holds a message ahead of a missing one until the missing one comes", () => {
    const { o, clock, seen } = orderer();
    o.push(push(1));
    o.push(push(3));
    o.push(push(4));
    assert.deepEqual(seen.delivered, [1]);
    clock.advance(HOLD_MS / 2);
    o.push(push(2));
    assert.deepEqual(seen.delivered, [1, 2, 3, 4]);
    clock.advance(HOLD_MS * 2);
    assert.deepEqual(seen.fills, [], "nothing is asked of history when the hole filled itself");
    assert.equal(clock.pending, 0);
  });

  it("asks history after the position when the hold expires, and delivers the page in order", () => {
    const { o, clock, seen } = orderer();
    o.push(push(1));
    o.push(push(4));
    clock.advance(HOLD_MS - 1);
    assert.deepEqual(seen.fills, []);
    clock.advance(1);
    assert.deepEqual(seen.fills, [1]);
    o.fillPage(page([2, 3, 4]));
    assert.deepEqual(seen.delivered, [1, 2, 3, 4]);
    assert.deepEqual(seen.gaps, []);
  });

  it("pages on while the page says more and the hole is not filled", () => {
    const { o, clock, seen } = orderer();
    o.push(push(5));
    clock.advance(HOLD_MS);
    o.fillPage(page([1, 2], { newest: 5, more: true }));
    assert.deepEqual(seen.fills, [0, 2]);
    o.fillPage(page([3, 4, 5], { newest: 5 }));
    assert.deepEqual(seen.delivered, [1, 2, 3, 4, 5]);
  });

  it("reports a gap when the page does not cover the hole, then goes on after it", () => {
    const { o, clock, seen } = orderer({ streamId: "g1", serial: 1 });
    o.push(push(4));
    clock.advance(HOLD_MS);
    o.fillPage(page([2], { oldest: 1, newest: 4 }));
    assert.deepEqual(seen.gaps, [
      { reason: "history_incomplete", from: { streamId: "g1", serial: 2 }, to: { streamId: "g1", serial: 3 } },
    ]);
    assert.deepEqual(seen.delivered, [2, 4]);
    o.push(push(5));
    assert.deepEqual(seen.delivered, [2, 4, 5]);
  });

  it("reports trimmed history as position_expired and takes the page's position", () => {
    const { o, clock, seen } = orderer({ streamId: "g1", serial: 1 });
    o.push(push(9));
    clock.advance(HOLD_MS);
    o.fillPage(page([5, 6, 7, 8, 9], { oldest: 5, newest: 9 }));
    assert.equal(seen.gaps.length, 1);
    assert.equal(seen.gaps[0].reason, "position_expired");
    assert.deepEqual(seen.gaps[0].to, { streamId: "g1", serial: 9 });
    assert.deepEqual(o.position(), { streamId: "g1", serial: 9 });
    o.push(push(10));
    assert.deepEqual(seen.delivered, [10]);
  });

  it("reports a failed history request as a gap and delivers what it held", () => {
    const { o, clock, seen } = orderer();
    o.push(push(3));
    clock.advance(HOLD_MS);
    o.fillFailed();
    assert.equal(seen.gaps[0].reason, "history_unavailable");
    assert.deepEqual(seen.delivered, [3]);
  });

  it("reports a new generation in a push, takes up that push, and drops late pushes of the old one", () => {
    const { o, seen } = orderer({ streamId: "g1", serial: 7 });
    o.push(push(2, "g2"));
    assert.deepEqual(seen.gaps, [
      { reason: "stream_reset", from: { streamId: "g1", serial: 7 }, to: { streamId: "g2", serial: 1 } },
    ]);
    o.push(push(8, "g1"));
    o.push(push(3, "g2"));
    assert.deepEqual(seen.delivered, [2, 3]);
  });

  it("takes up the first generation it sees from position (null, 0)", () => {
    const { o, seen } = orderer({ streamId: null, serial: 0 });
    o.push(push(1, "g9"));
    o.push(push(2, "g9"));
    assert.deepEqual(seen.delivered, [1, 2]);
    assert.deepEqual(seen.gaps, []);
    assert.deepEqual(o.position(), { streamId: "g9", serial: 2 });
  });

  it("a history page of another generation is a reset to the page's position", () => {
    const { o, clock, seen } = orderer({ streamId: "g1", serial: 3 });
    o.push(push(6));
    clock.advance(HOLD_MS);
    o.fillPage(page([1, 2], { streamId: "g2", newest: 2 }));
    assert.deepEqual(seen.gaps.map((g) => [g.reason, g.to]), [["stream_reset", { streamId: "g2", serial: 2 }]]);
    o.push(push(3, "g2"));
    assert.deepEqual(seen.delivered, [3]);
  });

  it("buffers pushes while a sync is pending and orders them against the reply", () => {
    const { o, seen } = orderer(undefined);
    const id = o.beginSync();
    o.push(push(12));
    o.push(push(10));
    o.push(push(11));
    assert.deepEqual(seen.delivered, []);
    o.endSync(id, { kind: "position", position: { streamId: "g1", serial: 10 } });
    assert.deepEqual(seen.delivered, [11, 12], "serial 10 predates the subscription");
  });

  it("a resume that continued delivers the replay and later pushes once each", () => {
    const { o, seen } = orderer({ streamId: "g1", serial: 2 });
    const id = o.beginSync();
    for (const s of [5, 3, 4, 5]) o.push(push(s));
    o.endSync(id, { kind: "continued", newest: { streamId: "g1", serial: 5 }, more: false });
    assert.deepEqual(seen.delivered, [3, 4, 5]);
    assert.deepEqual(seen.fills, []);
  });

  it("reads history on after a replay the server cut short", () => {
    const { o, seen } = orderer({ streamId: "g1", serial: 2 });
    const id = o.beginSync();
    o.push(push(3));
    o.endSync(id, { kind: "continued", newest: { streamId: "g1", serial: 3 }, more: true });
    assert.deepEqual(seen.fills, [3]);
    o.fillPage(page([4, 5], { newest: 7, more: true }));
    assert.deepEqual(seen.fills, [3, 5]);
    o.fillPage(page([6, 7], { newest: 7 }));
    assert.deepEqual(seen.delivered, [3, 4, 5, 6, 7]);
    assert.deepEqual(seen.fills, [3, 5]);
  });

  it("a failed resume reports a gap and continues from the server's position", () => {
    const { o, seen } = orderer({ streamId: "g1", serial: 2 });
    const id = o.beginSync();
    o.push(push(41));
    o.push(push(40));
    o.endSync(id, {
      kind: "failed",
      reason: "position_expired",
      position: { streamId: "g1", serial: 40 },
    });
    assert.deepEqual(seen.gaps, [
      { reason: "position_expired", from: { streamId: "g1", serial: 2 }, to: { streamId: "g1", serial: 40 } },
    ]);
    assert.deepEqual(seen.delivered, [41]);
  });

  it("ignores the reply to a sync that a newer one replaced", () => {
    const { o, seen } = orderer({ streamId: "g1", serial: 2 });
    const old = o.beginSync();
    const current = o.beginSync();
    assert.equal(o.endSync(old, { kind: "position", position: { streamId: "g1", serial: 50 } }), false);
    assert.ok(o.syncing);
    o.push(push(3));
    o.endSync(current, { kind: "continued", newest: { streamId: "g1", serial: 3 }, more: false });
    assert.deepEqual(seen.delivered, [3]);
  });

  it("with streams off delivers as received and drops repeats by eventId", () => {
    const { o, seen } = orderer(undefined);
    o.endSync(o.beginSync(), { kind: "off" });
    const plain = (id) => ({ type: "Entity Updated", entityId: "X", eventId: id });
    for (const id of ["b", "a", "b", "c", "a"]) o.push(plain(id));
    assert.deepEqual(seen.delivered, ["b", "a", "c"]);
    assert.equal(o.position(), undefined);
  });

  it("stops its timers when disposed", () => {
    const { o, clock, seen } = orderer();
    o.push(push(3));
    o.dispose();
    clock.advance(HOLD_MS * 5);
    assert.deepEqual(seen.fills, []);
    assert.equal(clock.pending, 0);
  });
});
