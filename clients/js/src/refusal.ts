/**
 * Deciding that the server refuses this client, so reconnecting must stop.
 *
 * A refused handshake is an HTTP answer before the upgrade: 401 (the token) or 403 (the
 * authorizer's policy). The client retries once with a token fresh from the provider; when
 * the next handshake is refused too, it stops and tells the application, since retrying
 * forever with a token the server rejects only adds load.
 *
 * Where the status can be seen (Node with `ws`, which reports it with `unexpected-response`),
 * that is the whole rule, and a failure without a status is a network fault that never
 * counts. Browsers (and other WHATWG WebSockets) hide the status of a failed handshake: a
 * refusal and an unreachable server look the same. There the client counts failures in a
 * row, each attempted with a freshly fetched token, and takes `hiddenStatusAttempts` of them,
 * spanning at least `hiddenStatusWindowMs`, as a refusal: a gateway restarting or a network
 * dropping for seconds makes several handshakes fail quickly, and must not stop a client for
 * good. While the browser reports itself offline, failures are not counted. The decision is a
 * pure function of the failures and the clock, so it is tested without a network.
 */

/** What is known about a handshake that did not open. */
export interface HandshakeFailure {
  /** The HTTP status of the refusal, when the WebSocket implementation reports it. */
  status?: number;
  /** Whether this implementation reports statuses at all. */
  statusObservable: boolean;
  /** The host says it is offline. */
  offline?: boolean;
}

/** What to do after a failed handshake. */
export type FailureDecision =
  /** Wait (backoff) and try again with the token held. */
  | "retry"
  /** Wait and try again with a new token from the provider. */
  | "retry-with-fresh-token"
  /** Stop: the server refuses this client. */
  | "refused";

export const isAuthStatus = (status: number | undefined): boolean => status === 401 || status === 403;

/** Counts refusals in a row; `opened` clears the count. */
export class RefusalTracker {
  #authRefusals = 0;
  #hiddenFailures = 0;
  #firstHiddenFailureAt = 0;

  /**
   * @param hiddenStatusAttempts failures in a row, status unseen, that count as a refusal...
   * @param hiddenStatusWindowMs ...when they span at least this long.
   * @param now the clock, in milliseconds.
   */
  constructor(
    private readonly hiddenStatusAttempts: number,
    private readonly hiddenStatusWindowMs = 0,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a failed handshake; `tokenWasFresh` says the attempt used a token just fetched. */
  failed(failure: HandshakeFailure, tokenWasFresh: boolean): FailureDecision {
    if (failure.statusObservable) return this.#observed(failure.status, tokenWasFresh);
    if (failure.offline === true) return "retry";
    if (!tokenWasFresh) return "retry-with-fresh-token";
    if (this.#hiddenFailures === 0) this.#firstHiddenFailureAt = this.now();
    this.#hiddenFailures += 1;
    const lasted = this.now() - this.#firstHiddenFailureAt >= this.hiddenStatusWindowMs;
    return this.#hiddenFailures >= this.hiddenStatusAttempts && lasted ? "refused" : "retry-with-fresh-token";
  }

  /** A handshake succeeded: whatever failed before was not a refusal of this client. */
  opened(): void {
    this.#authRefusals = 0;
    this.#hiddenFailures = 0;
  }

  #observed(status: number | undefined, tokenWasFresh: boolean): FailureDecision {
    if (!isAuthStatus(status)) {
      this.#authRefusals = 0;
      return "retry";
    }
    this.#authRefusals += 1;
    return this.#authRefusals >= 2 && tokenWasFresh ? "refused" : "retry-with-fresh-token";
  }
}
