// The console driven end to end in headless Chromium, the way a user clicks
// through it: land on it from the gateway's root URL, mint tokens for two users, connect them
// side by side (query string and subprotocol), subscribe, publish both example events from the
// page and see each push arrive in the right connection only, send a bad frame and see the Error
// frame, filter the log, check labels, contrast and the keyboard, watch a refused event reach the
// dead-letter panel and redrive it, point the page at a second gateway that plays a deployed
// stack, and open a connection kept by the client library (@wspush/client), drop it, publish
// while it is down and see it resume with nothing lost. The tests run in order on one page, as
// one session of a user; screenshots of the key states go to WSPUSH_SCREENSHOTS.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { awsPutEvents, gateway, gatewayConnections, launch, mintToken, remote, screenshot } from "./support.mjs";

let browser;
let page;

before(async () => {
  browser = await launch();
  page = browser.page;
});

after(async () => {
  await browser?.close();
});

const card = (n) => page.locator(`article[data-connection="${n}"]`);
const logItems = () => page.locator("#log li");

/** Waits until `locator` has an element whose text contains `text`. */
async function showsText(locator, text, timeout = 10_000) {
  await locator.filter({ hasText: text }).first().waitFor({ timeout });
}

async function mintAndConnect(userId, place) {
  await page.getByLabel("userId").fill(userId);
  await page.getByLabel("Token", { exact: true }).fill("");
  await page.getByRole("button", { name: "Mint token" }).click();
  await page.waitForFunction(() => document.getElementById("token").value.split(".").length === 3);
  await page.getByLabel(place === "query" ? /in the query string/ : /as a subprotocol/).check();
  await page.getByRole("button", { name: "Connect", exact: true }).click();
}

async function publishExample(file, edit) {
  await page.getByLabel("Example").selectOption(file);
  const entries = page.getByLabel(/^Entries/);
  await entries.fill(edit(await entries.inputValue()));
  await page.getByRole("button", { name: "Publish with PutEvents" }).click();
}

/** Publishes the entity example for `entityId` and answers its publication's entry and eventId. */
async function publishFor(entityId) {
  const publications = page.locator("#publications li");
  const before = await publications.count();
  await publishExample("entity-updated.json", (text) => text.replaceAll("myEntityId", entityId));
  await page.waitForFunction((n) => document.querySelectorAll("#publications li").length > n, before);
  const entry = publications.first();
  return { entry, eventId: await entry.locator("code").innerText() };
}

test("a browser opening the gateway's root URL lands on the console", async () => {
  await page.goto(`${gateway.http}/`);
  assert.equal(new URL(page.url()).pathname, "/_gateway/console");
  await page.locator("body[data-ready=true]").waitFor();
  assert.equal(await page.getByLabel("WebSocket URL").inputValue(), gateway.ws);
  await showsText(page.locator("#mode"), "Local gateway");
  // No connections yet, and nothing dead-lettered.
  await showsText(page.locator("#server-connections td"), "none");
  assert.equal((await page.locator("#dead-letters").innerText()).trim(), "none");
  await screenshot(page, "01-console-empty");
});

test("two users connect side by side, one by query string, one by subprotocol", async () => {
  await mintAndConnect("alice", "query");
  await showsText(card(1).locator(".state"), "open");
  await mintAndConnect("bob", "subprotocol");
  await showsText(card(2).locator(".state"), "open");

  await showsText(card(1), "#1 alice");
  await showsText(card(1), "token in query string");
  await showsText(card(2), "#2 bob");
  await showsText(card(2), "token as subprotocol, selected: websocket");
  await showsText(page.locator("#server-connections tr"), "alice");
  await showsText(page.locator("#server-connections tr"), "bob");
  const users = (await gatewayConnections()).map((c) => c.authorizer.userId).sort();
  assert.deepEqual(users, ["alice", "bob"]);
});

test("a subscription shows in the frame log, on the card and in the gateway's listing", async () => {
  await card(1).getByLabel("Entity id").fill("console-entity");
  await card(1).getByRole("button", { name: "Subscribe", exact: true }).click();
  await showsText(logItems(), '"type": "Subscribed"');
  await showsText(card(1).locator(".subs"), "subscribed: console-entity");
  const row = page.locator("#server-connections tr").filter({ hasText: "alice" });
  await showsText(row, "console-entity");
  const alice = (await gatewayConnections()).find((c) => c.authorizer.userId === "alice");
  assert.deepEqual(alice.subscriptions, ["console-entity"]);
  const bob = (await gatewayConnections()).find((c) => c.authorizer.userId === "bob");
  assert.deepEqual(bob.subscriptions, []);
});

