/**
 * One WebSocket to the server, from handshake to close.
 *
 * A connection sorts incoming frames into pushes (handed to the client) and replies (matched
 * to requests by `RequestQueue`), sends a `ping` whenever nothing has crossed it for
 * `pingIntervalMs` so API Gateway's idle limit never closes it, and reports its end once.
 * It knows nothing of streams or reconnecting: `lifecycle.ts` decides what a close means.
 */

import type { BackoffOptions } from "./backoff.js";
import { WspushError } from "./errors.js";
import { HandshakeError, HandshakeStatus, socketAddress, type TokenPlacement } from "./handshake.js";
import { hostIsOffline, type Clock, type SocketEvent, type WebSocketConstructor, type WebSocketLike } from "./platform.js";
import { isPush, parseServerFrame, type ClientFrame, type Push, type Reply } from "./protocol.js";
import { RequestQueue } from "./requests.js";

/** Close code the client uses for its own, orderly closes. */
export const NORMAL_CLOSURE = 1000;
/** Close code (application range) for a connection the client gave up on: no reply came. */
export const REPLY_TIMEOUT_CLOSURE = 4000;

export interface ConnectionTimings {
  handshakeTimeoutMs: number;
  replyTimeoutMs: number;
  pingIntervalMs: number;
  /** Delays before resubmitting a throttled frame. */
  retry: BackoffOptions;
}

export interface ConnectionParams extends ConnectionTimings {
  WebSocket: WebSocketConstructor;
  url: string;
  token: string;
  tokenPlacement: TokenPlacement;
  clock: Clock;
  random: () => number;
  onPush(push: Push, connection: Connection): void;
  /** The connection ended without the client closing it. */
  onClosed(connection: Connection, info: CloseInfo): void;
}

/** How a connection ended. */
export interface CloseInfo {
  code: number;
  reason: string;
  /** The server answered a frame with `TokenExpired` before closing. */
  tokenExpired: boolean;
}

export class Connection {
  readonly openedAt: number;
  readonly #queue: RequestQueue;
  #lastActivity: number;
  #pingTimer: unknown;
  #closed = false;
  #retiring = false;
  #outstanding = 0;

