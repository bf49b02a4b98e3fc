// Pushes as the network delivers them (repeated, out of order, missing) reach the application
// once and in order; with streams off, as received with repeats dropped.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { eventually, recorder, setUp } from "./support/harness.mjs";

describe("delivery", () => {
  it("drops repeated pushes and fills a missing one from history", async (t) => {
    const { server, client, seen } = await setUp(t);
    const entity = recorder();
    await client.subscribe("x", entity.handler);
    server.publish("x", 1);
    const second = server.publish("x", 2, { live: false }); // stored, but its push is late
    const third = server.publish("x", 3);
    server.pushToSubscribers("x", third); // a redelivery
    await eventually(() => entity.messages.length === 3, 3000);
    assert.deepEqual(entity.messages, [1, 2, 3]);
    assert.deepEqual(server.framesOf("history").map((f) => [f.entityId, f.after]), [["x", 1]]);
    server.pushToSubscribers("x", second); // the late push finally comes: a repeat by now
    server.publish("x", 4);
    await eventually(() => entity.messages.length === 4);
    assert.deepEqual(entity.messages, [1, 2, 3, 4]);
    assert.deepEqual(seen.gaps, []);
  });

  it("puts pushes that arrive out of order back in order without asking history", async (t) => {
    const { server, client } = await setUp(t, { client: { holdMs: 2000 } });
    const user = recorder();
    client.onUserNotification(user.handler);
    await client.subscribe("x", () => undefined);
    const first = server.publishUser("a", { live: false });
    const second = server.publishUser("b", { live: false });
    for (const frame of [second, first, second]) for (const c of server.openConnections()) c.ws.send(JSON.stringify(frame));
    await eventually(() => user.messages.length === 2);
    assert.deepEqual(user.messages, ["a", "b"]);
    assert.equal(server.framesOf("history").length, 0);
  });

  it("keeps pushes that arrive before the subscribe reply and judges them by it", async (t) => {
    const { server, client } = await setUp(t);
    const entity = recorder();
    const old = server.publish("x", "old"); // before the subscription: not for this client
    server.beforeReply = (connection, { entityId }) => {
      if (entityId !== "x") return;
      server.pushToSubscribers("x", old); // a late redelivery of a message the position covers
      server.publish("x", "new"); // published after the position was read
    };
    await client.subscribe("x", entity.handler);
    await eventually(() => entity.messages.length === 1);
    server.publish("x", "newer");
    await eventually(() => entity.messages.length === 2);
    assert.deepEqual(entity.messages, ["new", "newer"]);
    assert.deepEqual(server.framesOf("history"), []);
  });

  it("reports a history page that cannot fill the hole as a gap and goes on", async (t) => {
    const { server, client, seen } = await setUp(t);
    const entity = recorder();
    await client.subscribe("x", entity.handler);
    server.publish("x", 1);
    server.publish("x", 2, { live: false });
    server.publish("x", 3, { live: false });
    server.entity("x").trimBelow(4); // history lost 1..3 before the client could ask
    server.publish("x", 4);
    await eventually(() => seen.gaps.length === 1, 3000, "the gap");
    assert.equal(seen.gaps[0].reason, "position_expired");
    assert.deepEqual(seen.gaps[0].from.serial, 1);
    server.publish("x", 5);
    await eventually(() => entity.messages.includes(5));
    assert.deepEqual(entity.messages, [1, 5]);
  });

  it("reports a handler that throws and goes on delivering", async (t) => {
    const { server, client, seen } = await setUp(t);
    const entity = recorder();
    client.on("error", () => {
      throw new Error("an error listener that throws is not reported again");
    });
    await client.subscribe("x", (push) => {
      if (push.message === 1) throw new Error("boom");
    });
    await client.subscribe("x", entity.handler);
    server.publish("x", 1);
    server.publish("x", 2);
    await eventually(() => entity.messages.length === 2);
    assert.deepEqual(entity.messages, [1, 2]);
    assert.deepEqual(seen.errors.map((e) => [e.code, e.entityId, e.cause.message]), [["HandlerFailed", "x", "boom"]]);
  });

  it("with streams off delivers as received, drops repeats by eventId, and resubscribes without a position", async (t) => {
    const { server, client, seen } = await setUp(t, { server: { streamsOff: true } });
    const entity = recorder();
    const user = recorder();
    client.onUserNotification(user.handler);
    await client.subscribe("x", entity.handler);
    const a = server.publish("x", "a");
    assert.equal(a.serial, undefined);
    server.publish("x", "b");
    server.pushToSubscribers("x", a);
    server.publishUser("hi");
    await eventually(() => entity.messages.length === 2 && user.messages.length === 1);
    await assert.rejects(client.history({ entityId: "x" }), (e) => e.code === "HistoryDisabled");

    server.dropAll();
    await eventually(() => server.connections.length === 2 && client.state === "open");
    server.publish("x", "c");
    await eventually(() => entity.messages.length === 3);
    assert.deepEqual(entity.messages, ["a", "b", "c"]);
    assert.deepEqual(server.connections[1].frames.filter((f) => f.action !== "ping"), [
      { action: "resume" },
      { action: "subscribe", entityId: "x" },
    ]);
    assert.deepEqual(seen.gaps, []);
    assert.deepEqual(seen.errors, []);
  });
});