test("events published from the page reach the right connection only", async () => {
  await publishExample("entity-updated.json", (text) => text.replaceAll("myEntityId", "console-entity"));
  const updated = page.locator("#publications li").filter({ hasText: "Entity Updated" });
  await showsText(updated, "received by #1 alice");
  await showsText(updated, "not by #2 bob");
  await showsText(card(1).locator(".pushes"), "pushes received: 1");

  await publishExample("send-user-push-notification.json", (text) => text.replaceAll("myuserid", "bob"));
  const notified = page.locator("#publications li").filter({ hasText: "Send User Push Notification" });
  await showsText(notified, "received by #2 bob");
  await showsText(notified, "not by #1 alice");
  await showsText(card(2).locator(".pushes"), "pushes received: 1");
  assert.equal(await card(1).locator(".pushes").innerText(), "pushes received: 1");
  await showsText(logItems().filter({ hasText: "#2 bob" }), '"type": "User Push Notification"');
  // The README's picture (docs/console.png).
  await screenshot(page, "02-console-published");
});

test("a bad frame gets an Error frame and the connection stays open", async () => {
  await card(2).getByLabel("Frame to send").fill("hello, not JSON");
  await card(2).getByRole("button", { name: "Send frame" }).click();
  const error = logItems().filter({ hasText: "#2 bob" }).filter({ hasText: '"type": "Error"' });
  await showsText(error, "subscribe");
  await showsText(page.locator("#status.error"), "#2 bob was refused: BadRequest:");
  // Still open: Ctrl+Enter in the frame box sends a ping, and the pong comes back.
  const frame = card(2).getByLabel("Frame to send");
  await frame.fill('{"action":"ping"}');
  await frame.press("Control+Enter");
  await showsText(logItems().filter({ hasText: "#2 bob" }), '"type": "Pong"');
  await showsText(card(2).locator(".state"), "open");
  await screenshot(page, "03-console-error-frame");
});

test("the frame log filters by text, connection and direction", async () => {
  await page.getByLabel("Filter text").fill("Entity Updated");
  await page.getByLabel("Connection", { exact: true }).selectOption({ label: "#1 alice" });
  assert.equal(await logItems().count(), 1, "alice's one Entity Updated push");
  await page.getByLabel("Connection", { exact: true }).selectOption({ label: "#2 bob" });
  assert.equal(await logItems().count(), 0, "bob got no Entity Updated push");
  await page.getByLabel("Filter text").fill("");
  await page.getByLabel("Direction").selectOption("out");
  // bob sent: the bad frame, the ping.
  assert.equal(await logItems().count(), 2);
  await showsText(page.locator("#log-count"), "2 of");
  await page.getByLabel("Direction").selectOption("");
  await page.getByLabel("Connection", { exact: true }).selectOption("");
  assert.equal(await logItems().count(), await page.evaluate(() => document.querySelectorAll("#log li").length));
  await showsText(page.locator("#log-count"), "frames");
});

/**
 * How many visible texts the page shows, and those whose contrast with their background is
 * under 4.5:1 (WCAG AA).
 */
function contrast() {
  return page.evaluate(() => {
    const rgba = (css) => {
      const [r, g, b, a = 1] = css.match(/[\d.]+/g).map(Number);
      return { r, g, b, a };
    };
    const luminance = ({ r, g, b }) => {
      const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgba(getComputedStyle(e).backgroundColor);
        if (c.a > 0) return c;
      }
      return { r: 255, g: 255, b: 255, a: 1 };
    };
    const failures = [];
    let checked = 0;
    for (const el of document.body.querySelectorAll("*")) {
      const ownText = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
      if (!ownText || el.getClientRects().length === 0 || getComputedStyle(el).visibility === "hidden") continue;
      const [l1, l2] = [luminance(rgba(getComputedStyle(el).color)), luminance(background(el))].sort((a, b) => b - a);
      const ratio = (l1 + 0.05) / (l2 + 0.05);
      checked += 1;
      if (ratio < 4.5) failures.push(`${el.tagName} "${el.textContent.trim().slice(0, 30)}": ${ratio.toFixed(2)}`);
    }
    return { checked, failures };
  });
}