  /** Opens a socket; resolves once it is open, rejects with a `HandshakeError`. */
  static open(params: ConnectionParams): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const { url, protocols } = socketAddress(params.url, params.token, params.tokenPlacement);
      let socket: WebSocketLike;
      try {
        socket = new params.WebSocket(url, protocols);
      } catch (cause) {
        // The implementation refused the URL or the token as a subprotocol value: a token the
        // server could not accept either, so it counts like a refusal whose status is unseen.
        reject(new HandshakeError({ statusObservable: false }, "the WebSocket could not be created", cause));
        return;
      }
      Connection.#whenOpen(socket, params).then(resolve, reject);
    });
  }

  static #whenOpen(socket: WebSocketLike, params: ConnectionParams): Promise<Connection> {
    const status = new HandshakeStatus(socket);
    return new Promise((resolve, reject) => {
      let connection: Connection | undefined;
      let settled = false;
      const fail = (why: string): void => {
        if (settled) return;
        settled = true;
        params.clock.clearTimeout(timer);
        reject(status.error(hostIsOffline(), why));
      };
      const timer = params.clock.setTimeout(() => {
        fail(`no answer within ${params.handshakeTimeoutMs} ms`);
        safeClose(socket, NORMAL_CLOSURE, "handshake timeout");
      }, params.handshakeTimeoutMs);
      socket.addEventListener("error", (event) => status.noteError(event));
      socket.addEventListener("message", (event) => {
        if (connection !== undefined) connection.#received(event);
      });
      socket.addEventListener("close", (event) => (connection === undefined ? fail("closed before it opened") : connection.#ended(event)));
      socket.addEventListener("open", () => {
        if (settled) return safeClose(socket, NORMAL_CLOSURE, "handshake timeout");
        settled = true;
        params.clock.clearTimeout(timer);
        connection = new Connection(socket, params);
        resolve(connection);
      });
    });
  }

  private constructor(
    private readonly socket: WebSocketLike,
    private readonly params: ConnectionParams,
  ) {
    this.openedAt = params.clock.now();
    this.#lastActivity = this.openedAt;
    this.#queue = new RequestQueue({
      send: (text) => this.#send(text),
      clock: params.clock,
      random: params.random,
      retry: params.retry,
      replyTimeoutMs: params.replyTimeoutMs,
      onTimeout: () => this.#giveUp(),
    });
    this.#schedulePing();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends `frame` once the frames before it are answered; resolves with its reply. */
  async request(frame: ClientFrame): Promise<Reply> {
    if (this.#retiring) throw new WspushError("ConnectionLost", "the connection is being replaced");
    this.#outstanding += 1;
    try {
      return await this.#queue.request(frame);
    } finally {
      this.#outstanding -= 1;
      this.#closeIfRetired();
    }
  }

  /** Takes no new requests; closes once the ones sent are answered. */
  retire(): void {
    this.#retiring = true;
    this.#closeIfRetired();
  }

  /** Closes now; `onClosed` is not called for a close the client makes. */
  close(code = NORMAL_CLOSURE, reason = "client closed"): void {
    if (this.#closed) return;
    this.#shutDown(new WspushError("ConnectionLost", "the connection was closed by the client"));
    safeClose(this.socket, code, reason);
  }

  #closeIfRetired(): void {
    if (this.#retiring && this.#outstanding === 0) this.close(NORMAL_CLOSURE, "replaced by a new connection");
  }

  #send(text: string): void {
    this.socket.send(text);
    this.#lastActivity = this.params.clock.now();
  }

  #received(event: SocketEvent): void {
    if (this.#closed || typeof event.data !== "string") return;
    this.#lastActivity = this.params.clock.now();
    this.#queue.activity();
    const frame = parseServerFrame(event.data);
    if (frame === undefined) return;
    if (isPush(frame)) {
      this.params.onPush(frame, this);
      return;
    }
    this.#queue.reply(frame);
    if ("type" in frame && frame.type === "Error" && frame.code === "TokenExpired") this.#expired();
  }

  /** The server closes the connection right after `TokenExpired`: it is over already. */
  #expired(): void {
    const reason = "the connection's token expired";
    this.#shutDown(new WspushError("ConnectionLost", reason));
    safeClose(this.socket, NORMAL_CLOSURE, reason);
    this.params.onClosed(this, { code: NORMAL_CLOSURE, reason, tokenExpired: true });
  }

  #ended(event: SocketEvent): void {
    if (this.#closed) return;
    this.#shutDown(new WspushError("ConnectionLost", `the connection closed (code ${event.code ?? "unknown"})`));
    this.params.onClosed(this, { code: event.code ?? 1006, reason: event.reason ?? "", tokenExpired: false });
  }

  /** No reply and no other frame for too long: the connection is treated as dead. */
  #giveUp(): void {
    if (this.#closed) return;
    const reason = `no reply within ${this.params.replyTimeoutMs} ms`;
    this.#shutDown(new WspushError("ConnectionLost", `the connection was dropped: ${reason}`));
    safeClose(this.socket, REPLY_TIMEOUT_CLOSURE, reason);
    this.params.onClosed(this, { code: REPLY_TIMEOUT_CLOSURE, reason, tokenExpired: false });
  }

  #shutDown(error: WspushError): void {
    this.#closed = true;
    this.params.clock.clearTimeout(this.#pingTimer);
    this.#queue.fail(error);
  }

  #schedulePing(): void {
    // Due one interval after the last frame either way; when that has passed (a frame is
    // awaiting its reply, which is traffic enough), look again one interval later.
    const due = this.#lastActivity + this.params.pingIntervalMs - this.params.clock.now();
    const wait = due > 0 ? due : this.params.pingIntervalMs;
    this.#pingTimer = this.params.clock.setTimeout(() => this.#pingIfIdle(), wait);
  }

  #pingIfIdle(): void {
    if (this.#closed) return;
    const quietFor = this.params.clock.now() - this.#lastActivity;
    if (quietFor >= this.params.pingIntervalMs && this.#queue.idle && !this.#retiring) {
      // The reply (Pong) needs no handling; a failure is the connection's end, reported by close.
      this.request({ action: "ping" }).catch(() => undefined);
    }
    this.#schedulePing();
  }
}

function safeClose(socket: WebSocketLike, code: number, reason: string): void {
  try {
    socket.close(code, reason);
  } catch {
    // Already closing or closed: nothing more to do.
  }
}
