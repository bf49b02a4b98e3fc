/**
 * The connection's token: when to ask the application for a new one, and asking.
 *
 * A wspush connection ends with its token (the server closes it at `exp`), so the client must
 * connect again with a fresh token before then. The JWT's `exp` is read without verifying the
 * signature: the client only schedules with it, the server still decides. The provider is
 * called when no token is held, when the held one is within the refresh margin of its expiry,
 * and when the server refused or expired it (`invalidate`).
 */

import { decodeBase64Url, type Clock } from "./platform.js";

/** Supplies a JWT: the application's login, refresh or token endpoint. */
export type TokenProvider = () => string | Promise<string>;

/** The token's `exp` in ms since the epoch, or `undefined` when it is not a JWT with a numeric `exp`. */
export function jwtExpiryMs(token: string): number | undefined {
  const payload = token.split(".")[1];
  const text = payload === undefined ? undefined : decodeBase64Url(payload);
  if (text === undefined) return undefined;
  try {
    const claims: unknown = JSON.parse(text);
    const exp = typeof claims === "object" && claims !== null ? (claims as { exp?: unknown }).exp : undefined;
    return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * When to replace a token expiring at `expiryMs`, obtained at `obtainedAtMs`: `marginMs` before
 * expiry, but never earlier than halfway through its life, so a short-lived token (shorter than
 * twice the margin) is still used for a while instead of being replaced at once.
 */
export function refreshAtMs(expiryMs: number, obtainedAtMs: number, marginMs: number): number {
  const halfway = obtainedAtMs + (expiryMs - obtainedAtMs) / 2;
  return Math.max(expiryMs - marginMs, halfway);
}

/** A token and whether the provider was just called for it. */
export interface HeldToken {
  token: string;
  /** The provider produced it for this request (not a cached one). */
  fresh: boolean;
  /** When to replace it (ms since the epoch); `undefined` when its expiry is unknown. */
  refreshAt: number | undefined;
}

/** Holds the current token and calls the provider only when a new one is needed. */
export class TokenSource {
  #held: HeldToken | undefined;
  #pending: Promise<HeldToken> | undefined;

  constructor(
    private readonly provider: TokenProvider,
    private readonly marginMs: number,
    private readonly clock: Clock,
  ) {}

  /** The held token when it is still good, else a new one from the provider. */
  get(): Promise<HeldToken> {
    const held = this.#held;
    if (held !== undefined && (held.refreshAt === undefined || this.clock.now() < held.refreshAt)) {
      return Promise.resolve({ ...held, fresh: false });
    }
    return this.fresh();
  }

  /** Calls the provider (once, however many callers ask at the same time). */
  fresh(): Promise<HeldToken> {
    this.#pending ??= this.#fetch().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  /** Forgets the held token: the server refused or expired it. */
  invalidate(): void {
    this.#held = undefined;
  }

  async #fetch(): Promise<HeldToken> {
    const obtainedAt = this.clock.now();
    const token = await this.provider();
    if (typeof token !== "string" || token === "") {
      throw new TypeError("the token provider returned no token (expected a non-empty string)");
    }
    const expiry = jwtExpiryMs(token);
    const refreshAt = expiry === undefined ? undefined : refreshAtMs(expiry, obtainedAt, this.marginMs);
    this.#held = { token, fresh: true, refreshAt };
    return this.#held;
  }
}
