// The backend: publishes numbered events with EventBridge PutEvents (unsigned, as the local
// gateway accepts it), one stream's events one after another.
//
// A stream's order is the order its events are given serials, and the gateway's events
// function handles up to four records of a batch at once (as the deployed one does), so two
// events of one stream in flight together may be numbered either way round. Each lane
// therefore publishes its next event only once the probe has seen the previous one written
// with its serial: event n is then serial n, and "n = 1, 2, 3, … in order" is what the stream
// itself says. The two lanes (the entity's and the user's) run side by side.
import { setTimeout as sleep } from "node:timers/promises";

/** One PutEvents call; answers the number of entries accepted (each with an EventId). */
export async function putEvents(gatewayHttp, entries) {
  const response = await fetch(`${gatewayHttp}/`, {
    method: "POST",
    headers: { "X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1" },
    body: JSON.stringify({ Entries: entries }),
  });
  const body = await response.json();
  if (!response.ok || body.FailedEntryCount !== 0 || body.Entries?.some((e) => typeof e.EventId !== "string")) {
    throw new Error(`PutEvents answered ${response.status}: ${JSON.stringify(body)}`);
  }
  return body.Entries.length;
}

/** The PutEvents entry of event `n` of `stream` ("entity" or "user"). */
export function entry(stream, n, { entityId, userId }) {
  const detail =
    stream === "entity"
      ? { entityId, message: { n } }
      : { userId, message: { n }, callback: `https://example.com/notifications/${n}` };
  const detailType = stream === "entity" ? "Entity Updated" : "Send User Push Notification";
  return { Source: "resume-test", DetailType: detailType, Detail: JSON.stringify(detail) };
}

/** How long a lane waits for the probe to see its event written before it calls the run broken. */
const CONFIRM_TIMEOUT_MS = 20_000;

export class Publisher {
  #paused = false;
  #gate = Promise.resolve();
  #open = () => undefined;
  #busy = 0;
  #idle = [];
  /** Events accepted by PutEvents, per stream: event n is the stream's n-th. */
  accepted = { entity: 0, user: 0 };

  /**
   * @param {{ gateway: {http: string}, probe: import("./probe.mjs").Probe, ids: {entityId, userId} }} options
   */
  constructor(options) {
    this.options = options;
  }

  /**
   * Publishes each stream's next events until it has `totals[stream]` in all, each lane spread
   * over about `durationMs`.
   */
  publish(totals, durationMs = 0) {
    return Promise.all(Object.entries(totals).map(([stream, total]) => this.#lane(stream, total, durationMs)));
  }

  /** Stops publishing; resolves once no event is between PutEvents and its confirmation. */
  pause() {
    this.#paused = true;
    this.#gate = new Promise((resolve) => (this.#open = resolve));
    return this.#busy === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }

  resume() {
    this.#paused = false;
    this.#open();
  }

  async #lane(stream, total, durationMs) {
    const spacing = durationMs / Math.max(1, total - this.accepted[stream]);
    while (this.accepted[stream] < total) {
      const due = Date.now() + spacing;
      while (this.#paused) await this.#gate;
      this.#busy += 1;
      try {
        await this.#publishNext(stream);
      } finally {
        this.#busy -= 1;
        if (this.#busy === 0) for (const resolve of this.#idle.splice(0)) resolve();
      }
      await sleep(Math.max(0, due - Date.now()));
    }
  }

  /** Publishes the stream's next event and waits until the probe has seen it written. */
  async #publishNext(stream) {
    const { gateway, probe, ids } = this.options;
    const n = this.accepted[stream] + 1;
    this.accepted[stream] += await putEvents(gateway.http, [entry(stream, n, ids)]);
    await withTimeout(probe.confirm(stream, n), CONFIRM_TIMEOUT_MS, `${stream} event ${n} was not written to history`);
  }
}

export async function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
