/**
 * The application's entry point: options, subscriptions, history, and events.
 *
 * `PushClient` wires the parts together and holds no protocol logic of its own: `Lifecycle`
 * keeps a usable connection, `Streams` syncs and orders every stream on it, and the client
 * routes pushes to the streams, sends requests on the usable connection (again on the next
 * one when a connection is lost before the reply), and tells the application what it must
 * act on through three events: `gap`, `error` and `state`.
 */

import { fullJitterDelay, type BackoffOptions } from "./backoff.js";
import { WspushError } from "./errors.js";
import { Emitter } from "./events.js";
import type { TokenPlacement } from "./handshake.js";
import { Lifecycle, type ClientState } from "./lifecycle.js";
import { globalWebSocket, systemClock, type Clock, type WebSocketConstructor } from "./platform.js";
import { entityOf, type ClientFrame, type HistoryPage, type HistoryQuery, type Position, type Reply, type StreamSelector } from "./protocol.js";
import { FILL_PAGE_LIMIT, Streams, type EntityHandler, type GapEvent, type UserHandler } from "./streams.js";
import { TokenSource, type TokenProvider } from "./token.js";

export interface ClientOptions {
  /** `wss://…/{stage}`, or `ws://127.0.0.1:3001/production` for the local gateway. */
  url: string;
  /** Answers a JWT; called to connect, before the token expires, and after a refusal. */
  token: TokenProvider;
  /** Where the token goes: the subprotocol (default) or the `access_token` query parameter. */
  tokenIn?: TokenPlacement;
  /** The WebSocket class where there is no global one (Node 20: `WebSocket` from `ws`). */
  WebSocket?: WebSocketConstructor;
  /** Send a `ping` when nothing crossed the connection this long (API Gateway's idle limit is 10 minutes). Default 5 minutes. */
  pingIntervalMs?: number;
  /** The server's connection lifetime (API Gateway: 2 hours). Default 2 hours. */
  maxConnectionMs?: number;
  /** How long before `maxConnectionMs` to move to a new connection. Default 5 minutes. */
  rolloverBeforeMs?: number;
  /** How long before the token's `exp` to get a new one (and a new connection). Default 1 minute. */
  tokenRefreshMarginMs?: number;
  /** Reconnect delays: full jitter under min(maxMs, baseMs·2^attempt). Default 500 ms / 30 s. */
  backoff?: BackoffOptions;
  /** Delays before resubmitting a throttled frame (or a sync the store could not read). Default 100 ms / 5 s. */
  throttleBackoff?: BackoffOptions;
  /** How long a message that arrives ahead of a missing one waits before history is asked. Default 1 s. */
  holdMs?: number;
  /**
   * How long after each subscribe or resume the client reads one history page after its
   * position, to find a message the server's eventually consistent index let slip past this
   * connection (default 2 s; 0 never checks).
   */
  settleCheckMs?: number;
  /** A connection with a request unanswered and no frame for this long is dropped. Default 30 s. */
  replyTimeoutMs?: number;
  /** A handshake not open after this long is abandoned. Default 15 s. */
  handshakeTimeoutMs?: number;
  /**
   * Where the WebSocket hides the handshake's HTTP status (browsers), this many failed
   * handshakes in a row, each with a fresh token, count as a refusal... Default 5.
   */
  hiddenStatusAttempts?: number;
  /** ...when they span at least this long, so a restart or a short outage never stops the client. Default 2 min. */
  hiddenStatusWindowMs?: number;
  /** Time and timers (tests). */
  clock?: Clock;
  /** Randomness for jitter (tests). */
  random?: () => number;
}

/** The events `client.on` reports. */
export interface ClientEvents {
  /** Messages of a stream were missed: refetch the state that stream describes. */
  gap: GapEvent;
  /** Something the application should know that rejected none of its promises. */
  error: WspushError;
  state: ClientState;
}

const MINUTE = 60_000;

