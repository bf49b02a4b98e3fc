/**
 * The one error type the library raises and reports, with a code for programs.
 *
 * Server refusals keep the server's `code` (`Forbidden`, `HistoryDisabled`, …) so an
 * application handles them the same whether they reject a promise or arrive as an `error`
 * event; the client's own conditions have codes of their own.
 */

import type { ErrorCode } from "./protocol.js";

/** Conditions the client itself detects. */
export type ClientErrorCode =
  /** The server refused the handshake again with a fresh token: the client stopped. */
  | "AuthRefused"
  /** The token provider threw or returned no token; the client retries with backoff. */
  | "TokenProviderFailed"
  /** The connection closed before the reply came; the client retries on the next one. */
  | "ConnectionLost"
  /** `close()` was called, or the client stopped after a refusal. */
  | "Closed"
  /** An application handler threw; delivery went on with the next message. */
  | "HandlerFailed"
  /** The server's reply did not fit the request (a protocol mismatch). */
  | "UnexpectedReply";

export type WspushErrorCode = ClientErrorCode | ErrorCode;

export interface WspushErrorDetails {
  /** The entity the error is about, when there is one. */
  entityId?: string;
  /** The HTTP status of a refused handshake, when it could be seen. */
  status?: number;
  cause?: unknown;
}

export class WspushError extends Error {
  readonly code: WspushErrorCode;
  readonly entityId: string | undefined;
  readonly status: number | undefined;

  constructor(code: WspushErrorCode, message: string, details: WspushErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "WspushError";
    this.code = code;
    this.entityId = details.entityId;
    this.status = details.status;
  }
}
