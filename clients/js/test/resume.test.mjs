// Reconnecting, rolling over and refreshing the token without losing or repeating a message.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { claimsOf } from "./support/jwt.mjs";
import { eventually, recorder, setUp, tokenProvider } from "./support/harness.mjs";

/** A client subscribed to "x" that has received its message 1. */
async function deliveredOne(t) {
  const setup = await setUp(t);
  const entity = recorder();
  await setup.client.subscribe("x", entity.handler);
  setup.server.publish("x", 1);
  await eventually(() => entity.messages.length === 1);
  return { ...setup, entity };
}

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("resume", () => {
  it("after a dropped connection resubscribes and resumes every stream from its position", async (t) => {
    const { server, client, seen } = await setUp(t);
    const entity = recorder();
    const user = recorder();
    client.onUserNotification(user.handler);
    await client.subscribe("x", entity.handler);
    await eventually(() => client.state === "open");
    server.publish("x", 1);
    server.publish("x", 2);
    server.publishUser("u1");
    await eventually(() => entity.messages.length === 2 && user.messages.length === 1);

    server.dropAll(1001);
    server.publish("x", 3); // published while the client is away: no connection receives it
    server.publish("x", 4);
    server.publishUser("u2");
    await eventually(() => server.connections.length === 2 && client.state === "open", 5000, "a new connection");
    server.publish("x", 5);
    await eventually(() => entity.messages.length === 5 && user.messages.length === 2);

    assert.deepEqual(entity.messages, [1, 2, 3, 4, 5]);
    assert.deepEqual(user.messages, ["u1", "u2"]);
    const [again] = server.connections[1].frames.filter((f) => f.action === "subscribe");
    assert.deepEqual(again.since, { streamId: server.entity("x").streamId, serial: 2 });
    const [resume] = server.connections[1].frames.filter((f) => f.action === "resume");
    assert.deepEqual(resume.since, { streamId: server.user.streamId, serial: 1 });
    assert.deepEqual(seen.gaps, []);
    assert.deepEqual(seen.states, ["connecting", "open", "reconnecting", "open"]);
  });

  it("rolls over before the connection's lifetime ends, missing and repeating nothing", async (t) => {
    const { server, client, seen } = await setUp(t, {
      server: { maxConnectionMs: 1200 },
      client: { maxConnectionMs: 1200, rolloverBeforeMs: 600 },
    });
    const entity = recorder();
    const user = recorder();
    client.onUserNotification(user.handler);
    await client.subscribe("x", entity.handler);
    let sent = 0;
    const publisher = setInterval(() => {
      sent += 1;
      server.publish("x", sent);
      if (sent % 5 === 0) server.publishUser(sent);
    }, 10);
    t.after(() => clearInterval(publisher));
    await eventually(() => server.connections.length >= 3, 8000, "two rollovers");
    clearInterval(publisher);
    await eventually(() => entity.messages.length === sent, 3000, "every message");

    assert.deepEqual(entity.messages, range(1, sent));
    assert.deepEqual(user.messages, range(1, Math.floor(sent / 5)).map((n) => n * 5));
    assert.deepEqual(seen.gaps, []);
    assert.ok(!seen.states.includes("reconnecting"), `states: ${seen.states}`);
    const [first, second] = server.connections;
    assert.equal(first.closedBy, "client", "the client closed the old connection before the server's limit");
    assert.equal(first.closeCode, 1000);
    assert.ok(second.openedAt <= first.closedAt, "the new connection opened before the old one closed");
  });

  it("gets a new token before the old one expires and moves to a connection made with it", async (t) => {
    const token = tokenProvider(3);
    const { server, client, seen } = await setUp(t, { client: { token, tokenRefreshMarginMs: 2000 } });
    const entity = recorder();
    await client.subscribe("x", entity.handler);
    server.publish("x", 1);
    await eventually(() => server.connections.length === 2 && client.state === "open", 4000, "a second connection");
    assert.equal(token.calls, 2);
    assert.equal(claimsOf(server.connections[1].token).n, 2, "the second connection uses the new token");
    server.publish("x", 2);
    await eventually(() => entity.messages.length === 2);
    assert.deepEqual(entity.messages, [1, 2]);
    assert.deepEqual(seen.gaps, []);
  });

  it("completes a replay the server cut short from history", async (t) => {
    const { server, seen, entity } = await deliveredOne(t);
    server.cutReplaysAt(2);
    server.dropAll();
    for (let i = 2; i <= 7; i += 1) server.publish("x", i);
    await eventually(() => entity.messages.length === 7, 5000, "the whole replay");
    assert.deepEqual(entity.messages, range(1, 7));
    assert.deepEqual(server.framesOf("history").map((f) => f.after), [3]);
    assert.deepEqual(seen.gaps, []);
  });

  it("reports ResumeFailed as a gap, then delivers from the server's position", async (t) => {
    const { server, seen, entity } = await deliveredOne(t);
    const streamId = server.entity("x").streamId;
    server.dropAll();
    for (let i = 2; i <= 5; i += 1) server.publish("x", i);
    server.entity("x").trimBelow(4); // 2 and 3 are gone
    await eventually(() => seen.gaps.length === 1, 5000, "the gap");
    assert.deepEqual(seen.gaps[0], {
      stream: { entityId: "x" },
      reason: "position_expired",
      from: { streamId, serial: 1 },
      to: { streamId, serial: 5 },
    });
    server.publish("x", 6);
    await eventually(() => entity.messages.length === 2);
    assert.deepEqual(entity.messages, [1, 6]);
  });

  it("sends the same sync again when the server could not read history", async (t) => {
    const { server, seen, entity } = await deliveredOne(t);
    server.failNextResume("history_unavailable", 2);
    server.dropAll();
    server.publish("x", 2);
    await eventually(() => entity.messages.length === 2, 5000);
    assert.deepEqual(entity.messages, [1, 2]);
    assert.deepEqual(seen.gaps, []);
    const second = server.connections[1].frames.map((f) => f.action);
    assert.deepEqual(second.slice(0, 4), ["resume", "resume", "resume", "subscribe"]);
  });
});
