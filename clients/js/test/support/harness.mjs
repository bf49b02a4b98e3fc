// What every protocol test needs: a fake server and a client with test-sized timings, both
// stopped when the test ends, and a way to wait for a condition without fixed sleeps.

import assert from "node:assert/strict";
import { WebSocket } from "ws";

import { PushClient } from "../../dist/index.js";
import { FakeServer } from "./fake-server.mjs";
import { jwt } from "./jwt.mjs";

/** A token provider minting tokens valid for `lifetimeS`, counting its calls. */
export function tokenProvider(lifetimeS = 3600) {
  const provider = () => {
    provider.calls += 1;
    return jwt({ sub: "alice", exp: Math.floor(Date.now() / 1000) + lifetimeS, n: provider.calls });
  };
  provider.calls = 0;
  return provider;
}

/** Starts a fake server and a client for it; both are stopped after the test `t`. */
export async function setUp(t, { server: serverOptions = {}, client: clientOptions = {}, connect = true } = {}) {
  const server = await FakeServer.start(serverOptions);
  const token = clientOptions.token ?? tokenProvider();
  const client = new PushClient({
    url: server.url,
    WebSocket,
    backoff: { baseMs: 20, maxMs: 200 },
    throttleBackoff: { baseMs: 10, maxMs: 50 },
    holdMs: 100,
    replyTimeoutMs: 5000,
    handshakeTimeoutMs: 2000,
    ...clientOptions,
    token,
  });
  const seen = { gaps: [], errors: [], states: [] };
  client.on("gap", (g) => seen.gaps.push(g));
  client.on("error", (e) => seen.errors.push(e));
  client.on("state", (s) => seen.states.push(s));
  t.after(async () => {
    client.close();
    await server.close();
  });
  if (connect) client.connect();
  return { server, client, token, seen };
}

/** Waits until `check` returns a truthy value (or stops throwing); fails after `timeoutMs`. */
export async function eventually(check, timeoutMs = 5000, what = "the condition") {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      assert.fail(`timed out waiting for ${what}${last === undefined ? "" : `: ${last.message}`}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Records the messages (their `message` values) a handler receives. */
export function recorder() {
  const messages = [];
  const handler = (push) => messages.push(push.message);
  return { messages, handler };
}
