// A small wspush server for the protocol tests, speaking the wire protocol over a real socket
// on 127.0.0.1: token check at the handshake (HTTP 401/403 before the upgrade), subscribe and
// resume with `since`, history pages, ping, streams with generations and serials, and the
// faults a client must survive (dropped connections, the two-hour limit, repeated and
// out-of-order pushes, trimmed history, throttled frames). One user per server.

import { randomUUID } from "node:crypto";
import { WebSocketServer } from "ws";

import { claimsOf } from "./jwt.mjs";

const newStreamId = () => randomUUID().replaceAll("-", "");

/** A stream's history: its generation, serials, and the messages still kept. */
class Stream {
  streamId = null;
  serial = 0;
  messages = [];

  append(fields) {
    this.streamId ??= newStreamId();
    this.serial += 1;
    const frame = { ...fields, streamId: this.streamId, serial: this.serial };
    this.messages.push(frame);
    return frame;
  }

  get oldestSerial() {
    return this.messages[0]?.serial ?? null;
  }

  /** Keeps only messages from `serial` on, as retention or the size cap would. */
  trimBelow(serial) {
    this.messages = this.messages.filter((m) => m.serial >= serial);
  }

  /** The record is gone: the next message starts a new generation at 1. */
  reset() {
    this.streamId = null;
    this.serial = 0;
    this.messages = [];
  }

  /** The messages after `since`, or why continuity cannot be proven. */
  replayAfter(since) {
    if (since.streamId !== null && since.streamId !== this.streamId) return { reason: "stream_reset" };
    if (since.serial > this.serial) return { reason: "continuity_unverifiable" };
    const oldest = this.oldestSerial;
    if (this.serial > since.serial && (oldest === null || oldest > since.serial + 1)) return { reason: "position_expired" };
    return { replay: this.messages.filter((m) => m.serial > since.serial) };
  }

  page({ after, before, limit = 50 }) {
    let chosen;
    let more;
    if (after !== undefined) {
      const later = this.messages.filter((m) => m.serial > after);
      chosen = later.slice(0, limit);
      more = later.length > limit;
    } else {
      const earlier = before === undefined ? this.messages : this.messages.filter((m) => m.serial < before);
      chosen = earlier.slice(-limit);
      more = earlier.length > limit;
    }
    return { streamId: this.streamId, oldestSerial: this.oldestSerial, serial: this.serial, messages: chosen, more };
  }
}

