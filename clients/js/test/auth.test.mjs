// Refused handshakes: one retry with a fresh token, then stop and tell the application.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WebSocket } from "ws";

import { claimsOf } from "./support/jwt.mjs";
import { eventually, setUp } from "./support/harness.mjs";

/** A WebSocket shaped like a browser's: the same network, but no way to see HTTP statuses. */
class BrowserLikeWebSocket {
  #socket;

  constructor(url, protocols) {
    this.#socket = new WebSocket(url, protocols);
    this.#socket.on("error", () => undefined);
  }

  get readyState() {
    return this.#socket.readyState;
  }

  send(data) {
    this.#socket.send(data);
  }

  close(code, reason) {
    this.#socket.close(code, reason);
  }

  addEventListener(type, listener) {
    // A browser's error event says nothing about the cause.
    this.#socket.addEventListener(type, type === "error" ? () => listener({}) : listener);
  }
}

describe("auth", () => {
  it("stops reconnecting after a 401 that a fresh token does not cure, and says so", async (t) => {
    const { server, client, token, seen } = await setUp(t, { connect: false });
    server.refuse = () => 401;
    client.connect();
    await eventually(() => client.state === "refused", 5000);
    assert.equal(token.calls, 2, "the provider is asked once more after the first 401");
    assert.deepEqual(server.handshakes.map((h) => h.status), [401, 401]);
    assert.equal(seen.errors.length, 1);
    assert.equal(seen.errors[0].code, "AuthRefused");
    assert.equal(seen.errors[0].status, 401);
    await assert.rejects(client.history({ entityId: "x" }), (e) => e.code === "AuthRefused");
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(server.handshakes.length, 2, "no handshake after the refusal");
  });

  it("connects with the fresh token when only the first one was refused", async (t) => {
    const { server, client, token, seen } = await setUp(t, { connect: false });
    server.refuse = (jwt) => (claimsOf(jwt).n === 1 ? 403 : undefined);
    client.connect();
    await client.subscribe("x", () => undefined);
    await eventually(() => client.state === "open");
    assert.equal(token.calls, 2);
    assert.deepEqual(server.handshakes.map((h) => h.status), [403, undefined]);
    assert.deepEqual(seen.errors, []);
  });

  it("where the status is hidden, counts failed handshakes with fresh tokens as a refusal", async (t) => {
    const { server, client, token, seen } = await setUp(t, {
      connect: false,
      client: { WebSocket: BrowserLikeWebSocket, hiddenStatusAttempts: 3, hiddenStatusWindowMs: 1 },
    });
    server.refuse = () => 401;
    client.connect();
    await eventually(() => client.state === "refused", 5000);
    assert.equal(server.handshakes.length, 3);
    assert.equal(token.calls, 3, "each attempt had a fresh token");
    assert.equal(seen.errors[0].code, "AuthRefused");
    assert.equal(seen.errors[0].status, undefined);
  });

  it("keeps retrying a server that answers 500 or is not there", async (t) => {
    const { server, client, seen } = await setUp(t, { connect: false });
    server.refuse = () => 500;
    client.connect();
    await eventually(() => server.handshakes.length >= 4, 5000);
    assert.equal(client.state, "connecting");
    server.refuse = () => undefined;
    await eventually(() => client.state === "open", 5000);
    assert.deepEqual(seen.errors, []);
  });
});