test("every control has a label, text keeps 4.5:1 contrast, and the keyboard alone subscribes", async () => {
  const { checked, failures } = await contrast();
  assert.ok(checked > 100, `only ${checked} texts measured`);
  assert.deepEqual(failures, []);
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea, button")]
      .filter((el) => {
        if (el.tagName === "BUTTON") return !el.textContent.trim() && !el.getAttribute("aria-label");
        return el.labels.length === 0 && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby");
      })
      .map((el) => el.outerHTML),
  );
  assert.deepEqual(unlabelled, []);
  const entity = card(1).getByLabel("Entity id");
  await entity.focus();
  await entity.fill("keyboard-entity");
  await entity.press("Enter");
  await showsText(card(1).locator(".subs"), "keyboard-entity");
  // Tab moves from the entity box to its Subscribe button.
  await entity.focus();
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Subscribe");
});

test("an event the runtime refuses lands in the dead-letter panel with its reason, and Redrive puts it back", async () => {
  // No entityId: the events function refuses it for what it is and sends it to the dead-letter
  // queue on its first receive, with the reason.
  // The Detail is given as an object: the page turns it into the string PutEvents wants.
  await publishExample("entity-updated.json", () =>
    JSON.stringify([{ Source: "console-test", DetailType: "Entity Updated", Detail: { message: "no entity id" } }]),
  );
  const publication = page.locator("#publications li").first();
  await showsText(publication, "received by none of your connections");
  const eventId = await publication.locator("code").innerText();
  const row = page.locator("#dead-letters tr.dead-letter");
  const refresh = page.getByRole("button", { name: "Refresh dead letters" });
  const deadline = Date.now() + 30_000;
  while ((await row.count()) === 0 && Date.now() < deadline) {
    await refresh.click();
    await page.waitForTimeout(250);
  }
  // The row carries the EventBridge event itself: its id and its detail.
  await showsText(row, `"id": "${eventId}"`);
  await showsText(row, "no entity id");
  // Sent there by the events function, not moved after receives: SQS counts no receive of it
  // in the dead-letter queue. Its reason is in the row.
  assert.equal(await row.locator("td").nth(2).innerText(), "0", "dead-lettered at once");
  assert.equal(await row.locator("td").nth(3).innerText(), "InvalidEvent");
  await showsText(row.locator("td.reason"), "detail.entityId must be a non-empty string");
  await screenshot(page, "04-console-dead-letter");
  await page.getByRole("button", { name: "Redrive all" }).click();
  await showsText(page.locator("#status"), "Redriven: 1 message(s).");
});

test("pointed at another endpoint, the console connects there, gets pushes, and leaves publishing to the aws CLI", async () => {
  const url = page.getByLabel("WebSocket URL");
  // Nothing listens on port 9 of 127.0.0.1: the socket must fail, visibly.
  await url.fill("ws://127.0.0.1:9/production");
  await showsText(page.locator("#mode"), "Remote endpoint 127.0.0.1:9");
  assert.equal(await page.getByRole("button", { name: "Publish with PutEvents" }).isDisabled(), true);
  assert.equal(await page.getByRole("button", { name: "Mint token" }).isDisabled(), true);
  await showsText(page.locator("#remote-publish:visible"), "aws events put-events");
  await page.getByRole("button", { name: "Connect", exact: true }).click();
  await showsText(card(3).locator(".state"), "closed (1006)");
  await showsText(logItems().filter({ hasText: "#3" }), "error: the handshake was refused");

  // A second gateway with its own secret plays the deployed stack: token minted there (as with
  // `aws lambda invoke`), pasted in, and a push published there with the aws CLI.
  await url.fill(remote.ws);
  await showsText(page.locator("#mode"), "Remote endpoint");
  await page.getByLabel("Token", { exact: true }).fill(await mintToken({ userId: "carol" }, remote));
  await page.getByLabel(/in the query string/).check();
  await page.getByRole("button", { name: "Connect", exact: true }).click();
  await showsText(card(4).locator(".state"), "open");
  await showsText(card(4), "#4 carol");
  await card(4).getByLabel("Entity id").fill("myEntityId");
  await card(4).getByRole("button", { name: "Subscribe", exact: true }).click();
  await showsText(card(4).locator(".subs"), "subscribed: myEntityId");
  const published = await awsPutEvents("examples/entity-updated.json", remote);
  const push = logItems().filter({ hasText: "#4 carol" }).filter({ hasText: published.Entries[0].EventId });
  await showsText(push, '"type": "Entity Updated"');
  await showsText(card(4).locator(".pushes"), "pushes received: 1");
  // The local gateway knows nothing of that connection.
  assert.equal((await gatewayConnections()).some((c) => c.authorizer.userId === "carol"), false);
  await card(4).getByRole("button", { name: "Close" }).click();
  await showsText(card(4).locator(".state"), "closed (1000)");

  await url.fill(gateway.ws);
  await showsText(page.locator("#mode"), "Local gateway");
  assert.equal(await page.getByRole("button", { name: "Publish with PutEvents" }).isDisabled(), false);
});

