/**
 * Keeping one usable connection: connecting, reconnecting, rolling over, and giving up.
 *
 * A connection is usable ("open") once every stream has been synced on it. The lifecycle
 * replaces a connection in three cases, always the same way (open a successor, sync every
 * stream on it, then let the predecessor go):
 *
 * - it closed or stopped answering: reconnect after a full-jitter backoff delay;
 * - it nears API Gateway's lifetime limit (`maxConnectionMs`, two hours) or its token nears
 *   expiry: roll over `rolloverBeforeMs` / the token margin ahead. The old connection keeps
 *   delivering until the new one is synced and only then closes, so no push published at the
 *   boundary is missed; the ones both deliver are dropped by the orderers as repeats;
 * - the server expired its token: reconnect with a new token.
 *
 * A failed handshake goes to `RefusalTracker`; when it says the server refuses this client,
 * the lifecycle stops and reports `AuthRefused` instead of retrying forever.
 */

import { Backoff, type BackoffOptions } from "./backoff.js";
import { Connection, type CloseInfo, type ConnectionTimings } from "./connection.js";
import { WspushError } from "./errors.js";
import { HandshakeError, type TokenPlacement } from "./handshake.js";
import { sleep, type Clock, type WebSocketConstructor } from "./platform.js";
import type { Push } from "./protocol.js";
import { RefusalTracker } from "./refusal.js";
import type { HeldToken, TokenSource } from "./token.js";

/**
 * - `idle`: `connect()` not called yet;
 * - `connecting`: the first connection is being made;
 * - `open`: a connection is up and every stream is synced on it;
 * - `reconnecting`: the connection was lost; a new one is being made, with backoff;
 * - `refused`: the server refused the handshake with a fresh token; the client stopped;
 * - `closed`: `close()` was called.
 */
export type ClientState = "idle" | "connecting" | "open" | "reconnecting" | "refused" | "closed";

export interface LifecycleOptions extends ConnectionTimings {
  url: string;
  tokenPlacement: TokenPlacement;
  WebSocket: WebSocketConstructor;
  clock: Clock;
  random: () => number;
  backoff: BackoffOptions;
  maxConnectionMs: number;
  rolloverBeforeMs: number;
  hiddenStatusAttempts: number;
  hiddenStatusWindowMs: number;
}

export interface LifecycleHooks {
  push(push: Push): void;
  /** Syncs every stream on a new connection; rejects when the connection is lost meanwhile. */
  sync(connection: Connection): Promise<void>;
  state(state: ClientState): void;
  error(error: WspushError): void;
}

/** When to replace a connection that opened at 0: `before` ahead of its end, else halfway. */
export function rolloverAfterMs(maxConnectionMs: number, rolloverBeforeMs: number): number {
  return rolloverBeforeMs < maxConnectionMs ? maxConnectionMs - rolloverBeforeMs : maxConnectionMs / 2;
}

interface Waiter {
  resolve(connection: Connection): void;
  reject(error: Error): void;
}

export class Lifecycle {
  #state: ClientState = "idle";
  #active: Connection | undefined;
  #candidate: Connection | undefined;
  #establishing = false;
  #freshTokenNext = false;
  #rolloverTimer: unknown;
  #pause: { cancel(): void } | undefined;
  #endError: WspushError | undefined;
  readonly #waiters: Waiter[] = [];
  readonly #backoff: Backoff;
  readonly #refusals: RefusalTracker;

