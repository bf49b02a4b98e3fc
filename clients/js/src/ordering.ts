/**
 * One stream's delivery rule: each message once, in serial order, and every gap either filled
 * or reported.
 *
 * Pushes reach a connection at least once and, live, possibly out of order (the server fans
 * out concurrently); replays and history pages come in order. So the orderer keeps the
 * stream's position (generation and last delivered serial) and:
 *
 * - drops a message at or below the position, or one it already holds (a redelivery);
 * - delivers the next serial at once, then whatever it holds that follows;
 * - holds a message that leaves a hole for `holdMs`, since the missing one is usually just
 *   behind it, then asks for a history page `after` the position (`requestFill`) and feeds
 *   the page through the same rule, page after page while the server says there is `more`;
 * - reports a `gap` when the hole cannot be filled (the messages were trimmed, a page did not
 *   cover them, the history request failed, the server could not resume, a new generation
 *   began) and then goes on from the position the server gave;
 * - reads history on after a replay the server cut short (`more` on the reply), page after
 *   page, until it has caught up;
 * - buffers everything while a subscribe/resume reply is pending (`beginSync`), because the
 *   reply decides the position those messages are judged against.
 *
 * Messages without `streamId`/`serial` (a server with streams off) are delivered as they come,
 * repeats dropped by `eventId`. The orderer sends nothing itself: the client turns
 * `requestFill` into a `history` frame and hands back the page, which keeps this logic free
 * of sockets and testable with a manual clock.
 */

import type { Clock } from "./platform.js";
import type { Position, Push, ResumeFailureReason } from "./protocol.js";

/** Why messages were missed: the server's resume reasons, or a history page that lacked them. */
export type GapReason = ResumeFailureReason | "history_incomplete";

/** Messages between `from` and `to` were missed: refetch the state they describe. */
export interface Gap {
  reason: GapReason;
  /** The position before the gap (`undefined` when the stream had none). */
  from: Position | undefined;
  /** The position delivery continues from. */
  to: Position;
}

/** What a subscribe/resume reply says about the position. */
export type SyncResult =
  /** Sent without `since`: the stream's current position; older messages are not for us. */
  | { kind: "position"; position: Position }
  /**
   * Sent with `since` and continuity proven: the replay came before the reply. `more`: the
   * replay was cut at `newest`, and the rest is read from history.
   */
  | { kind: "continued"; newest: Position; more: boolean }
  /** Continuity could not be proven: a gap, then the server's position. */
  | { kind: "failed"; reason: ResumeFailureReason; position: Position }
  /** The server has streams off: no positions, deliver as received. */
  | { kind: "off" };

/** A history page, reduced to what ordering needs. */
export interface FillPage<P extends Push> {
  streamId: string | null;
  oldestSerial: number | null;
  serial: number;
  more: boolean;
  messages: P[];
}

export interface OrdererHooks<P extends Push> {
  deliver(push: P): void;
  /** Ask for a history page of messages after `afterSerial`; answer with `fillPage`/`fillFailed`. */
  requestFill(afterSerial: number): void;
  gap(gap: Gap): void;
}

export interface OrdererOptions {
  /** How long a message that leaves a hole waits before history is asked. */
  holdMs: number;
  /** How long after each sync one history page after the position is read; 0: never. */
  settleCheckMs: number;
  clock: Clock;
}

/** How many event ids are remembered to drop repeats when streams are off. */
const REMEMBERED_EVENT_IDS = 1000;
/** How many past generations are remembered, so their late pushes are dropped. */
const REMEMBERED_GENERATIONS = 8;

export class StreamOrderer<P extends Push> {
  #position: Position | undefined;
  /** The newest serial the server reported in the current generation. */
  #newest = 0;
  readonly #held = new Map<number, P>();
  #syncId = 0;
  #syncing = false;
  #buffer: P[] = [];
  #holdTimer: unknown;
  #holdArmed = false;
  #checkTimer: unknown;
  #checkArmed = false;
  #filling = false;
  /** A cut replay is being completed from history. */
  #catchingUp = false;
  #disposed = false;
  readonly #retired = new RecentSet<string>(REMEMBERED_GENERATIONS);
  readonly #seenEventIds = new RecentSet<string>(REMEMBERED_EVENT_IDS);

  constructor(
    private readonly hooks: OrdererHooks<P>,
    private readonly options: OrdererOptions,
  ) {}

  /** The last delivered position; `undefined` before the first reply or with streams off. */
  position(): Position | undefined {
    return this.#position === undefined ? undefined : { ...this.#position };
  }

  get syncing(): boolean {
    return this.#syncing;
  }