test("closing a connection from its card runs $disconnect on the gateway", async () => {
  await card(1).getByRole("button", { name: "Close" }).click();
  await showsText(card(1).locator(".state"), "closed (1000)");
  const deadline = Date.now() + 10_000;
  let users = [];
  while (Date.now() < deadline) {
    users = (await gatewayConnections()).map((c) => c.authorizer.userId);
    if (!users.includes("alice")) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(users, ["bob"]);
  // The page looks again by itself a second after a close.
  await page.waitForFunction(() => !document.getElementById("server-connections").textContent.includes("alice"));
  await showsText(page.locator("#server-connections tr"), "bob");
  // Remove takes the card and its entry in the log's connection filter away.
  await card(1).getByRole("button", { name: "Remove" }).click();
  assert.equal(await card(1).count(), 0);
  assert.equal(await page.locator('#filter-conn option[value="1"]').count(), 0);
});

test("a connection kept by the client library resumes after a drop: each push once, in order, serials 1 and 2", async () => {
  // bob's raw socket witnesses each publication: once it has the push, the event holds its
  // serial in the stream's history, ready for the library's resume to replay.
  await card(2).getByLabel("Entity id").fill("resume-entity");
  await card(2).getByRole("button", { name: "Subscribe", exact: true }).click();
  await showsText(card(2).locator(".subs"), "resume-entity");
  await page.getByLabel(/client library \(/).check();
  await mintAndConnect("dave", "query");
  const dave = card(5);
  await showsText(dave.locator(".state"), "open");
  await showsText(dave.locator(".facts"), "client library, token in query string");
  await dave.getByLabel("Entity id").fill("resume-entity");
  await dave.getByRole("button", { name: "Subscribe", exact: true }).click();
  await showsText(dave.locator(".subs"), "subscribed: resume-entity");

  const first = await publishFor("resume-entity");
  await showsText(first.entry, "received by #2 bob, #5 dave");
  await dave.getByLabel("Hold reconnects").check();
  await dave.getByRole("button", { name: "Drop connection" }).click();
  await showsText(dave.locator(".state"), "reconnecting");
  // The library tries again after its backoff; its handshake then waits for the hold.
  const daveLog = logItems().filter({ hasText: "#5 dave" });
  await showsText(daveLog, "handshake held");
  const second = await publishFor("resume-entity");
  await showsText(second.entry, "received by #2 bob");
  assert.equal(await dave.locator(".delivered li").count(), 1, "nothing reaches dave while the connection is down");
  await dave.getByLabel("Hold reconnects").uncheck();
  await showsText(dave.locator(".state"), "open");
  await showsText(dave.locator(".delivered li"), second.eventId);
  await showsText(second.entry, "received by #2 bob, #5 dave");

  const delivered = await dave.locator(".delivered li").allInnerTexts();
  assert.deepEqual(delivered, [
    `resume-entity · serial 1 · ${first.eventId}`,
    `resume-entity · serial 2 · ${second.eventId}`,
  ]);
  // The second push came by replay: the new socket subscribed from serial 1 and was told so.
  await showsText(daveLog.filter({ hasText: '"action": "subscribe"' }), '"serial": 1');
  await showsText(daveLog.filter({ hasText: '"type": "Subscribed"' }), '"replayed": 1');
  for (const step of ["state: reconnecting", "reconnects released", "state: open"]) {
    await showsText(daveLog, step);
  }
  assert.equal(await daveLog.filter({ hasText: "gap in" }).count(), 0, "no gap");
  assert.equal(await dave.locator(".pushes").innerText(), "pushes delivered: 2");
  const { failures } = await contrast();
  assert.deepEqual(failures, []);
  await screenshot(page, "05-console-library-resumed");

  await dave.getByRole("button", { name: "Close" }).click();
  await showsText(dave.locator(".state"), "closed");
  assert.equal(await dave.getByRole("button", { name: "Drop connection" }).isDisabled(), true);
});
