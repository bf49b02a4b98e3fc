// The client library in headless Chromium against the local gateway, on each store: the page
// loads the built library as an ES module; the publisher and the cutter run here, in Node.
import { after, before, test } from "node:test";
import { STORES } from "./env.mjs";
import { stopAll } from "./gateway.mjs";
import { browserDriver } from "./drivers.mjs";
import { continuity, gapPastRetention } from "./scenarios.mjs";

let driver;

before(async () => {
  driver = await browserDriver();
});

after(async () => {
  await driver?.close();
  stopAll();
});

for (const store of STORES) {
  test(`chromium, ${store} store: every message once and in order through cuts, rollovers and server closes${store === "dynamodb" ? " and a gateway restart" : ""}`, { timeout: 240_000 }, () =>
    continuity(driver, store));
  test(`chromium, ${store} store: messages lost past history's length are reported as a gap, then delivery goes on`, { timeout: 60_000 }, () =>
    gapPastRetention(driver, store));
}
