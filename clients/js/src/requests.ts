/**
 * Matching replies to requests on one connection: one frame in flight at a time.
 *
 * The server answers every client frame with exactly one reply frame, and pushes are told
 * apart from replies by their `type`. It does not label a reply with the request it answers,
 * and on API Gateway concurrent frames run as concurrent invocations whose replies may cross.
 * So the queue sends a frame only once the previous one has been answered: the next reply
 * that arrives is then, without doubt, the answer to the frame in flight.
 *
 * Replies that mean "not run, send again" are handled here and never reach the caller: API
 * Gateway's route throttle (`Too Many Requests`, with or without `"type":"Error"`), its
 * `Internal server error`, and the `Unavailable` error code. The frame is resubmitted after a
 * full-jitter delay that grows with each refusal. A request whose reply (or any other frame)
 * does not come within `replyTimeoutMs` means the connection is dead: `onTimeout` is called.
 */

import { fullJitterDelay, type BackoffOptions } from "./backoff.js";
import { WspushError } from "./errors.js";
import type { Clock } from "./platform.js";
import type { ClientFrame, Reply } from "./protocol.js";

export interface RequestQueueOptions {
  /** Writes a frame to the socket. */
  send(text: string): void;
  clock: Clock;
  random: () => number;
  /** Delays before resubmitting a refused frame. */
  retry: BackoffOptions;
  replyTimeoutMs: number;
  /** No frame arrived for `replyTimeoutMs` while a reply was awaited. */
  onTimeout(): void;
}

interface Entry {
  frame: ClientFrame;
  resolve(reply: Reply): void;
  reject(error: Error): void;
  refusals: number;
}

/** Whether a reply says the frame was not run and should be sent again. */
export function isRetryableReply(reply: Reply): boolean {
  if (!("type" in reply)) return true;
  if (reply.type !== "Error") return false;
  return reply.code === "Unavailable" || (reply.code === undefined && reply.message === "Too Many Requests");
}

export class RequestQueue {
  readonly #waiting: Entry[] = [];
  #inFlight: Entry | undefined;
  #retryTimer: unknown;
  #retrying = false;
  #replyTimer: unknown;
  #failed: Error | undefined;

  constructor(private readonly options: RequestQueueOptions) {}

  /** Sends `frame` when the frames before it are answered; resolves with its reply. */
  request(frame: ClientFrame): Promise<Reply> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    return new Promise<Reply>((resolve, reject) => {
      this.#waiting.push({ frame, resolve, reject, refusals: 0 });
      this.#sendNext();
    });
  }

  /** Nothing waits for a reply and nothing is queued. */
  get idle(): boolean {
    return this.#inFlight === undefined && this.#waiting.length === 0;
  }

  /** A reply frame arrived: it answers the frame in flight. */
  reply(reply: Reply): void {
    const entry = this.#inFlight;
    if (entry === undefined) return;
    this.#stopReplyTimer();
    if (isRetryableReply(reply)) {
      this.#resubmitLater(entry);
      return;
    }
    this.#inFlight = undefined;
    entry.resolve(reply);
    this.#sendNext();
  }

  /** Some frame arrived: the connection is alive, so the reply may still come. */
  activity(): void {
    if (this.#inFlight !== undefined && !this.#retrying) this.#startReplyTimer();
  }

  /** The connection is gone: every request fails with `error`, and so do later ones. */
  fail(error: Error): void {
    this.#failed ??= error;
    this.#stopReplyTimer();
    if (this.#retrying) this.options.clock.clearTimeout(this.#retryTimer);
    this.#retrying = false;
    const entries = [...(this.#inFlight === undefined ? [] : [this.#inFlight]), ...this.#waiting.splice(0)];
    this.#inFlight = undefined;
    for (const entry of entries) entry.reject(error);
  }

  #sendNext(): void {
    if (this.#inFlight !== undefined || this.#failed !== undefined) return;
    const entry = this.#waiting.shift();
    if (entry === undefined) return;
    this.#inFlight = entry;
    this.#transmit(entry);
  }

  #transmit(entry: Entry): void {
    try {
      this.options.send(JSON.stringify(entry.frame));
    } catch (cause) {
      this.fail(new WspushError("ConnectionLost", "the connection closed before the frame could be sent", { cause }));
      return;
    }
    this.#startReplyTimer();
  }

  #resubmitLater(entry: Entry): void {
    const delay = fullJitterDelay(entry.refusals, this.options.retry, this.options.random);
    entry.refusals += 1;
    this.#retrying = true;
    this.#retryTimer = this.options.clock.setTimeout(() => {
      this.#retrying = false;
      if (this.#inFlight === entry) this.#transmit(entry);
    }, delay);
  }

  #startReplyTimer(): void {
    this.#stopReplyTimer();
    this.#replyTimer = this.options.clock.setTimeout(() => {
      this.#replyTimer = undefined;
      this.options.onTimeout();
    }, this.options.replyTimeoutMs);
  }

  #stopReplyTimer(): void {
    if (this.#replyTimer === undefined) return;
    this.options.clock.clearTimeout(this.#replyTimer);
    this.#replyTimer = undefined;
  }
}