  /** A subscribe/resume is about to be sent: buffer until its reply. Answers the sync's id. */
  beginSync(): number {
    this.#syncing = true;
    this.#syncId += 1;
    this.#filling = false;
    this.#catchingUp = false;
    this.#cancelHold();
    this.#cancelCheck();
    return this.#syncId;
  }

  /** The reply to sync `id` came; a reply to an older sync is ignored (answers false). */
  endSync(id: number, result: SyncResult): boolean {
    if (id !== this.#syncId || !this.#syncing || this.#disposed) return false;
    this.#syncing = false;
    this.#apply(result);
    const buffered = this.#buffer;
    this.#buffer = [];
    for (const push of buffered) this.#accept(push);
    if (this.#catchingUp) this.#requestFill();
    else this.#settle();
    this.#armCheck();
    return true;
  }

  push(push: P): void {
    if (this.#disposed) return;
    if (this.#syncing) {
      this.#buffer.push(push);
      return;
    }
    this.#accept(push);
    this.#settle();
  }

  /** The page answering the last `requestFill`. */
  fillPage(page: FillPage<P>): void {
    if (this.#disposed) return;
    if (this.#syncing) {
      this.#buffer.push(...page.messages);
      return;
    }
    this.#filling = false;
    this.#reconcilePage(page);
    for (const message of page.messages) this.#accept(message);
    // An empty page that claims more would ask for the same page forever.
    const more = page.more && page.messages.length > 0;
    if (!more) this.#catchingUp = false;
    if (more && (this.#hasGap() || this.#catchingUp)) {
      this.#requestFill();
      return;
    }
    if (this.#hasGap()) this.#skipGap("history_incomplete");
    this.#settle();
  }

  /** The history request failed: what it was to fill is lost. */
  fillFailed(): void {
    if (this.#disposed || this.#syncing) return;
    this.#filling = false;
    this.#catchingUp = false;
    if (this.#hasGap()) this.#skipGap("history_unavailable");
    this.#settle();
  }

  dispose(): void {
    this.#disposed = true;
    this.#cancelHold();
    this.#cancelCheck();
    this.#held.clear();
    this.#buffer = [];
  }

  #apply(result: SyncResult): void {
    const position = this.#position;
    switch (result.kind) {
      case "position":
        this.#moveTo(result.position);
        return;
      case "continued":
        if (position === undefined || position.streamId === null) {
          this.#moveTo(position === undefined ? result.newest : { ...position, streamId: result.newest.streamId });
        } else if (result.newest.streamId !== position.streamId) {
          this.#jump("stream_reset", result.newest);
        }
        this.#newest = Math.max(this.#newest, result.newest.serial);
        this.#catchingUp = result.more;
        return;
      case "failed":
        this.#jump(result.reason, result.position);
        return;
      case "off":
        this.#position = undefined;
        this.#held.clear();
        this.#newest = 0;
        return;
    }
  }

  #accept(push: P): void {
    if (this.#disposed) return;
    if (push.streamId === undefined || push.serial === undefined) {
      this.#acceptUnsequenced(push);
      return;
    }
    const position = this.#enterGeneration(push.streamId, push.serial);
    if (position === undefined || push.serial <= position.serial || this.#held.has(push.serial)) return;
    this.#held.set(push.serial, push);
    this.#drain();
  }

  #acceptUnsequenced(push: P): void {
    if (this.#seenEventIds.has(push.eventId)) return;
    this.#seenEventIds.add(push.eventId);
    this.hooks.deliver(push);
  }

  /** The position to judge a message of `streamId` against; `undefined` for a past generation. */
  #enterGeneration(streamId: string, serial: number): Position | undefined {
    const position = this.#position;
    if (position === undefined) {
      this.#position = { streamId, serial: serial - 1 };
      return this.#position;
    }
    if (position.streamId === streamId) return position;
    if (position.streamId === null) {
      position.streamId = streamId;
      return position;
    }
    if (this.#retired.has(streamId)) return undefined;
    // The stream started again: what followed in the old generation may be lost, and this
    // push is where the new one is taken up.
    this.#jump("stream_reset", { streamId, serial: serial - 1 });
    return this.#position;
  }

  /** Delivers held messages while the next serial is there. */
  #drain(): void {
    const position = this.#position;
    if (position === undefined) return;
    for (let next = this.#held.get(position.serial + 1); next !== undefined; next = this.#held.get(position.serial + 1)) {
      this.#held.delete(position.serial + 1);
      position.serial += 1;
      if (!this.#disposed) this.hooks.deliver(next);
    }
  }

  /**
   * Reads what a page says of the stream before its messages are taken in: another generation,
   * or messages after the position no longer kept, mean they are gone, and the position
   * becomes the page's `(streamId, serial)`.
   */
  #reconcilePage(page: FillPage<P>): void {
    const position = this.#position;
    if (position === undefined || page.streamId === null || this.#retired.has(page.streamId)) return;
    const pagePosition = { streamId: page.streamId, serial: page.serial };
    if (position.streamId !== null && page.streamId !== position.streamId) {
      this.#catchingUp = false;
      this.#jump("stream_reset", pagePosition);
      return;
    }
    position.streamId = page.streamId;
    this.#newest = Math.max(this.#newest, page.serial);
    const firstKept = page.oldestSerial ?? page.serial + 1;
    if (firstKept > position.serial + 1 && this.#newest > position.serial) {
      this.#catchingUp = false;
      this.#jump("position_expired", pagePosition);
    }
  }

  /** Reports the current hole as missed and continues after it. */
  #skipGap(reason: GapReason): void {
    const position = this.#position;
    if (position === undefined) return;
    this.#jump(reason, { streamId: position.streamId, serial: this.#gapEnd() });
  }

  /** The serial a hole ends at: before the first held message, else the newest reported. */
  #gapEnd(): number {
    const held = [...this.#held.keys()];
    return held.length > 0 ? Math.min(...held) - 1 : this.#newest;
  }

  #jump(reason: GapReason, to: Position): void {
    const from = this.#position === undefined ? undefined : { ...this.#position };
    this.#moveTo(to);
    this.hooks.gap({ reason, from, to: { ...to } });
    this.#drain();
  }

  #moveTo(to: Position): void {
    const previous = this.#position;
    if (previous !== undefined && previous.streamId !== to.streamId) {
      if (previous.streamId !== null) this.#retired.add(previous.streamId);
      this.#held.clear();
      this.#newest = 0;
    }
    this.#position = { ...to };
    this.#newest = Math.max(this.#newest, to.serial);
    for (const serial of this.#held.keys()) if (serial <= to.serial) this.#held.delete(serial);
  }

  #hasGap(): boolean {
    const position = this.#position;
    return position !== undefined && (this.#held.size > 0 || this.#newest > position.serial);
  }

  /** After each change: wait for a hole to fill itself, or stop waiting when it has. */
  #settle(): void {
    if (!this.#hasGap()) {
      this.#cancelHold();
      return;
    }
    if (this.#holdArmed || this.#filling || this.#syncing || this.#disposed) return;
    this.#holdArmed = true;
    this.#holdTimer = this.options.clock.setTimeout(() => this.#holdExpired(), this.options.holdMs);
  }

  #holdExpired(): void {
    this.#holdArmed = false;
    if (this.#hasGap() && !this.#filling && !this.#syncing && !this.#disposed) this.#requestFill();
  }

  #requestFill(): void {
    const position = this.#position;
    if (position === undefined) return;
    this.#cancelHold();
    this.#filling = true;
    this.hooks.requestFill(position.serial);
  }

  /**
   * The index that finds a stream's recipients (DynamoDB's, on AWS) is eventually consistent:
   * a message published within about a second after a subscribe may not reach this connection
   * live, and when nothing follows it, no hole would ever show. One history page after the
   * position, a moment after each sync, finds such a message.
   */
  #armCheck(): void {
    if (!(this.options.settleCheckMs > 0) || this.#position === undefined || this.#disposed) return;
    this.#cancelCheck();
    this.#checkArmed = true;
    this.#checkTimer = this.options.clock.setTimeout(() => {
      this.#checkArmed = false;
      if (this.#filling || this.#syncing || this.#disposed) return;
      this.#catchingUp = true;
      this.#requestFill();
    }, this.options.settleCheckMs);
  }

  #cancelCheck(): void {
    if (!this.#checkArmed) return;
    this.options.clock.clearTimeout(this.#checkTimer);
    this.#checkArmed = false;
  }

  #cancelHold(): void {
    if (!this.#holdArmed) return;
    this.options.clock.clearTimeout(this.#holdTimer);
    this.#holdArmed = false;
  }
}

/** A set that forgets its oldest members beyond `capacity`. */
class RecentSet<T> {
  readonly #items = new Set<T>();

  constructor(private readonly capacity: number) {}

  has(item: T): boolean {
    return this.#items.has(item);
  }

  add(item: T): void {
    this.#items.delete(item);
    this.#items.add(item);
    if (this.#items.size > this.capacity) {
      const oldest = this.#items.values().next();
      if (oldest.done !== true) this.#items.delete(oldest.value);
    }
  }
}
