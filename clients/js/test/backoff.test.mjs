// Reconnect and resubmit delays: full jitter under a cap that doubles up to the maximum.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { Backoff, fullJitterDelay } from "../dist/backoff.js";

const options = { baseMs: 100, maxMs: 1000 };

describe("backoff", () => {
  it("draws each delay uniformly below min(max, base·2^attempt)", () => {
    const top = () => 0.999999;
    assert.deepEqual([0, 1, 2, 3, 4, 5, 60].map((a) => fullJitterDelay(a, options, top)), [99, 199, 399, 799, 999, 999, 999]);
    assert.equal(fullJitterDelay(3, options, () => 0), 0);
    assert.equal(fullJitterDelay(3, options, () => 0.5), 400);
  });

  it("counts failures until reset", () => {
    const backoff = new Backoff(options, () => 0.5);
    assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [50, 100, 200]);
    assert.equal(backoff.attempts, 3);
    backoff.reset();
    assert.equal(backoff.next(), 50);
  });

  it("spreads delays over the whole range with real randomness", () => {
    const delays = Array.from({ length: 2000 }, () => fullJitterDelay(2, options, Math.random));
    assert.ok(delays.every((d) => d >= 0 && d < 400));
    assert.ok(delays.some((d) => d < 100) && delays.some((d) => d >= 300), "both ends of the range are drawn");
  });
});