export class PushClient {
  readonly #events: Emitter<ClientEvents>;
  readonly #streams: Streams;
  readonly #lifecycle: Lifecycle;

  constructor(options: ClientOptions) {
    const WebSocket = options.WebSocket ?? globalWebSocket();
    if (WebSocket === undefined) {
      throw new TypeError(
        "this runtime has no global WebSocket (Node 20): pass one, e.g. `new PushClient({ WebSocket, … })` with `import { WebSocket } from \"ws\"`",
      );
    }
    checkTimings(options);
    const clock = options.clock ?? systemClock;
    const random = options.random ?? Math.random;
    const retry = options.throttleBackoff ?? { baseMs: 100, maxMs: 5_000 };
    this.#events = new Emitter<ClientEvents>((cause, event) => {
      // A throwing `error` listener has nowhere left to be reported.
      if (event !== "error") this.#report(new WspushError("HandlerFailed", `a "${event}" listener threw`, { cause }));
    });
    this.#streams = new Streams(
      {
        gap: (gap) => this.#events.emit("gap", gap),
        error: (error) => this.#report(error),
        fill: (stream, after) => this.#readHistory(stream, { after, limit: FILL_PAGE_LIMIT }),
      },
      {
        holdMs: options.holdMs ?? 1000,
        settleCheckMs: options.settleCheckMs ?? 2000,
        clock,
        retryDelayMs: (attempt) => fullJitterDelay(attempt, retry, random),
      },
    );
    const tokens = new TokenSource(options.token, options.tokenRefreshMarginMs ?? MINUTE, clock);
    this.#lifecycle = new Lifecycle(
      {
        url: options.url,
        tokenPlacement: options.tokenIn ?? "protocol",
        WebSocket,
        clock,
        random,
        backoff: options.backoff ?? { baseMs: 500, maxMs: 30_000 },
        retry,
        pingIntervalMs: options.pingIntervalMs ?? 5 * MINUTE,
        maxConnectionMs: options.maxConnectionMs ?? 120 * MINUTE,
        rolloverBeforeMs: options.rolloverBeforeMs ?? 5 * MINUTE,
        replyTimeoutMs: options.replyTimeoutMs ?? 30_000,
        handshakeTimeoutMs: options.handshakeTimeoutMs ?? 15_000,
        hiddenStatusAttempts: options.hiddenStatusAttempts ?? 5,
        hiddenStatusWindowMs: options.hiddenStatusWindowMs ?? 2 * MINUTE,
      },
      tokens,
      {
        push: (push) => this.#streams.push(push),
        sync: (connection) => this.#streams.syncAll(connection),
        state: (state) => this.#events.emit("state", state),
        error: (error) => this.#report(error),
      },
    );
  }

  get state(): ClientState {
    return this.#lifecycle.state;
  }

  /** Starts connecting (and keeps a connection from then on, until `close`). */
  connect(): void {
    this.#lifecycle.start();
  }

  /** Closes the connection for good; pending subscriptions and requests reject with `Closed`. */
  close(): void {
    const closed = new WspushError("Closed", "the client was closed");
    this.#lifecycle.stop("closed", closed);
    this.#streams.dispose(closed);
    this.#events.clear();
  }

  /**
   * Delivers `entityId`'s updates to `handler`, each once and in order. Resolves when the
   * server has answered the subscription; rejects with the server's code (`Forbidden`,
   * `TooManySubscriptions`, `BadRequest`) when it refused it.
   */
  subscribe(entityId: string, handler: EntityHandler): Promise<void> {
    if (this.#ended()) return Promise.reject(new WspushError("Closed", "the client was closed", { entityId }));
    const { created, ready } = this.#streams.addEntity(entityId, handler);
    const connection = this.#lifecycle.newest();
    if (created && connection !== undefined) {
      // A connection that is up has already been synced: sync the new stream on it too.
      this.#streams.syncAll(connection).catch(() => undefined);
    }
    return ready;
  }

  /** Removes `handler` (or every handler) for `entityId`; the last one unsubscribes. */
  async unsubscribe(entityId: string, handler?: EntityHandler): Promise<void> {
    if (!this.#streams.removeEntity(entityId, handler)) return;
    const connection = this.#lifecycle.newest();
    if (connection === undefined || connection.closed) return;
    // Best effort: a lost connection drops its subscriptions anyway.
    await connection.request({ action: "unsubscribe", entityId }).catch(() => undefined);
  }

  /** Delivers the user's notifications to `handler`, each once and in order; the answer removes it. */
  onUserNotification(handler: UserHandler): () => void {
    return this.#streams.addUserHandler(handler);
  }

  /** A page of a stream's history (`after`, `before` or the newest page), ascending. */
  history(stream: StreamSelector, query: HistoryQuery = {}): Promise<HistoryPage> {
    return this.#readHistory(stream, query);
  }

  /** Where delivery of a stream stands; `undefined` before its first reply or with streams off. */
  position(stream: StreamSelector): Position | undefined {
    return this.#streams.position(stream);
  }

  on<K extends keyof ClientEvents>(event: K, listener: (value: ClientEvents[K]) => void): () => void {
    return this.#events.on(event, listener);
  }

  off<K extends keyof ClientEvents>(event: K, listener: (value: ClientEvents[K]) => void): void {
    this.#events.off(event, listener);
  }

  async #readHistory(stream: StreamSelector, query: HistoryQuery): Promise<HistoryPage> {
    const frame: ClientFrame = { action: "history", ...stream, ...query };
    const reply = await this.#request(frame);
    if ("type" in reply && reply.type === "History") return reply;
    if ("type" in reply && reply.type === "Error") {
      throw new WspushError((reply.code ?? "BadRequest") as WspushError["code"], reply.message, entityOf(stream));
    }
    throw new WspushError("UnexpectedReply", `unexpected reply to history: ${JSON.stringify(reply)}`);
  }

  /** Sends on the usable connection; again on the next one when it is lost before the reply. */
  async #request(frame: ClientFrame): Promise<Reply> {
    for (;;) {
      const connection = await this.#lifecycle.ready();
      try {
        const reply = await connection.request(frame);
        // The connection is over after `TokenExpired`; the next one has a new token.
        if (!("type" in reply && reply.type === "Error" && reply.code === "TokenExpired")) return reply;
      } catch (error) {
        if (!(error instanceof WspushError && error.code === "ConnectionLost")) throw error;
      }
    }
  }

  #ended(): boolean {
    return this.state === "closed" || this.state === "refused";
  }

  #report(error: WspushError): void {
    this.#events.emit("error", error);
  }
}

const TIMING_OPTIONS = [
  "pingIntervalMs",
  "maxConnectionMs",
  "rolloverBeforeMs",
  "tokenRefreshMarginMs",
  "holdMs",
  "replyTimeoutMs",
  "handshakeTimeoutMs",
  "hiddenStatusAttempts",
  "hiddenStatusWindowMs",
] as const;

/** Refuses timings that would spin (zero, negative) or never fire (not a number). */
function checkTimings(options: ClientOptions): void {
  const backoffs = { backoff: options.backoff, throttleBackoff: options.throttleBackoff };
  const values: [string, number | undefined][] = [
    ...TIMING_OPTIONS.map((name): [string, number | undefined] => [name, options[name]]),
    ...Object.entries(backoffs).flatMap(([name, b]): [string, number | undefined][] => [
      [`${name}.baseMs`, b?.baseMs],
      [`${name}.maxMs`, b?.maxMs],
    ]),
  ];
  for (const [name, value] of values) {
    if (value !== undefined && !(value > 0)) {
      throw new RangeError(`option ${name} must be a positive number of ms (or count), not ${String(value)}`);
    }
  }
}