/** The token from the subprotocol header (`websocket, JWT`) or the query string. */
function tokenOf(request) {
  const offered = (request.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
  if (offered.length >= 2 && offered[0] === "websocket") return { token: offered[1], place: "protocol" };
  const query = new URL(request.url, "http://localhost").searchParams.get("access_token");
  return query === null ? undefined : { token: query, place: "query" };
}

export class FakeServer {
  /** Every handshake attempted: `{ token, place, status }`. */
  handshakes = [];
  /**
   * Every connection accepted: `{ ws, token, frames, subs, openedAt, closedAt, closeCode,
   * closedBy, mute }`; a `mute` connection takes frames but never answers them (one that died
   * without closing).
   */
  connections = [];
  entities = new Map();
  user = new Stream();
  streamsOff = false;
  /** Decides a handshake: a status to refuse with, or undefined to accept. */
  refuse = (token) => {
    const claims = claimsOf(token);
    return claims.exp * 1000 > Date.now() ? undefined : 401;
  };
  forbidden = new Set();
  /** Called after a subscription's position is read and before its reply is sent. */
  beforeReply;
  #expireNext = false;
  #throttle = [];
  #cutReplayAt;
  #failNext = [];
  #wss;

  static async start(options = {}) {
    const server = new FakeServer();
    server.streamsOff = options.streamsOff ?? false;
    server.maxConnectionMs = options.maxConnectionMs;
    await server.#listen();
    return server;
  }

  #listen() {
    this.#wss = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      handleProtocols: (protocols) => (protocols.has("websocket") ? "websocket" : false),
      verifyClient: (info, done) => this.#verify(info.req, done),
    });
    this.#wss.on("connection", (ws, request) => this.#accept(ws, request));
    return new Promise((resolve) => this.#wss.on("listening", resolve));
  }

  get url() {
    return `ws://127.0.0.1:${this.#wss.address().port}/production`;
  }

  #verify(request, done) {
    const found = tokenOf(request);
    let status = found === undefined ? 401 : undefined;
    try {
      status ??= this.refuse(found.token);
    } catch {
      status = 401;
    }
    this.handshakes.push({ token: found?.token, place: found?.place, status });
    if (status === undefined) done(true);
    else done(false, status, status === 403 ? "Forbidden" : "Unauthorized");
  }

  #accept(ws, request) {
    const connection = { ws, token: tokenOf(request).token, frames: [], subs: new Set(), openedAt: Date.now() };
    this.connections.push(connection);
    if (this.maxConnectionMs !== undefined) {
      connection.limit = setTimeout(() => {
        connection.closedBy = "server";
        ws.close(1001, "Going away");
      }, this.maxConnectionMs);
    }
    ws.on("message", (data) => this.#frame(connection, data.toString()));
    ws.on("close", (code) => {
      clearTimeout(connection.limit);
      connection.closedAt = Date.now();
      connection.closeCode = code;
      connection.closedBy ??= "client";
    });
  }

  #frame(connection, text) {
    const frame = JSON.parse(text);
    connection.frames.push(frame);
    if (connection.mute) return undefined;
    if (this.#expireNext) {
      this.#expireNext = false;
      send(connection, { type: "Error", code: "TokenExpired", message: "the token of this connection expired" });
      connection.closedBy = "server";
      return connection.ws.close(1000);
    }
    const throttled = this.#throttle.shift();
    if (throttled !== undefined) return send(connection, throttled);
    switch (frame.action) {
      case "ping":
        return send(connection, { type: "Pong" });
      case "subscribe":
        return this.#subscribe(connection, frame);
      case "unsubscribe":
        connection.subs.delete(frame.entityId);
        return send(connection, { type: "Unsubscribed", entityId: frame.entityId });
      case "resume":
        return this.#resume(connection, frame);
      case "history":
        return this.#history(connection, frame);
      default:
        return send(connection, { type: "Error", code: "BadRequest", message: `unknown action ${frame.action}` });
    }
  }

  #subscribe(connection, { entityId, since }) {
    if (this.forbidden.has(entityId)) {
      return send(connection, { type: "Error", code: "Forbidden", entityId, message: `you may not subscribe to "${entityId}"` });
    }
    connection.subs.add(entityId);
    if (this.streamsOff) return send(connection, { type: "Subscribed", entityId });
    const stream = this.entity(entityId);
    const position = { streamId: stream.streamId, serial: stream.serial };
    // Pushes published after the position was read race the reply.
    this.beforeReply?.(connection, { entityId, since });
    if (since === undefined) return send(connection, { type: "Subscribed", entityId, ...position });
    const outcome = this.#replay(connection, stream, since);
    if (outcome.reason !== undefined) return send(connection, failure({ entityId }, outcome.reason, stream));
    send(connection, { type: "Subscribed", entityId, ...outcome.position, replayed: outcome.replayed, ...outcome.more });
  }

  #resume(connection, { since }) {
    if (this.streamsOff) return send(connection, { type: "Error", code: "HistoryDisabled", message: "streams are switched off" });
    const stream = this.user;
    const position = { streamId: stream.streamId, serial: stream.serial };
    if (since === undefined) return send(connection, { type: "Resumed", stream: "user", ...position });
    const outcome = this.#replay(connection, stream, since);
    if (outcome.reason !== undefined) return send(connection, failure({ stream: "user" }, outcome.reason, stream));
    send(connection, { type: "Resumed", stream: "user", ...outcome.position, replayed: outcome.replayed, ...outcome.more });
  }

  /** Pushes the replay (cut when asked to) and answers the position the reply carries. */
  #replay(connection, stream, since) {
    const forced = this.#failNext.shift();
    if (forced !== undefined) return { reason: forced };
    const { reason, replay } = stream.replayAfter(since);
    if (reason !== undefined) return { reason };
    const cut = this.#cutReplayAt !== undefined && replay.length > this.#cutReplayAt;
    const sent = cut ? replay.slice(0, this.#cutReplayAt) : replay;
    for (const message of sent) send(connection, message);
    const last = cut ? sent[sent.length - 1].serial : stream.serial;
    return { position: { streamId: stream.streamId, serial: last }, replayed: sent.length, more: cut ? { more: true } : {} };
  }

  #history(connection, frame) {
    if (this.streamsOff) return send(connection, { type: "Error", code: "HistoryDisabled", message: "streams are switched off" });
    const target = frame.stream === "user" ? { stream: "user" } : { entityId: frame.entityId };
    const stream = frame.stream === "user" ? this.user : this.entity(frame.entityId);
    send(connection, { type: "History", ...target, ...stream.page(frame) });
  }

  entity(entityId) {
    let stream = this.entities.get(entityId);
    if (stream === undefined) {
      stream = new Stream();
      this.entities.set(entityId, stream);
    }
    return stream;
  }

  /** Publishes to an entity: stored, and pushed to its subscribers unless `live` is false. */
  publish(entityId, message, { live = true } = {}) {
    const fields = { type: "Entity Updated", entityId, message, eventId: randomUUID(), time: new Date().toISOString() };
    const frame = this.streamsOff ? fields : this.entity(entityId).append(fields);
    if (live) this.pushToSubscribers(entityId, frame);
    return frame;
  }

  /** Publishes a notification to the user (every connection). */
  publishUser(message, { live = true } = {}) {
    const fields = { type: "User Push Notification", message, eventId: randomUUID(), time: new Date().toISOString() };
    const frame = this.streamsOff ? fields : this.user.append(fields);
    if (live) for (const c of this.openConnections()) send(c, frame);
    return frame;
  }

  /** Sends a push frame as it is (a redelivery, a late one) to the entity's subscribers. */
  pushToSubscribers(entityId, frame) {
    for (const c of this.openConnections()) if (c.subs.has(entityId)) send(c, frame);
  }

  openConnections() {
    return this.connections.filter((c) => c.ws.readyState === c.ws.OPEN);
  }

  /** Closes every connection from the server side (API Gateway's 1001, a restart). */
  dropAll(code = 1001) {
    for (const c of this.openConnections()) {
      c.closedBy = "server";
      c.ws.close(code, "Going away");
    }
  }

  /** The next frames are answered with this throttle reply instead of being run. */
  throttleNext(count, reply = { message: "Too Many Requests", connectionId: "c", requestId: "r" }) {
    for (let i = 0; i < count; i += 1) this.#throttle.push(reply);
  }

  /** The next frame is answered TokenExpired, and the connection closed. */
  expireNextFrame() {
    this.#expireNext = true;
  }

  /** The next replays (subscribe/resume with since) fail with `reason`. */
  failNextResume(reason, count = 1) {
    for (let i = 0; i < count; i += 1) this.#failNext.push(reason);
  }

  /** Replays longer than `count` messages are cut there, with `more: true` on the reply. */
  cutReplaysAt(count) {
    this.#cutReplayAt = count;
  }

  /** Every frame of `action` the server received, over all connections. */
  framesOf(action) {
    return this.connections.flatMap((c) => c.frames.filter((f) => f.action === action));
  }

  async close() {
    for (const c of this.connections) clearTimeout(c.limit);
    for (const client of this.#wss.clients) client.terminate();
    await new Promise((resolve) => this.#wss.close(resolve));
  }
}

function send(connection, frame) {
  if (connection.ws.readyState === connection.ws.OPEN) connection.ws.send(JSON.stringify(frame));
}

function failure(target, reason, stream) {
  const unreadable = reason === "history_unavailable";
  return {
    type: "ResumeFailed",
    ...target,
    reason,
    streamId: unreadable ? null : stream.streamId,
    oldestSerial: unreadable ? null : stream.oldestSerial,
    serial: unreadable ? null : stream.serial,
  };
}
