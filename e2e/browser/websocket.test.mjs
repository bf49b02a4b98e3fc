// A real browser against the local gateway. Browsers are the strictest
// handshake clients there are: Chromium aborts a connection whose handshake answer does not
// select one of the subprotocols it offered, which is what API Gateway does unless `$connect`
// returns `Sec-WebSocket-Protocol`. Each test opens sockets inside a page served by the gateway,
// publishes with the real aws CLI, and waits for the push in the page.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { awsPutEvents, gateway, launch, mintToken } from "./support.mjs";

let browser;

before(async () => {
  browser = await launch();
  // Any page of the gateway's origin; the sockets are what is tested.
  await browser.page.goto(`${gateway.http}/_gateway/connections`);
});

after(async () => {
  await browser?.page.evaluate(() => Object.values(window.sockets || {}).forEach((s) => s.ws.close()));
  await browser?.close();
});

/**
 * Opens `new WebSocket(url, protocols)` in the page under `name`, records every text frame, and
 * resolves once it is open or has failed: {open, protocol, code}.
 */
function open(name, url, protocols) {
  return browser.page.evaluate(
    ({ name, url, protocols }) =>
      new Promise((resolve) => {
        window.sockets = window.sockets || {};
        const ws = protocols ? new WebSocket(url, protocols) : new WebSocket(url);
        const entry = { ws, frames: [] };
        window.sockets[name] = entry;
        ws.onmessage = (event) => entry.frames.push(JSON.parse(event.data));
        ws.onopen = () => resolve({ open: true, protocol: ws.protocol, code: null });
        ws.onclose = (event) => resolve({ open: false, protocol: ws.protocol, code: event.code });
      }),
    { name, url, protocols },
  );
}

function send(name, frame) {
  return browser.page.evaluate(({ name, frame }) => window.sockets[name].ws.send(JSON.stringify(frame)), { name, frame });
}

/** Waits until socket `name` has received a frame matching every field of `pattern`. */
async function frame(name, pattern, timeout = 15_000) {
  const handle = await browser.page.waitForFunction(
    ({ name, pattern }) =>
      window.sockets[name].frames.find((f) => Object.entries(pattern).every(([k, v]) => f[k] === v)),
    { name, pattern },
    { timeout, polling: 50 },
  );
  return handle.jsonValue();
}

function close(name) {
  return browser.page.evaluate((name) => window.sockets[name].ws.close(1000), name);
}

test("token in the query string: subscribe, then receive an aws CLI put-events push", async () => {
  const token = await mintToken({ userId: "browser-query" });
  const opened = await open("query", `${gateway.ws}?access_token=${encodeURIComponent(token)}`);
  assert.equal(opened.open, true, `handshake failed with code ${opened.code}`);
  assert.equal(opened.protocol, "", "no subprotocol offered, none selected");

  await send("query", { action: "subscribe", entityId: "myEntityId" });
  await frame("query", { type: "Subscribed", entityId: "myEntityId" });

  const published = await awsPutEvents("examples/entity-updated.json");
  assert.equal(published.FailedEntryCount, 0);
  const eventId = published.Entries[0].EventId;
  const push = await frame("query", { type: "Entity Updated", eventId });
  assert.equal(push.entityId, "myEntityId");
  assert.equal(push.message, "Something changed on myEntityId");
  await close("query");
});

test('token as a subprotocol: new WebSocket(url, ["websocket", token]) selects "websocket" and gets pushes', async () => {
  // The example user push goes to userId "myuserid", the default of CreateTestJwt.
  const token = await mintToken({});
  const opened = await open("subprotocol", gateway.ws, ["websocket", token]);
  assert.equal(opened.open, true, `handshake failed with code ${opened.code}`);
  assert.equal(opened.protocol, "websocket");

  await send("subprotocol", { action: "subscribe", entityId: "myEntityId" });
  await frame("subprotocol", { type: "Subscribed", entityId: "myEntityId" });
  const updated = await awsPutEvents("examples/entity-updated.json");
  await frame("subprotocol", { type: "Entity Updated", eventId: updated.Entries[0].EventId });

  const notified = await awsPutEvents("examples/send-user-push-notification.json");
  assert.equal(notified.FailedEntryCount, 0);
  const push = await frame("subprotocol", { type: "User Push Notification", eventId: notified.Entries[0].EventId });
  assert.equal(push.callback, "https://example.com/notifications/1");
  await close("subprotocol");
});

test("a browser offering only a subprotocol other than websocket cannot connect", async () => {
  // The token travels in the query string, so the authorizer accepts; `$connect` returns no
  // subprotocol for "chat", so the handshake selects none and Chromium must abort it.
  const token = await mintToken({ userId: "browser-chat" });
  const url = `${gateway.ws}?access_token=${encodeURIComponent(token)}`;
  const plain = await open("chat-control", url);
  assert.equal(plain.open, true, "the same token and URL without a subprotocol connect");
  await close("chat-control");
  const opened = await open("chat", url, ["chat"]);
  assert.equal(opened.open, false, `the browser connected with subprotocol "${opened.protocol}"`);
  assert.equal(opened.code, 1006);
});

test("a browser without a token is refused before the socket opens", async () => {
  const opened = await open("anonymous", gateway.ws);
  assert.equal(opened.open, false);
  assert.equal(opened.code, 1006);
});

test("a browser closing its socket gets the close frame answered: a clean close with its code", async () => {
  const token = await mintToken({ userId: "browser-close" });
  const closed = await browser.page.evaluate(
    (url) =>
      new Promise((resolve) => {
        const ws = new WebSocket(url);
        ws.onopen = () => ws.close(1000, "done");
        ws.onclose = (event) => resolve({ code: event.code, reason: event.reason, clean: event.wasClean });
      }),
    `${gateway.ws}?access_token=${encodeURIComponent(token)}`,
  );
  assert.deepEqual(closed, { code: 1000, reason: "done", clean: true });
});
