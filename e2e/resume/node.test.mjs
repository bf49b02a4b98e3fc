// The client library in Node (with `ws`) against the local gateway, on each store.
import { after, test } from "node:test";
import { STORES } from "./env.mjs";
import { stopAll } from "./gateway.mjs";
import { nodeDriver } from "./drivers.mjs";
import { continuity, gapPastRetention } from "./scenarios.mjs";

after(stopAll);

for (const store of STORES) {
  test(`node, ${store} store: every message once and in order through cuts, rollovers and server closes${store === "dynamodb" ? " and a gateway restart" : ""}`, { timeout: 240_000 }, () =>
    continuity(nodeDriver, store));
  test(`node, ${store} store: messages lost past history's length are reported as a gap, then delivery goes on`, { timeout: 60_000 }, () =>
    gapPastRetention(nodeDriver, store));
}
