/**
 * `@wspush/client`: the browser and Node client of wspush.
 *
 * A tour of the modules, in the order data flows through them:
 * - `client.ts`: `PushClient`, the application's entry point and events;
 * - `lifecycle.ts`: one usable connection at a time (connect, reconnect, rollover, refusal);
 * - `connection.ts`: one socket (pushes vs replies, pings), with `handshake.ts` (token
 *   placement, the status of a refused handshake) and `requests.ts` (one frame in flight,
 *   resubmitting throttled frames);
 * - `streams.ts`: every stream's handlers and its sync (`subscribe`/`resume` with `since`);
 * - `ordering.ts`: each stream once and in order, holes filled from history or reported;
 * - `token.ts`, `refusal.ts`, `backoff.ts`: when to refresh, when to give up, how long to wait;
 * - `protocol.ts`: the wire frames as types; `platform.ts`: what comes from the host.
 */

export { PushClient, type ClientEvents, type ClientOptions } from "./client.js";
export { WspushError, type ClientErrorCode, type WspushErrorCode, type WspushErrorDetails } from "./errors.js";
export type { ClientState } from "./lifecycle.js";
export type { Gap, GapReason } from "./ordering.js";
export type { EntityHandler, GapEvent, UserHandler } from "./streams.js";
export type { TokenProvider } from "./token.js";
export type { TokenPlacement } from "./handshake.js";
export type { BackoffOptions } from "./backoff.js";
export type { Clock, SocketEvent, WebSocketConstructor, WebSocketLike } from "./platform.js";
export { parseServerFrame } from "./protocol.js";
export type {
  ClientFrame,
  EntityHistory,
  EntityResumeFailed,
  EntityUpdated,
  ErrorCode,
  ErrorReply,
  GatewayError,
  HistoryFrame,
  HistoryPage,
  HistoryQuery,
  PingFrame,
  Pong,
  Position,
  Push,
  Reply,
  ResumeFailed,
  ResumeFailureReason,
  ResumeFrame,
  Resumed,
  ServerFrame,
  StreamSelector,
  SubscribeFrame,
  Subscribed,
  UnsubscribeFrame,
  Unsubscribed,
  UserHistory,
  UserPushNotification,
  UserResumeFailed,
} from "./protocol.js";
