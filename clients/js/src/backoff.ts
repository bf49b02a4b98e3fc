/**
 * Exponential backoff with full jitter, for reconnects and for resubmitting throttled frames.
 *
 * Full jitter (a uniform delay between zero and the capped exponential) spreads the clients
 * that lost their connections at the same moment, as they all do when a gateway restarts,
 * so their reconnects do not arrive as one wave. The random source is a parameter so tests
 * can pin the delays.
 */

export interface BackoffOptions {
  /** The cap of the first delay, in ms. */
  baseMs: number;
  /** The largest cap any delay may reach, in ms. */
  maxMs: number;
}

/** The delay before retry number `attempt` (0 for the first): uniform in [0, min(max, base·2^attempt)). */
export function fullJitterDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  const cap = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 52));
  return Math.floor(random() * cap);
}

/** Counts consecutive failures and answers the next delay; `reset` after a success. */
export class Backoff {
  #attempt = 0;

  constructor(
    private readonly options: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next try, counting this failure. */
  next(): number {
    const delay = fullJitterDelay(this.#attempt, this.options, this.random);
    this.#attempt += 1;
    return delay;
  }

  reset(): void {
    this.#attempt = 0;
  }

  get attempts(): number {
    return this.#attempt;
  }
}
