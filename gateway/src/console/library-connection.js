// A console connection kept by the client library (@wspush/client): the library reconnects on
// its own and resumes every stream where it left off, so a push published while the socket
// was down is delivered once, in order, after the reconnect.
//
// The console exists to show what happens on the wire, so the library gets a WebSocket class
// of the console's making: each socket it opens is the browser's own, with its frames copied
// to the console's log and kept so that "Drop connection" can close it under the library, as a
// network fault would. While "Hold reconnects" is on, the next handshakes wait until it is
// off: a person then has time to publish while the connection is down and watch the library
// replay what it missed. This module draws nothing; console.js shows what the hooks report.
import { PushClient } from "./wspush-client.js";

const CONNECTING = 0;
const CLOSED = 3;

/** A socket whose handshake waits until `release`; the browser's socket is made only then. */
class HeldSocket {
  #open;
  #socket = null;
  #listeners = [];
  #abandoned = false;

  constructor(open) {
    this.#open = open;
  }

  get readyState() {
    if (this.#socket) return this.#socket.readyState;
    return this.#abandoned ? CLOSED : CONNECTING;
  }

  get protocol() {
    return this.#socket ? this.#socket.protocol : "";
  }

  addEventListener(type, listener) {
    if (this.#socket) this.#socket.addEventListener(type, listener);
    else this.#listeners.push([type, listener]);
  }

  send(text) {
    if (!this.#socket) throw new Error("the socket is not open yet: its handshake is held");
    this.#socket.send(text);
  }

  /** The library gave up on this handshake (its timeout, or the client closed): never open it. */
  close(code, reason) {
    if (this.#socket) this.#socket.close(code, reason);
    else this.#abandoned = true;
  }

  release() {
    if (this.#socket || this.#abandoned) return;
    this.#socket = this.#open();
    for (const [type, listener] of this.#listeners) this.#socket.addEventListener(type, listener);
  }
}

/**
 * One library-managed connection. `hooks`: frame(dir, text) for every frame on its sockets,
 * note(text) for socket events, and state, gap, error and delivered with the library's values.
 */
export class LibraryConnection {
  #client;
  #hooks;
  #sockets = new Set();
  #held = [];
  #holding = false;
  #deliver;

  constructor({ url, token, place }, hooks) {
    this.#hooks = hooks;
    this.#deliver = (push) => hooks.delivered(push);
    this.#client = new PushClient({
      url,
      token: () => token,
      tokenIn: place === "query" ? "query" : "protocol",
      WebSocket: this.#socketClass(),
    });
    this.#client.on("state", (state) => hooks.state(state));
    this.#client.on("gap", (gap) => hooks.gap(gap));
    this.#client.on("error", (error) => hooks.error(error));
    this.#client.onUserNotification(this.#deliver);
    this.#client.connect();
  }

  get state() {
    return this.#client.state;
  }

  /** The subprotocol the server selected on the newest socket ("" before one is open). */
  get protocol() {
    return [...this.#sockets].pop()?.protocol ?? "";
  }

  get holding() {
    return this.#holding;
  }

  /** Resolves once the server answered; rejects with the library's error (code, message). */
  subscribe(entityId) {
    return this.#client.subscribe(entityId, this.#deliver);
  }

  unsubscribe(entityId) {
    return this.#client.unsubscribe(entityId, this.#deliver);
  }

  /** Where delivery of the entity's stream stands (undefined before its reply, or streams off). */
  position(entityId) {
    return this.#client.position({ entityId });
  }

  /** Closes the open sockets under the library, which reconnects; answers how many it closed. */
  drop() {
    const open = [...this.#sockets].filter((ws) => ws.readyState === WebSocket.OPEN);
    for (const ws of open) ws.close(1000, "dropped from the console");
    return open.length;
  }

  /** On: new handshakes wait. Off: the waiting ones go ahead. */
  hold(on) {
    this.#holding = on;
    if (!on) for (const socket of this.#held.splice(0)) socket.release();
  }

  /** Closes for good: the library's `close()`, and no held handshake ever opens. */
  close() {
    this.#holding = false;
    for (const socket of this.#held.splice(0)) socket.close();
    this.#client.close();
  }

  /** The WebSocket class the library opens its sockets with (a function, so `new` works). */
  #socketClass() {
    const connection = this;
    return function ConsoleSocket(url, protocols) {
      const open = () => connection.#watch(new WebSocket(url, protocols));
      if (!connection.#holding) return open();
      const held = new HeldSocket(open);
      connection.#held.push(held);
      connection.#hooks.note("handshake held: it goes ahead when Hold reconnects is unchecked");
      return held;
    };
  }

  /** Copies the socket's frames to the log; added before the library's own listeners. */
  #watch(ws) {
    const hooks = this.#hooks;
    this.#sockets.add(ws);
    const send = ws.send.bind(ws);
    ws.send = (text) => {
      send(text);
      hooks.frame("out", text);
    };
    ws.addEventListener("message", (event) => hooks.frame("in", event.data));
    ws.addEventListener("open", () => hooks.note(`socket open, subprotocol: ${ws.protocol || "(none)"}`));
    ws.addEventListener("error", () => hooks.note("socket error: a handshake refused or a socket failed (browsers do not say which)"));
    ws.addEventListener("close", (event) => {
      this.#sockets.delete(ws);
      hooks.note(`socket closed, code ${event.code}${event.reason ? `, reason "${event.reason}"` : ""}`);
    });
    return ws;
  }
}
