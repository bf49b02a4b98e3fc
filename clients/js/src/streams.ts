/**
 * The streams the application reads, and bringing each of them up to date on a connection.
 *
 * Every subscribed entity and the user stream has an orderer and its handlers. On each new
 * connection (after a reconnect, or the one that replaces an ageing connection) every stream
 * is synced: the user stream with `resume`, each entity with `subscribe`, each carrying
 * `since` = the stream's position when it has one, so the server replays what was missed.
 * The reply sets or confirms the position (or reports a gap); until it comes the orderer
 * buffers. Syncs run one after another on the connection, and the loop looks again for
 * streams added meanwhile, so a subscription made while a connection is being brought up is
 * not left out of it.
 */

import type { Connection } from "./connection.js";
import { sleep } from "./platform.js";
import { WspushError } from "./errors.js";
import { StreamOrderer, type FillPage, type Gap, type OrdererOptions, type SyncResult } from "./ordering.js";
import {
  entityOf,
  type ClientFrame,
  type EntityUpdated,
  type ErrorReply,
  type Position,
  type Push,
  type Reply,
  type StreamSelector,
  type UserPushNotification,
} from "./protocol.js";

/** A gap in one stream: the application refetches what that stream describes. */
export type GapEvent = Gap & { stream: StreamSelector };

export type EntityHandler = (push: EntityUpdated) => void;
export type UserHandler = (push: UserPushNotification) => void;

export interface StreamHooks {
  gap(event: GapEvent): void;
  error(error: WspushError): void;
  /** Reads a history page for a fill; rejects when it cannot be had. */
  fill(stream: StreamSelector, afterSerial: number): Promise<FillPage<Push>>;
}

export interface StreamsOptions extends OrdererOptions {
  /** The wait before sending a sync frame again after `history_unavailable`. */
  retryDelayMs(attempt: number): number;
}

/** Messages asked per history page when filling a hole (the server's most). */
export const FILL_PAGE_LIMIT = 100;

class Tracked<P extends Push> {
  readonly orderer: StreamOrderer<P>;
  readonly handlers = new Set<(push: P) => void>();
  /** The connection this stream was (or is being) synced on. */
  syncedOn: Connection | undefined;
  readonly ready: Promise<void>;
  settled = false;
  #resolve: () => void = () => undefined;
  #reject: (error: Error) => void = () => undefined;

  constructor(
    readonly selector: StreamSelector,
    hooks: StreamHooks,
    options: OrdererOptions,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Nobody may await `ready` (the user stream's, or a subscription made without awaiting).
    this.ready.catch(() => undefined);
    this.orderer = new StreamOrderer<P>(
      {
        deliver: (push) => this.#deliver(push, hooks),
        gap: (gap) => hooks.gap({ ...gap, stream: selector }),
        requestFill: (after) => this.#fill(after, hooks),
      },
      options,
    );
  }

  markReady(): void {
    this.settled = true;
    this.#resolve();
  }

  /** Ends the stream: answers whether someone awaited its first reply (and now gets `error`). */
  fail(error: Error): boolean {
    this.orderer.dispose();
    const awaited = !this.settled;
    this.settled = true;
    this.#reject(error);
    return awaited;
  }

  #deliver(push: P, hooks: StreamHooks): void {
    for (const handler of [...this.handlers]) {
      try {
        handler(push);
      } catch (cause) {
        hooks.error(new WspushError("HandlerFailed", "a message handler threw; delivery goes on", { cause, ...entityOf(this.selector) }));
      }
    }
  }

  #fill(after: number, hooks: StreamHooks): void {
    hooks.fill(this.selector, after).then(
      (page) => this.orderer.fillPage(page as FillPage<P>),
      (error: unknown) => {
        if (!(error instanceof WspushError && error.code === "Closed")) this.orderer.fillFailed();
      },
    );
  }
}


export class Streams {
  readonly #user: Tracked<UserPushNotification>;
  readonly #entities = new Map<string, Tracked<EntityUpdated>>();
  readonly #loops = new Map<Connection, Promise<void>>();
  readonly #pauses = new Set<{ cancel(): void }>();

