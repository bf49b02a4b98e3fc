/**
 * The wire protocol as types, and the one place that reads a server frame.
 *
 * Every frame the client sends or receives is declared here, following the repository's
 * AsyncAPI document and the streams additions (positions, replays, history). Frames arrive
 * from the network, so nothing is trusted: `parseServerFrame` checks each field it relies on
 * and answers `undefined` for anything it does not recognise, which the connection ignores.
 * Everything else in the library works on these checked types only.
 */

/** Where a reader stands in a stream: the generation and the last serial it has seen. */
export interface Position {
  /** The stream's generation; `null` when nothing was ever published (or it is gone). */
  streamId: string | null;
  /** The newest serial seen in that generation; 0 before the first. */
  serial: number;
}

/** Why the server could not prove continuity from a position (`ResumeFailed.reason`). */
export type ResumeFailureReason =
  | "position_expired"
  | "stream_reset"
  | "continuity_unverifiable"
  | "history_unavailable";

/** The `code` of an `Error` reply. */
export type ErrorCode =
  | "BadRequest"
  | "Forbidden"
  | "TooManySubscriptions"
  | "Unavailable"
  | "TokenExpired"
  | "HistoryDisabled";

// ---------------------------------------------------------------- client → server

export interface SubscribeFrame {
  action: "subscribe";
  entityId: string;
  /** Replay every message after this position before the reply. */
  since?: Position;
}

export interface UnsubscribeFrame {
  action: "unsubscribe";
  entityId: string;
}

export interface PingFrame {
  action: "ping";
}

export interface ResumeFrame {
  action: "resume";
  /** Replay the user stream after this position before the reply. */
  since?: Position;
}

/** Which stream a `history` request (or `client.history`) reads. */
export type StreamSelector = { entityId: string } | { stream: "user" };

/** A page request: `after` and `before` exclude each other; neither means the newest page. */
export interface HistoryQuery {
  after?: number;
  before?: number;
  /** 1..100; the server's default is 50. */
  limit?: number;
}

export type HistoryFrame = { action: "history" } & StreamSelector & HistoryQuery;

/** `{ entityId }` of an entity's selector, `{}` for the user stream: details for an error. */
export const entityOf = (selector: StreamSelector): { entityId?: string } =>
  "entityId" in selector ? { entityId: selector.entityId } : {};

export type ClientFrame =
  | SubscribeFrame
  | UnsubscribeFrame
  | PingFrame
  | ResumeFrame
  | HistoryFrame;

// ---------------------------------------------------------------- server → client: pushes

/** Fields every push carries; `streamId`/`serial` are absent when the server has streams off. */
interface PushFields {
  /** The publisher's `detail.message`, any JSON value; absent when the event had none. */
  message?: unknown;
  /** The EventBridge event id: the same event may arrive twice. */
  eventId: string;
  time?: string;
  streamId?: string;
  serial?: number;
}

export interface EntityUpdated extends PushFields {
  type: "Entity Updated";
  entityId: string;
}

export interface UserPushNotification extends PushFields {
  type: "User Push Notification";
  callback?: string;
}

export type Push = EntityUpdated | UserPushNotification;

// ---------------------------------------------------------------- server → client: replies

export interface Subscribed {
  type: "Subscribed";
  entityId: string;
  /** Present when the server has streams on. */
  streamId?: string | null;
  serial?: number;
  /** Present when `since` was given and continuity was proven. */
  replayed?: number;
  /** The replay was cut short: `serial` is the last one replayed; read on with `history`. */
  more?: true;
}

export interface Unsubscribed {
  type: "Unsubscribed";
  entityId: string;
}

export interface Pong {
  type: "Pong";
}

export interface ErrorReply {
  type: "Error";
  /** Absent only on the route throttle's `{"type":"Error","message":"Too Many Requests"}`. */
  code?: ErrorCode | (string & {});
  message: string;
  entityId?: string;
}

interface ResumeFailedFields {
  type: "ResumeFailed";
  reason: ResumeFailureReason | (string & {});
  streamId: string | null;
  oldestSerial: number | null;
  serial: number | null;
}

export interface EntityResumeFailed extends ResumeFailedFields {
  entityId: string;
}

export interface UserResumeFailed extends ResumeFailedFields {
  stream: "user";
}

export type ResumeFailed = EntityResumeFailed | UserResumeFailed;

export interface Resumed {
  type: "Resumed";
  stream: "user";
  streamId: string | null;
  serial: number;
  /** Present when `since` was given. */
  replayed?: number;
  /** The replay was cut short: `serial` is the last one replayed; read on with `history`. */
  more?: true;
}

interface HistoryFields {
  type: "History";
  streamId: string | null;
  oldestSerial: number | null;
  /** The stream's newest serial when the page was read. */
  serial: number;
  /** More messages exist in the requested direction. */
  more: boolean;
}

export interface EntityHistory extends HistoryFields {
  entityId: string;
  messages: EntityUpdated[];
}

export interface UserHistory extends HistoryFields {
  stream: "user";
  messages: UserPushNotification[];
}

export type HistoryPage = EntityHistory | UserHistory;

