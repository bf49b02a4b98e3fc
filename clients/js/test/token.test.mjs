// When the token provider is called: before expiry by the margin, never for a token still good.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { TokenSource, jwtExpiryMs, refreshAtMs } from "../dist/token.js";
import { ManualClock } from "./support/clock.mjs";
import { jwt } from "./support/jwt.mjs";

describe("token", () => {
  it("reads exp from a JWT without verifying it, whatever its other claims", () => {
    assert.equal(jwtExpiryMs(jwt({ exp: 1_800_000_000, name: "Zoë 東京 ✓" })), 1_800_000_000_000);
    assert.equal(jwtExpiryMs(jwt({ sub: "no-exp" })), undefined);
    assert.equal(jwtExpiryMs(jwt({ exp: "soon" })), undefined);
    assert.equal(jwtExpiryMs("not-a-jwt"), undefined);
    assert.equal(jwtExpiryMs("a.!!!.b"), undefined);
    assert.equal(jwtExpiryMs(`a.${Buffer.from("{not json").toString("base64url")}.b`), undefined);
  });

  it("refreshes a margin before expiry, but not before half the token's life", () => {
    assert.equal(refreshAtMs(3_600_000, 0, 60_000), 3_540_000);
    assert.equal(refreshAtMs(60_000, 0, 60_000), 30_000);
  });

  it("calls the provider only when no token is held, the held one is due, or it was invalidated", async () => {
    const clock = new ManualClock(1_000_000_000_000);
    let calls = 0;
    const source = new TokenSource(
      () => {
        calls += 1;
        return jwt({ exp: Math.floor(clock.now() / 1000) + 600, n: calls });
      },
      60_000,
      clock,
    );
    const first = await source.get();
    assert.equal(first.fresh, true);
    assert.equal(first.refreshAt, clock.now() + 540_000);
    clock.advance(539_999);
    const cached = await source.get();
    assert.equal(cached.fresh, false);
    assert.equal(cached.token, first.token);
    assert.equal(calls, 1);
    clock.advance(1);
    assert.notEqual((await source.get()).token, first.token);
    assert.equal(calls, 2);
    source.invalidate();
    await source.get();
    assert.equal(calls, 3);
  });

  it("asks the provider once for concurrent callers, and accepts an async provider", async () => {
    let calls = 0;
    const source = new TokenSource(async () => {
      calls += 1;
      await new Promise((r) => setTimeout(r, 5));
      return "opaque-token";
    }, 60_000, new ManualClock());
    const [a, b] = await Promise.all([source.fresh(), source.fresh()]);
    assert.equal(calls, 1);
    assert.equal(a.token, b.token);
    assert.equal(a.refreshAt, undefined, "an opaque token is kept until the server refuses it");
  });

  it("refuses a provider answer that is not a token", async () => {
    const source = new TokenSource(() => "", 60_000, new ManualClock());
    await assert.rejects(source.get(), /returned no token/);
  });
});
