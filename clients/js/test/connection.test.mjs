// A client against the fake server: connecting, token placement, replies, pings, throttling.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { WebSocket } from "ws";

import { PushClient } from "../dist/index.js";
import { eventually, recorder, setUp } from "./support/harness.mjs";

describe("connection", () => {
  it("refuses options that cannot work, saying which", () => {
    const base = { url: "ws://127.0.0.1:1/production", token: () => "t", WebSocket };
    assert.throws(() => new PushClient({ ...base, pingIntervalMs: 0 }), /pingIntervalMs must be a positive/);
    assert.throws(() => new PushClient({ ...base, backoff: { baseMs: 10, maxMs: -1 } }), /backoff.maxMs/);
    if (globalThis.WebSocket === undefined) {
      assert.throws(() => new PushClient({ ...base, WebSocket: undefined }), /no global WebSocket/);
    } else {
      assert.equal(new PushClient({ ...base, WebSocket: undefined }).state, "idle", "the global WebSocket serves");
    }
    assert.equal(new PushClient(base).state, "idle");
  });

  it("offers the token as the subprotocol, subscribes, and delivers entity and user pushes", async (t) => {
    const { server, client, seen } = await setUp(t);
    const entity = recorder();
    const user = recorder();
    client.onUserNotification(user.handler);
    await client.subscribe("orders/1", entity.handler);
    await eventually(() => client.state === "open");
    assert.equal(server.handshakes[0].place, "protocol");
    server.publish("orders/1", "shipped");
    server.publishUser("hello");
    server.publish("orders/2", "not subscribed");
    await eventually(() => entity.messages.length === 1 && user.messages.length === 1);
    assert.deepEqual(entity.messages, ["shipped"]);
    assert.deepEqual(user.messages, ["hello"]);
    assert.deepEqual(server.framesOf("resume"), [{ action: "resume" }], "the first resume has no position");
    assert.deepEqual(server.framesOf("subscribe"), [{ action: "subscribe", entityId: "orders/1" }]);
    assert.deepEqual(seen.states, ["connecting", "open"]);
    assert.deepEqual(seen.errors, []);
  });

  it("puts the token in the query string when asked", async (t) => {
    const { server, client } = await setUp(t, { client: { tokenIn: "query" } });
    await client.subscribe("x", () => undefined);
    assert.equal(server.handshakes[0].place, "query");
  });

  it("sends ping when nothing crossed the connection for the interval", async (t) => {
    const { server, client } = await setUp(t, { client: { pingIntervalMs: 100 } });
    await client.subscribe("x", () => undefined);
    await eventually(() => server.framesOf("ping").length >= 2, 3000, "two pings");
    assert.equal(client.state, "open");
  });

  it("resubmits a throttled frame until it runs, in either throttle shape", async (t) => {
    const { server, client } = await setUp(t, { connect: false });
    server.throttleNext(1, { type: "Error", message: "Too Many Requests" });
    server.throttleNext(2);
    client.connect();
    await client.subscribe("x", () => undefined);
    // resume was refused three times before it ran, then subscribe ran at once.
    assert.equal(server.framesOf("resume").length, 4);
    assert.equal(server.framesOf("subscribe").length, 1);
  });

  it("answers history pages and rejects what the server refuses with its code", async (t) => {
    const { server, client } = await setUp(t);
    for (let i = 1; i <= 5; i += 1) server.publish("x", i);
    const page = await client.history({ entityId: "x" }, { after: 2, limit: 2 });
    assert.deepEqual(page.messages.map((m) => m.serial), [3, 4]);
    assert.equal(page.more, true);
    assert.equal(page.serial, 5);
    const newest = await client.history({ entityId: "x" }, { limit: 2 });
    assert.deepEqual(newest.messages.map((m) => m.message), [4, 5]);
    server.publishUser("note");
    const user = await client.history({ stream: "user" });
    assert.deepEqual(user.messages.map((m) => m.message), ["note"]);
    server.forbidden.add("secret");
    await assert.rejects(client.subscribe("secret", () => undefined), (e) => e.code === "Forbidden" && e.entityId === "secret");
  });

  it("unsubscribes when the last handler goes, and stops delivering", async (t) => {
    const { server, client } = await setUp(t);
    const a = recorder();
    const b = recorder();
    await client.subscribe("x", a.handler);
    await client.subscribe("x", b.handler);
    assert.equal(server.framesOf("subscribe").length, 1, "a second handler needs no second subscribe");
    await client.unsubscribe("x", a.handler);
    assert.equal(server.framesOf("unsubscribe").length, 0);
    server.publish("x", 1);
    await eventually(() => b.messages.length === 1);
    await client.unsubscribe("x", b.handler);
    assert.deepEqual(server.framesOf("unsubscribe"), [{ action: "unsubscribe", entityId: "x" }]);
    server.publish("x", 2);
    await client.history({ entityId: "x" });
    assert.deepEqual(a.messages, []);
    assert.deepEqual(b.messages, [1]);
  });

  it("drops a connection that stops answering and sends the request again on the next", async (t) => {
    const { server, client, seen } = await setUp(t, { client: { replyTimeoutMs: 300 } });
    await client.subscribe("x", () => undefined);
    server.publish("x", 1);
    server.connections[0].mute = true;
    const page = client.history({ entityId: "x" });
    await eventually(() => server.connections[0].closeCode === 4000, 3000, "the client to drop the connection");
    assert.deepEqual((await page).messages.map((m) => m.message), [1]);
    assert.equal(server.connections.length, 2);
    assert.deepEqual(seen.errors, []);
  });

  it("connects again with a new token after the server expired the connection's token", async (t) => {
    const { server, client, token } = await setUp(t);
    await client.subscribe("x", () => undefined);
    server.publish("x", 1);
    server.expireNextFrame();
    const page = await client.history({ entityId: "x" });
    assert.deepEqual(page.messages.map((m) => m.message), [1]);
    assert.equal(token.calls, 2);
    assert.equal(server.connections.length, 2);
  });

  it("closes for good: no reconnect, promises reject with Closed", async (t) => {
    const { server, client, seen } = await setUp(t);
    await client.subscribe("x", () => undefined);
    client.close();
    assert.equal(client.state, "closed");
    await eventually(() => server.openConnections().length === 0);
    await assert.rejects(client.subscribe("y", () => undefined), (e) => e.code === "Closed");
    await assert.rejects(client.history({ entityId: "x" }), (e) => e.code === "Closed");
    assert.equal(server.handshakes.length, 1);
    assert.deepEqual(seen.errors, []);
  });
});