  constructor(
    private readonly hooks: StreamHooks,
    private readonly options: StreamsOptions,
  ) {
    this.#user = new Tracked({ stream: "user" }, hooks, options);
  }

  /** Adds a handler for `entityId`; `created` when the entity was not subscribed before. */
  addEntity(entityId: string, handler: EntityHandler): { created: boolean; ready: Promise<void> } {
    let stream = this.#entities.get(entityId);
    const created = stream === undefined;
    if (stream === undefined) {
      stream = new Tracked<EntityUpdated>({ entityId }, this.hooks, this.options);
      this.#entities.set(entityId, stream);
    }
    stream.handlers.add(handler);
    return { created, ready: stream.ready };
  }

  /** Removes one handler (or all); answers true when the entity is no longer subscribed. */
  removeEntity(entityId: string, handler?: EntityHandler): boolean {
    const stream = this.#entities.get(entityId);
    if (stream === undefined) return false;
    if (handler !== undefined) stream.handlers.delete(handler);
    if (handler !== undefined && stream.handlers.size > 0) return false;
    this.#entities.delete(entityId);
    stream.fail(new WspushError("Closed", `unsubscribed from ${entityId}`, { entityId }));
    return true;
  }

  addUserHandler(handler: UserHandler): () => void {
    this.#user.handlers.add(handler);
    return () => this.#user.handlers.delete(handler);
  }

  push(push: Push): void {
    if (push.type === "User Push Notification") this.#user.orderer.push(push);
    else this.#entities.get(push.entityId)?.orderer.push(push);
  }

  position(selector: StreamSelector): Position | undefined {
    const stream = "entityId" in selector ? this.#entities.get(selector.entityId) : this.#user;
    return stream?.orderer.position();
  }

  /** Syncs every stream on `connection`; joins the loop already running there, if any. */
  syncAll(connection: Connection): Promise<void> {
    let loop = this.#loops.get(connection);
    if (loop === undefined) {
      loop = this.#syncLoop(connection).finally(() => this.#loops.delete(connection));
      this.#loops.set(connection, loop);
    }
    return loop;
  }

  /** Ends every stream: pending subscriptions reject with `error`. */
  dispose(error: WspushError): void {
    for (const pause of this.#pauses) pause.cancel();
    this.#user.fail(error);
    for (const stream of this.#entities.values()) stream.fail(error);
    this.#entities.clear();
  }

  async #syncLoop(connection: Connection): Promise<void> {
    if (this.#user.syncedOn !== connection) await this.#syncUser(connection);
    for (;;) {
      const next = [...this.#entities.values()].find((s) => s.syncedOn !== connection);
      if (next === undefined) return;
      await this.#syncEntity(connection, next);
    }
  }

  async #syncUser(connection: Connection): Promise<void> {
    const stream = this.#user;
    const id = stream.orderer.beginSync();
    const { reply, since } = await this.#exchange(connection, stream, (position) =>
      position === undefined ? { action: "resume" } : { action: "resume", since: position },
    );
    stream.orderer.endSync(id, this.#userResult(reply, since));
    stream.markReady();
  }

  #userResult(reply: Reply, since: Position | undefined): SyncResult {
    if ("type" in reply && reply.type === "Resumed") return syncResult(reply, since);
    if ("type" in reply && reply.type === "ResumeFailed" && "stream" in reply) return failedResult(reply);
    if (!isError(reply, "HistoryDisabled")) {
      this.hooks.error(unexpected(reply, "resume"));
    }
    return { kind: "off" };
  }

  async #syncEntity(connection: Connection, stream: Tracked<EntityUpdated>): Promise<void> {
    const entityId = "entityId" in stream.selector ? stream.selector.entityId : "";
    const id = stream.orderer.beginSync();
    const { reply, since } = await this.#exchange(connection, stream, (position) =>
      position === undefined ? { action: "subscribe", entityId } : { action: "subscribe", entityId, since: position },
    );
    if (this.#entities.get(entityId) !== stream) return;
    const result = this.#entityResult(stream, entityId, reply, since);
    if (result === undefined) return;
    stream.orderer.endSync(id, result);
    stream.markReady();
  }