  constructor(
    private readonly options: LifecycleOptions,
    private readonly tokens: TokenSource,
    private readonly hooks: LifecycleHooks,
  ) {
    this.#backoff = new Backoff(options.backoff, options.random);
    this.#refusals = new RefusalTracker(options.hiddenStatusAttempts, options.hiddenStatusWindowMs, () =>
      options.clock.now(),
    );
  }

  get state(): ClientState {
    return this.#state;
  }

  start(): void {
    if (this.#state !== "idle") return;
    this.#setState("connecting");
    void this.#establish();
  }

  /** Closes every connection and stops for good; waiting requests reject with `error`. */
  stop(state: "closed" | "refused", error: WspushError): void {
    if (this.#endError !== undefined) return;
    this.#endError = error;
    this.#pause?.cancel();
    this.options.clock.clearTimeout(this.#rolloverTimer);
    this.#active?.close();
    this.#candidate?.close();
    this.#active = undefined;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
    this.#setState(state);
  }

  /** The usable connection, once there is one. */
  ready(): Promise<Connection> {
    if (this.#endError !== undefined) return Promise.reject(this.#endError);
    const active = this.#active;
    if (active !== undefined && !active.closed) return Promise.resolve(active);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** The newest open connection (one being synced counts): where a change of subscriptions goes. */
  newest(): Connection | undefined {
    return this.#candidate ?? this.#active;
  }

  /** Makes a new usable connection; `pauseFirst` spreads the clients one event disconnected. */
  async #establish(pauseFirst = false): Promise<void> {
    if (this.#establishing) return;
    this.#establishing = true;
    try {
      if (pauseFirst) await this.#backoffPause();
      while (this.#endError === undefined) {
        const made = await this.#attempt();
        if (made !== undefined) {
          this.#promote(made.connection, made.token);
          return;
        }
        if (this.#endError === undefined) await this.#backoffPause();
      }
    } finally {
      this.#establishing = false;
    }
  }

  /** One try: a token, a handshake, and syncing every stream; `undefined` when any failed. */
  async #attempt(): Promise<{ connection: Connection; token: HeldToken } | undefined> {
    const token = await this.#token();
    if (token === undefined) return undefined;
    const connection = await this.#open(token);
    if (connection === undefined) return undefined;
    this.#candidate = connection;
    try {
      await this.hooks.sync(connection);
    } catch {
      connection.close();
      return undefined;
    } finally {
      this.#candidate = undefined;
    }
    if (connection.closed || this.#endError !== undefined) return undefined;
    return { connection, token };
  }

  async #token(): Promise<HeldToken | undefined> {
    try {
      const token = this.#freshTokenNext ? await this.tokens.fresh() : await this.tokens.get();
      this.#freshTokenNext = false;
      return token;
    } catch (cause) {
      this.hooks.error(new WspushError("TokenProviderFailed", "the token provider failed; retrying", { cause }));
      return undefined;
    }
  }

  async #open(token: HeldToken): Promise<Connection | undefined> {
    try {
      const connection = await Connection.open({
        ...this.options,
        token: token.token,
        onPush: (push) => this.hooks.push(push),
        onClosed: (closed, info) => this.#closed(closed, info),
      });
      this.#refusals.opened();
      if (this.#endError === undefined) return connection;
      connection.close();
      return undefined;
    } catch (error) {
      if (!(error instanceof HandshakeError)) throw error;
      this.#handshakeFailed(error, token.fresh);
      return undefined;
    }
  }

  #handshakeFailed(error: HandshakeError, tokenWasFresh: boolean): void {
    const decision = this.#refusals.failed(error.failure, tokenWasFresh);
    if (decision === "refused") {
      const { status } = error.failure;
      const seen = status === undefined ? "" : ` with HTTP ${status}`;
      const refusal = new WspushError(
        "AuthRefused",
        `the server refused the connection${seen}, also with a fresh token from the provider; not retrying`,
        { cause: error, ...(status === undefined ? {} : { status }) },
      );
      this.stop("refused", refusal);
      this.hooks.error(refusal);
      return;
    }
    if (decision === "retry-with-fresh-token") {
      this.tokens.invalidate();
      this.#freshTokenNext = true;
    }
  }

  #promote(connection: Connection, token: HeldToken): void {
    if (this.#endError !== undefined) {
      connection.close();
      return;
    }
    const previous = this.#active;
    this.#active = connection;
    this.#backoff.reset();
    this.#scheduleRollover(connection, token);
    this.#setState("open");
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(connection);
    if (previous !== undefined && previous !== connection) previous.retire();
  }

  #scheduleRollover(connection: Connection, token: HeldToken): void {
    const { clock, maxConnectionMs, rolloverBeforeMs } = this.options;
    const lifetimeEnd = connection.openedAt + rolloverAfterMs(maxConnectionMs, rolloverBeforeMs);
    const tokenDue = token.refreshAt !== undefined && token.refreshAt <= lifetimeEnd;
    const at = tokenDue ? (token.refreshAt ?? lifetimeEnd) : lifetimeEnd;
    clock.clearTimeout(this.#rolloverTimer);
    this.#rolloverTimer = clock.setTimeout(() => {
      if (connection !== this.#active || this.#endError !== undefined) return;
      // A timer may fire a little before the clock reads its time: ask for the token outright.
      if (tokenDue) this.#freshTokenNext = true;
      void this.#establish();
    }, Math.max(0, at - clock.now()));
  }

  #closed(connection: Connection, info: CloseInfo): void {
    if (info.tokenExpired) this.tokens.invalidate();
    if (connection !== this.#active || this.#endError !== undefined) return;
    this.#active = undefined;
    this.options.clock.clearTimeout(this.#rolloverTimer);
    this.#setState("reconnecting");
    void this.#establish(true);
  }

  async #backoffPause(): Promise<void> {
    const pause = sleep(this.options.clock, this.#backoff.next());
    this.#pause = pause;
    await pause.done;
    this.#pause = undefined;
  }

  #setState(state: ClientState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.hooks.state(state);
  }
}
