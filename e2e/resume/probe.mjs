// A plain WebSocket client (`ws`, no library) of the test's user, beside the client under test:
// the publisher's witness. It is subscribed to the entity and, being the same user, receives
// the user's notifications too, so it sees the serial each published event was given; and it
// reads `history` to learn how far each stream has been written. It is never cut, but the
// gateway's connection lifetime and restarts end its connections too: it connects again at
// once, and what it missed meanwhile it reads from history.
import WebSocket from "ws";
import { setTimeout as sleep } from "node:timers/promises";

const PUSH_TYPES = { "Entity Updated": "entity", "User Push Notification": "user" };
/** How long a push is waited for before history is asked whether the event was written. */
const PUSH_WAIT_MS = 300;

export class Probe {
  #socket;
  #up;
  #closed = false;
  #pending = [];
  #turn = Promise.resolve();
  #waiters = [];
  /** The newest serial known written, per stream ("entity", "user"). */
  newest = { entity: 0, user: 0 };
  /** Messages whose serial was not their sequence number `n` (the publisher's order broken). */
  misplaced = [];

  /** @param {string} url the gateway's WebSocket URL, @param {() => Promise<string>} token */
  constructor(url, token, entityId) {
    this.url = url;
    this.token = token;
    this.entityId = entityId;
  }

  /** Connects (retrying while the gateway is away) and subscribes to the entity. */
  connect() {
    this.#up = this.#connectUntilUp();
    return this.#up;
  }

  close() {
    this.#closed = true;
    this.#socket?.close();
  }

  /**
   * Sends a frame and answers its reply; sends it again if the connection ends first. One
   * frame at a time: the gateway, as API Gateway, may answer frames in flight together in any
   * order, and replies do not say which frame they answer.
   */
  request(frame) {
    const reply = this.#turn.then(() => this.#exchange(frame));
    this.#turn = reply.catch(() => undefined);
    return reply;
  }

  async #exchange(frame) {
    for (;;) {
      const socket = await this.#up;
      const reply = await new Promise((resolve) => {
        this.#pending.push(resolve);
        socket.send(JSON.stringify(frame));
      });
      if (reply !== undefined) return reply;
    }
  }

  /** The newest serial `history` reports for a stream ("entity" or "user"). */
  async written(stream) {
    const page = await this.#history(stream, { limit: 1 });
    return page.serial;
  }

  /** Resolves once the event with serial `serial` of `stream` is known written. */
  async confirm(stream, serial) {
    while (this.newest[stream] < serial) {
      await Promise.race([this.#pushed(stream, serial), sleep(PUSH_WAIT_MS)]);
      if (this.newest[stream] >= serial) return;
      const page = await this.#history(stream, { after: serial - 1, limit: 1 });
      for (const message of page.messages) this.#saw(stream, message);
    }
  }

  async #connectUntilUp() {
    while (!this.#closed) {
      try {
        return await this.#connectOnce();
      } catch {
        await sleep(100);
      }
    }
    throw new Error("the probe was closed");
  }

  async #connectOnce() {
    const socket = new WebSocket(this.url, ["websocket", await this.token()]);
    await new Promise((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    socket.on("error", () => undefined);
    socket.on("message", (data) => this.#received(JSON.parse(data.toString())));
    socket.on("close", () => this.#lost(socket));
    this.#socket = socket;
    const subscribed = await new Promise((resolve) => {
      this.#pending.push(resolve);
      socket.send(JSON.stringify({ action: "subscribe", entityId: this.entityId }));
    });
    if (subscribed?.type !== "Subscribed") throw new Error(`the probe could not subscribe: ${JSON.stringify(subscribed)}`);
    return socket;
  }

  /** The connection ended: requests in flight are sent again on the next one. */
  #lost(socket) {
    if (socket !== this.#socket) return;
    for (const resolve of this.#pending.splice(0)) resolve(undefined);
    if (!this.#closed) this.connect().catch(() => undefined);
  }

  async #history(stream, query) {
    const selector = stream === "entity" ? { entityId: this.entityId } : { stream: "user" };
    const page = await this.request({ action: "history", ...selector, ...query });
    const answersIt = page.type === "History" && (stream === "entity" ? page.entityId === this.entityId : page.stream === "user");
    if (!answersIt) throw new Error(`history of the ${stream} stream answered ${JSON.stringify(page)}`);
    return page;
  }

  #pushed(stream, serial) {
    return new Promise((resolve) => this.#waiters.push({ stream, serial, resolve }));
  }

  #received(frame) {
    const stream = PUSH_TYPES[frame.type];
    if (stream === undefined) this.#pending.shift()?.(frame);
    else this.#saw(stream, frame);
  }

  #saw(stream, message) {
    if (message.message?.n !== message.serial) this.misplaced.push({ stream, n: message.message?.n, serial: message.serial });
    this.newest[stream] = Math.max(this.newest[stream], message.serial);
    this.#waiters = this.#waiters.filter((w) => {
      if (w.stream !== stream || this.newest[stream] < w.serial) return true;
      w.resolve();
      return false;
    });
  }
}