  /**
   * Sends a stream's sync frame until the answer is final, and answers it with the `since` it
   * was sent with. `HistoryDisabled` to a frame with `since` means streams were switched off:
   * the frame goes again without. `ResumeFailed` with `history_unavailable` says nothing of
   * the position (the store could not be read): the same frame goes again after a delay.
   */
  async #exchange<P extends Push>(
    connection: Connection,
    stream: Tracked<P>,
    frameFor: (since: Position | undefined) => ClientFrame,
  ): Promise<{ reply: Reply; since: Position | undefined }> {
    let since = stream.orderer.position();
    for (let attempt = 0; ; attempt += 1) {
      const reply = await this.#send(connection, stream, frameFor(since));
      if (since !== undefined && isError(reply, "HistoryDisabled")) {
        since = undefined;
      } else if ("type" in reply && reply.type === "ResumeFailed" && reply.reason === "history_unavailable") {
        await this.#pause(connection, attempt);
      } else {
        return { reply, since };
      }
    }
  }

  async #pause(connection: Connection, attempt: number): Promise<void> {
    const pause = sleep(this.options.clock, this.options.retryDelayMs(attempt));
    this.#pauses.add(pause);
    const elapsed = await pause.done;
    this.#pauses.delete(pause);
    if (!elapsed || connection.closed) throw new WspushError("ConnectionLost", "the connection ended while a sync waited to be retried");
  }

  #entityResult(
    stream: Tracked<EntityUpdated>,
    entityId: string,
    reply: Reply,
    since: Position | undefined,
  ): SyncResult | undefined {
    if ("type" in reply && reply.type === "Subscribed") return syncResult(reply, since);
    if ("type" in reply && reply.type === "ResumeFailed" && "entityId" in reply) return failedResult(reply);
    if ("type" in reply && reply.type === "Error") {
      this.#entities.delete(entityId);
      const error = new WspushError(errorCode(reply), reply.message, { entityId });
      if (!stream.fail(error)) this.hooks.error(error);
      return undefined;
    }
    this.hooks.error(unexpected(reply, "subscribe"));
    return { kind: "off" };
  }

  /** Sends a sync frame; a `TokenExpired` answer means the connection is closing. */
  async #send<P extends Push>(connection: Connection, stream: Tracked<P>, frame: ClientFrame): Promise<Reply> {
    stream.syncedOn = connection;
    try {
      const reply = await connection.request(frame);
      if (isError(reply, "TokenExpired")) throw new WspushError("ConnectionLost", reply.message);
      return reply;
    } catch (error) {
      if (stream.syncedOn === connection) stream.syncedOn = undefined;
      throw error;
    }
  }
}

/** A `Subscribed` or `Resumed` reply, read against the position that was sent. */
function syncResult(reply: { streamId?: string | null; serial?: number; more?: true }, since: Position | undefined): SyncResult {
  if (reply.serial === undefined) return { kind: "off" };
  const position = { streamId: reply.streamId ?? null, serial: reply.serial };
  return since === undefined ? { kind: "position", position } : { kind: "continued", newest: position, more: reply.more === true };
}

function failedResult(reply: { reason: string; streamId: string | null; serial: number | null }): SyncResult {
  const reason = reply.reason as Extract<SyncResult, { kind: "failed" }>["reason"];
  return { kind: "failed", reason, position: { streamId: reply.streamId, serial: reply.serial ?? 0 } };
}

function isError(reply: Reply, code: string): reply is ErrorReply {
  return "type" in reply && reply.type === "Error" && reply.code === code;
}

function errorCode(reply: ErrorReply): WspushError["code"] {
  return (reply.code ?? "BadRequest") as WspushError["code"];
}

function unexpected(reply: Reply, request: string): WspushError {
  return new WspushError("UnexpectedReply", `unexpected reply to ${request}: ${JSON.stringify(reply)}`);
}
