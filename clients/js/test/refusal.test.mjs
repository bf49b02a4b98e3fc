// When reconnecting stops: a refusal seen twice (the second time with a fresh token), or, where
// the status is hidden, enough failures in a row with fresh tokens.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { RefusalTracker } from "../dist/refusal.js";

const seen = (status) => ({ statusObservable: true, ...(status === undefined ? {} : { status }) });
const hidden = (offline = false) => ({ statusObservable: false, offline });

describe("refusal", () => {
  it("retries a 401 once with a fresh token, and stops at the second", () => {
    const t = new RefusalTracker(5);
    assert.equal(t.failed(seen(401), true), "retry-with-fresh-token");
    assert.equal(t.failed(seen(401), true), "refused");
  });

  it("treats 403 as 401", () => {
    const t = new RefusalTracker(5);
    assert.equal(t.failed(seen(403), false), "retry-with-fresh-token");
    assert.equal(t.failed(seen(401), true), "refused");
  });

  it("does not stop on a second refusal made with a cached token", () => {
    const t = new RefusalTracker(5);
    t.failed(seen(401), true);
    assert.equal(t.failed(seen(401), false), "retry-with-fresh-token");
  });

  it("never counts other statuses or network faults, and they break a run of refusals", () => {
    const t = new RefusalTracker(5);
    for (const status of [429, 500, 502, undefined]) assert.equal(t.failed(seen(status), true), "retry");
    t.failed(seen(401), true);
    t.failed(seen(500), true);
    assert.equal(t.failed(seen(401), true), "retry-with-fresh-token");
  });

  it("where the status is hidden, a run of failures counts only once it has lasted the window", () => {
    let now = 0;
    const t = new RefusalTracker(3, 60_000, () => now);
    for (let i = 0; i < 10; i += 1) {
      now += 1_000;
      assert.equal(t.failed(hidden(), true), "retry-with-fresh-token", "a restart's quick failures");
    }
    now += 60_000;
    assert.equal(t.failed(hidden(), true), "refused");
    t.opened();
    now += 1_000;
    assert.equal(t.failed(hidden(), true), "retry-with-fresh-token", "a new run starts its own window");
  });

  it("an open handshake clears the count", () => {
    const t = new RefusalTracker(5);
    t.failed(seen(401), true);
    t.opened();
    assert.equal(t.failed(seen(401), true), "retry-with-fresh-token");
  });

  it("with the status hidden, stops after N failures in a row with fresh tokens", () => {
    const t = new RefusalTracker(3);
    assert.equal(t.failed(hidden(), true), "retry-with-fresh-token");
    assert.equal(t.failed(hidden(), false), "retry-with-fresh-token", "a cached token proves nothing");
    assert.equal(t.failed(hidden(), true), "retry-with-fresh-token");
    assert.equal(t.failed(hidden(), true), "refused");
  });

  it("with the status hidden, does not count failures while offline", () => {
    const t = new RefusalTracker(2);
    assert.equal(t.failed(hidden(), true), "retry-with-fresh-token");
    for (let i = 0; i < 10; i += 1) assert.equal(t.failed(hidden(true), true), "retry");
    assert.equal(t.failed(hidden(), true), "refused");
  });
});