/** API Gateway's own answer when a route's function failed or the route is throttled. */
export interface GatewayError {
  message: "Internal server error" | "Too Many Requests";
  connectionId?: string;
  requestId?: string;
}

export type Reply =
  | Subscribed
  | Unsubscribed
  | Pong
  | ErrorReply
  | ResumeFailed
  | Resumed
  | HistoryPage
  | GatewayError;

export type ServerFrame = Push | Reply;

// ---------------------------------------------------------------- reading frames

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isSerial = (v: unknown): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isStreamId = (v: unknown): v is string | null => v === null || typeof v === "string";
const isOptional = (v: unknown, check: (x: unknown) => boolean): boolean =>
  v === undefined || check(v);
const isString = (v: unknown): v is string => typeof v === "string";

/** Whether a frame is a push (as opposed to the reply to a client frame). */
export function isPush(frame: ServerFrame): frame is Push {
  return "type" in frame && (frame.type === "Entity Updated" || frame.type === "User Push Notification");
}

/** Reads one text frame from the server; `undefined` when it is not a frame this client knows. */
export function parseServerFrame(text: string): ServerFrame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return isObject(value) ? readFrame(value) : undefined;
}

function readFrame(f: Json): ServerFrame | undefined {
  switch (f["type"]) {
    case "Entity Updated":
    case "User Push Notification":
      return readPush(f);
    case "Subscribed":
      return readSubscribed(f);
    case "Unsubscribed":
      return isString(f["entityId"]) ? (f as unknown as Unsubscribed) : undefined;
    case "Pong":
      return { type: "Pong" };
    case "Error":
      return readError(f);
    case "ResumeFailed":
      return readResumeFailed(f);
    case "Resumed":
      return readResumed(f);
    case "History":
      return readHistory(f);
    case undefined:
      return readGatewayError(f);
    default:
      return undefined;
  }
}

/** A push, checked; also used for the messages of a history page. */
export function readPush(f: unknown): Push | undefined {
  if (!isObject(f) || !isString(f["eventId"])) return undefined;
  const sequenced = f["streamId"] !== undefined || f["serial"] !== undefined;
  if (sequenced && !(isString(f["streamId"]) && isSerial(f["serial"]))) return undefined;
  if (!isOptional(f["time"], isString)) return undefined;
  if (f["type"] === "Entity Updated") {
    return isString(f["entityId"]) ? (f as unknown as EntityUpdated) : undefined;
  }
  if (f["type"] === "User Push Notification") {
    return isOptional(f["callback"], isString) ? (f as unknown as UserPushNotification) : undefined;
  }
  return undefined;
}

function readSubscribed(f: Json): Subscribed | undefined {
  const ok =
    isString(f["entityId"]) &&
    isOptional(f["streamId"], isStreamId) &&
    isOptional(f["serial"], isSerial) &&
    isOptional(f["replayed"], isSerial);
  return ok ? (f as unknown as Subscribed) : undefined;
}

function readError(f: Json): ErrorReply | undefined {
  const ok = isString(f["message"]) && isOptional(f["code"], isString) && isOptional(f["entityId"], isString);
  return ok ? (f as unknown as ErrorReply) : undefined;
}

function hasStreamTarget(f: Json): boolean {
  return isString(f["entityId"]) || f["stream"] === "user";
}

function readResumeFailed(f: Json): ResumeFailed | undefined {
  const ok =
    hasStreamTarget(f) &&
    isString(f["reason"]) &&
    isOptional(f["streamId"], isStreamId) &&
    isOptional(f["oldestSerial"], (v) => v === null || isSerial(v)) &&
    isOptional(f["serial"], (v) => v === null || isSerial(v));
  if (!ok) return undefined;
  return {
    ...f,
    streamId: (f["streamId"] ?? null) as string | null,
    oldestSerial: (f["oldestSerial"] ?? null) as number | null,
    serial: (f["serial"] ?? null) as number | null,
  } as unknown as ResumeFailed;
}

function readResumed(f: Json): Resumed | undefined {
  const ok = f["stream"] === "user" && isStreamId(f["streamId"]) && isSerial(f["serial"]);
  return ok && isOptional(f["replayed"], isSerial) ? (f as unknown as Resumed) : undefined;
}

function readHistory(f: Json): HistoryPage | undefined {
  const ok =
    hasStreamTarget(f) &&
    isStreamId(f["streamId"]) &&
    isOptional(f["oldestSerial"], (v) => v === null || isSerial(v)) &&
    isSerial(f["serial"]) &&
    Array.isArray(f["messages"]);
  if (!ok) return undefined;
  const messages = (f["messages"] as unknown[]).map(readPush).filter((m) => m !== undefined);
  return {
    ...f,
    oldestSerial: f["oldestSerial"] ?? null,
    more: f["more"] === true,
    messages,
  } as unknown as HistoryPage;
}

function readGatewayError(f: Json): GatewayError | undefined {
  const message = f["message"];
  return message === "Internal server error" || message === "Too Many Requests"
    ? (f as unknown as GatewayError)
    : undefined;
}
