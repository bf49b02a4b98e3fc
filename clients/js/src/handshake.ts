/**
 * Opening a socket: where the token goes, and what a failed handshake tells.
 *
 * The token travels as the second subprotocol by default (`["websocket", token]`; the server
 * selects `websocket`), which keeps it out of URLs that proxies and servers log, or in the
 * `access_token` query parameter. When the handshake fails, `ws` (Node) reports the HTTP status
 * through its `unexpected-response` event, which this module listens for; WHATWG WebSockets
 * (browsers, Node's global) do not, and the failure says only that the status was unseen.
 * `refusal.ts` decides what either means.
 */

import type { HandshakeFailure } from "./refusal.js";
import { withQueryParameter, type SocketEvent, type WebSocketLike } from "./platform.js";

/** Where the token goes: the subprotocol header (default) or the query string. */
export type TokenPlacement = "protocol" | "query";

/** The WebSocket subprotocol the server selects; the token is offered after it. */
export const SUBPROTOCOL = "websocket";

/** The URL and subprotocols to open a socket with `token` placed as asked. */
export function socketAddress(
  url: string,
  token: string,
  placement: TokenPlacement,
): { url: string; protocols: string[] | undefined } {
  if (placement === "protocol") return { url, protocols: [SUBPROTOCOL, token] };
  return { url: withQueryParameter(url, "access_token", token), protocols: undefined };
}

/** A handshake that did not open. */
export class HandshakeError extends Error {
  constructor(
    readonly failure: HandshakeFailure,
    message: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "HandshakeError";
  }
}

/** The `ws` package's event API, present on its sockets and absent from WHATWG ones. */
interface NodeStyleSocket {
  on(event: "unexpected-response", listener: (request: unknown, response: { statusCode?: number }) => void): void;
  terminate(): void;
}

const isNodeStyle = (socket: WebSocketLike): socket is WebSocketLike & NodeStyleSocket =>
  typeof (socket as Partial<NodeStyleSocket>).on === "function" &&
  typeof (socket as Partial<NodeStyleSocket>).terminate === "function";

/** Watches a connecting socket for the status of a refused handshake. */
export class HandshakeStatus {
  readonly observable: boolean;
  #status: number | undefined;
  #detail = "";

  constructor(socket: WebSocketLike) {
    this.observable = isNodeStyle(socket);
    if (isNodeStyle(socket)) {
      socket.on("unexpected-response", (_request, response) => {
        this.#status = response.statusCode;
        socket.terminate();
      });
    }
  }

  /** An `error` event of the handshake: keeps its text, and a status `ws` wrote into it. */
  noteError(event: SocketEvent): void {
    const text = event.message ?? (event.error instanceof Error ? event.error.message : "");
    this.#detail = text;
    const status = /Unexpected server response: (\d{3})/.exec(text)?.[1];
    if (status !== undefined && this.#status === undefined) this.#status = Number(status);
  }

  /** What is known of the failure, with `offline` from the host. */
  error(offline: boolean, why: string): HandshakeError {
    const failure: HandshakeFailure = { statusObservable: this.observable, offline };
    if (this.#status !== undefined) failure.status = this.#status;
    const status = this.#status === undefined ? "" : ` (HTTP ${this.#status})`;
    const detail = this.#detail === "" ? "" : `: ${this.#detail}`;
    return new HandshakeError(failure, `the WebSocket handshake failed${status}, ${why}${detail}`);
  }
}
