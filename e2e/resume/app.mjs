// The application under test: one or more `PushClient`s of one user, each subscribed to one
// entity and to the user's notifications, recording what their handlers receive. The same
// module runs in Node (PushClient from clients/js/dist, WebSocket from `ws`) and in the page
// (both loaded by the browser from the test's static server), so both runs exercise exactly
// the same application code; it uses nothing but what browsers and Node 20 both have.
//
// The only thing it adds to the library is at the transport boundary: the WebSocket class it
// passes counts how sockets open and end, and while `hold` is on it points new sockets at a
// server that refuses every handshake, which keeps the client away from the gateway.

/** An HS256 JWT of `claims` signed with `secret`, with WebCrypto. */
export async function hs256(secret, claims) {
  const encode = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const text = (value) => encode(new TextEncoder().encode(JSON.stringify(value)));
  const input = `${text({ alg: "HS256", typ: "JWT" })}.${text(claims)}`;
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(input)));
  return `${input}.${encode(signature)}`;
}

/** A token of `userId` for the client `name` (the name shows in the gateway's listing). */
export function tokenFor(secret, userId, name) {
  const now = Math.floor(Date.now() / 1000);
  return hs256(secret, { iat: now, exp: now + 3600, data: { userId, firstName: name } });
}

/**
 * A WebSocket class that records how each socket ends (by the close event's code and reason)
 * and, while `held()`, connects to `refuserUrl` instead.
 */
function transport(RealWebSocket, stats, held, refuserUrl) {
  return function CountedWebSocket(url, protocols) {
    const socket = new RealWebSocket(held() ? refuserUrl : url, protocols);
    let opened = false;
    socket.addEventListener("open", () => {
      opened = true;
      stats.opened += 1;
    });
    socket.addEventListener("close", (event) => {
      if (opened) count(stats.closes, `${event.code} ${event.reason}`.trim());
      else stats.failedHandshakes += 1;
    });
    return socket;
  };
}

function count(tally, key) {
  tally[key] = (tally[key] ?? 0) + 1;
}

/** One client and everything its handlers and events saw; `subscribed` settles with its subscription. */
function startClient(platform, config, spec, held) {
  const stats = { opened: 0, failedHandshakes: 0, closes: {} };
  const seen = { entity: [], user: [], gaps: [], errors: [], states: [] };
  const client = new platform.PushClient({
    url: config.url,
    token: () => tokenFor(config.secret, config.userId, spec.name),
    WebSocket: transport(platform.WebSocket, stats, held, config.refuserUrl),
    ...spec.options,
  });
  const record = (list) => (push) => list.push([push.message?.n, push.serial, push.streamId]);
  client.on("gap", (gap) => seen.gaps.push(gap));
  client.on("error", (error) => seen.errors.push({ code: error.code, message: error.message }));
  client.on("state", (state) => seen.states.push(state));
  client.onUserNotification(record(seen.user));
  client.connect();
  const subscribed = client.subscribe(config.entityId, record(seen.entity));
  return { name: spec.name, client, stats, seen, subscribed };
}

/**
 * Starts the clients of `config.clients` ([{ name, options }]); `ready()` resolves once every
 * one is subscribed. `platform`: { PushClient, WebSocket }.
 */
export function startApp(platform, config) {
  let holding = false;
  const clients = config.clients.map((spec) => startClient(platform, config, spec, () => holding));
  return {
    async ready() {
      await Promise.all(clients.map((c) => c.subscribed));
    },
    /** While on, new connections are refused before they reach the gateway. */
    hold(on) {
      holding = on;
    },
    /** Counts so far (cheap to poll), or everything with `full`. */
    snapshot(full = false) {
      return clients.map(({ name, client, stats, seen }) => ({
        name,
        state: client.state,
        entityCount: seen.entity.length,
        userCount: seen.user.length,
        gaps: seen.gaps,
        errors: seen.errors,
        reconnects: seen.states.filter((s) => s === "reconnecting").length,
        stats,
        ...(full ? { entity: seen.entity, user: seen.user } : {}),
      }));
    },
    close() {
      for (const { client } of clients) client.close();
    },
  };
}
