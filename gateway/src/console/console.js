// The wspush console: mint a test token, hold several connections side by side, log every
// frame, publish the example events, and read the local gateway's listings.
//
// A connection is one of two kinds. A raw socket sends any frame typed and shows every frame
// received, to learn the protocol by hand. A connection kept by the client library
// (@wspush/client, bundled as wspush-client.js; see library-connection.js) shows what an
// application gets: pushes delivered once each and in order with their stream and serial, the
// library's state changes and gaps, and a dropped socket reconnected and resumed with nothing
// lost, while its frames still appear in the log.
//
// Plain browser JavaScript modules with no dependencies beyond the library, served by the
// gateway itself. It uses only the public paths a CLI would use (Lambda Invoke, EventBridge
// PutEvents, the WebSocket endpoint) plus the local-only listings under /_gateway/. Every text
// that came from outside is shown with textContent, never parsed as HTML.
import { LibraryConnection } from "./library-connection.js";

const $ = (id) => document.getElementById(id);
const MAX_LOG = 2000;

const state = {
  settings: { stage: "production", testTokenFunction: "CreateTestJwt", examples: [] },
  connections: [],
  nextId: 1,
  log: [],
  publications: [],
  // eventId -> ids of this page's connections that received a push carrying it; filled even
  // before PutEvents answers, since the push can arrive first.
  seenEvents: new Map(),
  refreshTimer: null,
};

// ---- small helpers ------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "className") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function say(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function clock(date = new Date()) {
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The user a JWT names (data.userId, else sub), read without checking it: a label only.
 *  Tokens from an identity provider name the user the gateway's --jwt-user-claim says; the
 *  label is then the token's sub. */
function tokenUser(token) {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const bytes = Uint8Array.from(atob(part.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return (claims.data && claims.data.userId) || claims.sub || null;
  } catch {
    return null;
  }
}

function endpointIsLocal(url) {
  try {
    return new URL(url).host === location.host;
  } catch {
    return true;
  }
}

async function readJson(response) {
  const text = await response.text();
  return text ? parseJson(text) : undefined;
}

function awsMessage(body, response) {
  if (body && (body.message || body.Message || body.errorMessage)) {
    return body.message || body.Message || body.errorMessage;
  }
  return `HTTP ${response.status}`;
}

// ---- mode: local gateway or a deployed endpoint -------------------------------------------------

function updateMode() {
  const url = $("ws-url").value.trim();
  const local = endpointIsLocal(url);
  let host = url;
  try {
    host = new URL(url).host;
  } catch {
    /* shown as typed */
  }
  $("mode").textContent = local
    ? `Local gateway at ${location.host}`
    : `Remote endpoint ${host} (tokens pasted, publishing with the aws CLI)`;
  $("mint").disabled = !local;
  $("publish").disabled = !local;
  $("remote-publish").hidden = local;
  $("remote-gateway").hidden = local;
}

// ---- tokens -------------------------------------------------------------------------------------

async function mint() {
  const payload = {};
  for (const [id, key] of [["user-id", "userId"], ["first-name", "firstName"], ["last-name", "lastName"], ["sub", "sub"]]) {
    const value = $(id).value.trim();
    if (value) payload[key] = value;
  }
  const fn = encodeURIComponent(state.settings.testTokenFunction);
  let response;
  try {
    response = await fetch(`/2015-03-31/functions/${fn}/invocations`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(payload),
    });
  } catch (error) {
    say(`Could not reach the gateway to mint a token: ${error.message}`, true);
    return;
  }
  const body = await readJson(response);
  if (!response.ok || response.headers.get("x-amz-function-error") || !body || typeof body.token !== "string") {
    say(`CreateTestJwt refused: ${awsMessage(body, response)}`, true);
    return;
  }
  $("token").value = body.token;
  say(`Minted a token for ${tokenUser(body.token) || "the default user"}, valid one hour.`);
}

// ---- connections: what both kinds share ---------------------------------------------------------

/** The URL, token and token placement typed in the Connect panel, or null (and why, shown). */
function readTarget() {
  const url = $("ws-url").value.trim();
  const token = $("token").value.trim();
  const place = document.querySelector('input[name="token-place"]:checked').value;
  let target;
  try {
    target = new URL(url);
  } catch {
    return refuseTarget("ws-url", "The WebSocket URL is not a URL; it looks like ws://127.0.0.1:3001/production.");
  }
  if (target.protocol !== "ws:" && target.protocol !== "wss:") {
    return refuseTarget("ws-url", "The WebSocket URL must start with ws:// or wss://.");
  }
  if (!token) return refuseTarget("token", "Mint or paste a token first: the endpoint answers 401 without one.");
  return { url: target.toString(), token, place };
}

function refuseTarget(field, why) {
  say(why, true);
  $(field).focus();
  return null;
}

function connect() {
  const target = readTarget();
  if (!target) return;
  if (document.querySelector('input[name="conn-kind"]:checked').value === "library") {
    const conn = addConnection("library", target);
    conn.lib = new LibraryConnection(target, libraryHooks(conn));
    updateCard(conn);
    return;
  }
  const ws = openRawSocket(target);
  if (ws) watchRaw(addConnection("raw", target, ws));
}

/** Registers a connection of `kind` and shows its card. */
function addConnection(kind, target, ws = null) {
  const id = state.nextId++;
  const user = tokenUser(target.token);
  const conn = {
    id,
    kind,
    user,
    label: $("conn-label").value.trim() || user || `connection ${id}`,
    place: target.place,
    ws,
    lib: null,
    state: "connecting",
    subscriptions: new Set(),
    pushes: 0,
    card: null,
  };
  state.connections.push(conn);
  conn.card = kind === "library" ? buildLibraryCard(conn) : buildRawCard(conn);
  $("connections").append(conn.card.root);
  $("no-connections").hidden = true;
  $("filter-conn").append(el("option", { value: String(id) }, name(conn)));
  $("conn-label").value = "";
  updateCard(conn);
  return conn;
}

function name(conn) {
  return `#${conn.id} ${conn.label}`;
}

function button(label, action) {
  const b = el("button", { type: "button" }, label);
  b.addEventListener("click", action);
  return b;
}

/** The parts every card has: its title with the state, and a line of facts. */
function cardHead(conn) {
  const p = `conn-${conn.id}`;
  const parts = {
    stateBadge: el("span", { className: "state" }),
    proto: el("span"),
    pushes: el("span", { className: "pushes" }),
    subs: el("span", { className: "subs" }),
  };
  const nodes = [
    el("h3", {}, el("span", { id: `${p}-name` }, name(conn)), parts.stateBadge),
    el("p", { className: "facts" }, parts.proto, " · ", parts.pushes, " · ", parts.subs),
  ];
  return { parts, nodes };
}

function cardRoot(conn, ...children) {
  return el("article", { className: "card", "aria-labelledby": `conn-${conn.id}-name`, "data-connection": conn.id }, ...children);
}

/** The entity id box; Enter in it runs `subscribe`. */
function entityField(conn, subscribe) {
  const id = `conn-${conn.id}-entity`;
  const entity = el("input", { id, value: "myEntityId", autocomplete: "off", spellcheck: "false" });
  entity.addEventListener("keydown", (event) => {
    if (event.key === "Enter") subscribe(entity.value);
  });
  return { entity, field: el("div", { className: "field" }, el("label", { for: id }, "Entity id"), entity) };
}

const STATE_TEXT = {
  idle: "idle",
  connecting: "connecting…",
  open: "open",
  reconnecting: "reconnecting…",
  refused: "refused",
};

function updateCard(conn) {
  const c = conn.card;
  const closed = conn.kind === "raw" ? `closed (${conn.closeCode ?? "?"})` : "closed";
  c.stateBadge.textContent = conn.state === "closed" ? closed : STATE_TEXT[conn.state];
  c.stateBadge.className = `state ${conn.state}`;
  c.proto.textContent = conn.kind === "raw" ? rawFacts(conn) : libraryFacts(conn);
  c.pushes.textContent = `pushes ${conn.kind === "raw" ? "received" : "delivered"}: ${conn.pushes}`;
  c.subs.textContent = `subscribed: ${conn.subscriptions.size ? [...conn.subscriptions].sort().join(", ") : "nothing"}`;
  const over = ended(conn);
  const usable = conn.kind === "raw" ? conn.state === "open" : !over;
  for (const b of c.sendButtons) b.disabled = !usable;
  c.closeButton.disabled = over;
  if (conn.kind === "library") {
    c.dropButton.disabled = conn.state !== "open";
    c.hold.disabled = over;
  }
}

function ended(conn) {
  return conn.state === "closed" || conn.state === "refused";
}

function remove(conn) {
  if (conn.kind === "raw" && conn.state !== "closed") conn.ws.close(1000, "removed from the console");
  if (conn.kind === "library" && !ended(conn)) conn.lib.close();
  conn.card.root.remove();
  state.connections = state.connections.filter((c) => c !== conn);
  const option = $("filter-conn").querySelector(`option[value="${conn.id}"]`);
  if (option) option.remove();
  renderLog();
  $("no-connections").hidden = state.connections.length > 0;
  renderPublications();
}

/** Notes that `conn` got the push carrying `eventId`, for the Publications list. */
function markSeen(conn, eventId) {
  conn.pushes += 1;
  if (!state.seenEvents.has(eventId)) state.seenEvents.set(eventId, new Set());
  state.seenEvents.get(eventId).add(conn.id);
  renderPublications();
}

// ---- raw sockets: any frame out, every frame in -------------------------------------------------

function openRawSocket({ url, token, place }) {
  try {
    if (place === "subprotocol") return new WebSocket(url, ["websocket", token]);
    const target = new URL(url);
    target.searchParams.set("access_token", token);
    return new WebSocket(target.toString());
  } catch (error) {
    say(`The browser refused to open the socket: ${error.message}`, true);
    return null;
  }
}

function watchRaw(conn) {
  const ws = conn.ws;
  ws.addEventListener("open", () => {
    conn.state = "open";
    note(conn, `open, subprotocol: ${ws.protocol || "(none)"}`);
    updateCard(conn);
    say(`${name(conn)} is open.`);
    scheduleRefresh();
  });
  ws.addEventListener("message", (event) => receive(conn, event.data));
  ws.addEventListener("error", () => {
    note(conn, "error: the handshake was refused or the socket failed (browsers do not say which; a refused token is a 401)");
  });
  ws.addEventListener("close", (event) => rawClosed(conn, event));
}

function rawClosed(conn, event) {
  const wasOpen = conn.state === "open";
  conn.state = "closed";
  conn.closeCode = event.code;
  note(conn, `closed, code ${event.code}${event.reason ? `, reason "${event.reason}"` : ""}`);
  updateCard(conn);
  say(wasOpen ? `${name(conn)} closed (${event.code}).` : `${name(conn)} could not connect (code ${event.code}).`, !wasOpen);
  scheduleRefresh();
  // The gateway may still be running `$disconnect` when the close arrives: look again.
  setTimeout(refreshConnections, 1000);
}

function rawFacts(conn) {
  return conn.place === "query"
    ? "token in query string"
    : `token as subprotocol, selected: ${conn.ws.protocol || "(none yet)"}`;
}

function buildRawCard(conn) {
  const p = `conn-${conn.id}`;
  const { parts, nodes } = cardHead(conn);
  const sendEntity = (action) => send(conn, JSON.stringify({ action, entityId: entity.value }));
  const { entity, field } = entityField(conn, () => sendEntity("subscribe"));
  const frame = el("textarea", { id: `${p}-frame`, rows: 2, spellcheck: "false", "aria-describedby": `${p}-frame-help` });
  frame.value = '{"action":"ping"}';
  frame.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) send(conn, frame.value);
  });
  const sendButtons = [
    button("Subscribe", () => sendEntity("subscribe")),
    button("Unsubscribe", () => sendEntity("unsubscribe")),
    button("Ping", () => send(conn, JSON.stringify({ action: "ping" }))),
    button("Send frame", () => send(conn, frame.value)),
  ];
  const closeButton = button("Close", () => conn.ws.close(1000, "closed from the console"));
  const root = cardRoot(conn, ...nodes,
    el("div", { className: "row" }, field, sendButtons[0], sendButtons[1], sendButtons[2]),
    el("div", { className: "field" },
      el("label", { for: `${p}-frame` }, "Frame to send"), frame,
      el("p", { id: `${p}-frame-help`, className: "help" }, "Any text; Ctrl+Enter sends it.")),
    el("div", { className: "row" }, sendButtons[3], closeButton, button("Remove", () => remove(conn))),
  );
  return { root, ...parts, sendButtons, closeButton };
}

function send(conn, text) {
  if (conn.ws.readyState !== WebSocket.OPEN) {
    say(`${name(conn)} is not open.`, true);
    return;
  }
  conn.ws.send(text);
  record(conn, "out", text);
}

function receive(conn, data) {
  const text = typeof data === "string" ? data : "(binary frame)";
  record(conn, "in", text);
  const frame = parseJson(text);
  if (!frame || typeof frame !== "object") return;
  if (frame.type === "Subscribed" && typeof frame.entityId === "string") {
    conn.subscriptions.add(frame.entityId);
    scheduleRefresh();
  } else if (frame.type === "Unsubscribed" && typeof frame.entityId === "string") {
    conn.subscriptions.delete(frame.entityId);
    scheduleRefresh();
  } else if (frame.type === "Error") {
    const code = typeof frame.code === "string" ? frame.code : "Error";
    const about = typeof frame.entityId === "string" ? ` for ${frame.entityId}` : "";
    say(`${name(conn)} was refused${about}: ${code}: ${frame.message}`, true);
  }
  if (typeof frame.eventId === "string") markSeen(conn, frame.eventId);
  updateCard(conn);
}

// ---- connections kept by the client library (library-connection.js) -----------------------------

/** Keeps the card's list of delivered pushes to its newest this many. */
const MAX_DELIVERED = 200;

function libraryFacts(conn) {
  const place = conn.place === "query"
    ? "token in query string"
    : `token as subprotocol, selected: ${(conn.lib && conn.lib.protocol) || "(none yet)"}`;
  return `client library, ${place}`;
}

function buildLibraryCard(conn) {
  const p = `conn-${conn.id}`;
  const { parts, nodes } = cardHead(conn);
  const { entity, field } = entityField(conn, (entityId) => librarySubscribe(conn, entityId));
  const hold = el("input", { type: "checkbox", "aria-describedby": `${p}-drop-help` });
  hold.addEventListener("change", () => holdReconnects(conn, hold.checked));
  const sendButtons = [
    button("Subscribe", () => librarySubscribe(conn, entity.value)),
    button("Unsubscribe", () => libraryUnsubscribe(conn, entity.value)),
  ];
  const dropButton = button("Drop connection", () => dropConnection(conn));
  dropButton.setAttribute("aria-describedby", `${p}-drop-help`);
  const closeButton = button("Close", () => conn.lib.close());
  const delivered = el("ol", { className: "delivered", "aria-labelledby": `${p}-delivered` });
  const root = cardRoot(conn, ...nodes,
    el("div", { className: "row" }, field, ...sendButtons),
    el("div", { className: "row" }, dropButton, el("label", { className: "choice" }, hold, " Hold reconnects"),
      closeButton, button("Remove", () => remove(conn))),
    el("p", { id: `${p}-drop-help`, className: "help" }, "Drop closes the socket under the library, which reconnects and ",
      "resumes every stream. While Hold reconnects is checked its handshakes wait: publish meanwhile, then uncheck it."),
    el("h4", { id: `${p}-delivered` }, "Delivered, once each and in order per stream"),
    delivered,
  );
  return { root, ...parts, sendButtons, closeButton, dropButton, hold, delivered };
}

/** What the library reports, shown in the card and the log. */
function libraryHooks(conn) {
  return {
    frame: (dir, data) => record(conn, dir, typeof data === "string" ? data : "(binary frame)"),
    note: (text) => note(conn, text),
    state: (value) => libraryState(conn, value),
    delivered: (push) => delivered(conn, push),
    gap: (gap) => {
      const missed = `missed what came after ${position(gap.from)} up to ${position(gap.to)}`;
      const text = `gap in ${streamName(gap.stream)} (${gap.reason}): ${missed}; refetch its state`;
      libraryEvent(conn, text);
      say(`${name(conn)}: ${text}.`, true);
    },
    error: (error) => {
      libraryEvent(conn, `error ${error.code}: ${error.message}`);
      say(`${name(conn)}: ${error.code}: ${error.message}`, true);
    },
  };
}

function libraryEvent(conn, text) {
  record(conn, "lib", text);
}

function streamName(stream) {
  return stream.entityId === undefined ? "the user stream" : `entity ${stream.entityId}`;
}

function position(at) {
  return at ? `serial ${at.serial} of stream ${at.streamId ?? "(none yet)"}` : "the start";
}

function libraryState(conn, value) {
  conn.state = value;
  libraryEvent(conn, `state: ${value}`);
  updateCard(conn);
  if (value === "open") say(`${name(conn)} is open; the client library keeps it.`);
  if (value === "refused") say(`${name(conn)} was refused: the library stopped reconnecting.`, true);
  scheduleRefresh();
}

/** A push the library delivered: on the card's list and in the log, with stream and serial. */
function delivered(conn, push) {
  const stream = push.type === "User Push Notification" ? "user stream" : push.entityId;
  const serial = push.serial === undefined ? "no serial (streams off)" : `serial ${push.serial}`;
  libraryEvent(conn, `delivered ${push.type}: ${stream}, ${serial}, stream ${push.streamId ?? "(none)"}, eventId ${push.eventId}`);
  const list = conn.card.delivered;
  list.append(el("li", { "data-serial": push.serial ?? "" },
    el("strong", {}, stream), ` · ${serial} · `, el("code", {}, push.eventId)));
  while (list.children.length > MAX_DELIVERED) list.firstChild.remove();
  markSeen(conn, push.eventId);
  updateCard(conn);
}

async function librarySubscribe(conn, entityId) {
  libraryEvent(conn, `client.subscribe("${entityId}")`);
  try {
    await conn.lib.subscribe(entityId);
  } catch (error) {
    libraryEvent(conn, `subscribe to ${entityId} refused: ${error.code}: ${error.message}`);
    say(`${name(conn)}: subscribe to ${entityId} refused: ${error.code}: ${error.message}`, true);
    return;
  }
  conn.subscriptions.add(entityId);
  libraryEvent(conn, `subscribed to ${entityId}, at ${position(conn.lib.position(entityId))}`);
  updateCard(conn);
  scheduleRefresh();
}

async function libraryUnsubscribe(conn, entityId) {
  libraryEvent(conn, `client.unsubscribe("${entityId}")`);
  await conn.lib.unsubscribe(entityId);
  conn.subscriptions.delete(entityId);
  updateCard(conn);
  scheduleRefresh();
}

function dropConnection(conn) {
  if (conn.lib.drop() === 0) {
    say(`${name(conn)} has no open socket to drop.`, true);
    return;
  }
  const when = conn.lib.holding ? "once Hold reconnects is unchecked" : "after a short backoff";
  libraryEvent(conn, `dropped the socket: the library reconnects ${when} and resumes`);
}

function holdReconnects(conn, on) {
  conn.lib.hold(on);
  libraryEvent(conn, on ? "holding reconnects: new handshakes wait" : "reconnects released");
}

// ---- the frame log ------------------------------------------------------------------------------

function note(conn, text) {
  record(conn, "note", text);
}

function record(conn, dir, text) {
  const frame = dir === "in" || dir === "out";
  const entry = { time: new Date(), connId: String(conn.id), who: name(conn), dir, text, shown: frame ? pretty(text) : text };
  state.log.push(entry);
  if (state.log.length > MAX_LOG) state.log.shift();
  if (matches(entry)) {
    const log = $("log");
    log.append(logItem(entry));
    while (log.children.length > MAX_LOG) log.firstChild.remove();
    log.scrollTop = log.scrollHeight;
  }
  countLog();
}

const ARROWS = { in: "↓ in", out: "↑ out", note: "• socket", lib: "◆ library" };

function logItem(entry) {
  return el("li", { className: entry.dir, "data-connection": entry.connId },
    el("time", { datetime: entry.time.toISOString() }, clock(entry.time)),
    el("span", { className: "who" }, entry.who),
    el("span", { className: "dir" }, ARROWS[entry.dir]),
    el("pre", {}, entry.shown));
}

function matches(entry) {
  const text = $("filter-text").value.trim().toLowerCase();
  const conn = $("filter-conn").value;
  const dir = $("filter-dir").value;
  if (conn && entry.connId !== conn) return false;
  if (dir && entry.dir !== dir) return false;
  if (text && !`${entry.who} ${entry.text}`.toLowerCase().includes(text)) return false;
  return true;
}

function renderLog() {
  const items = state.log.filter(matches).map(logItem);
  $("log").replaceChildren(...items);
  countLog();
}

function countLog() {
  const shown = $("log").children.length;
  const total = state.log.length;
  $("log-count").textContent = shown === total ? `${total} frames` : `${shown} of ${total} frames shown`;
}

// ---- publishing ---------------------------------------------------------------------------------

function loadExample() {
  const example = state.settings.examples.find((e) => e.file === $("example").value);
  if (example) $("entries").value = pretty(example.entries);
}

/** The entries as PutEvents wants them; a Detail given as an object is turned into its string. */
function readEntries() {
  const entries = parseJson($("entries").value);
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new Error("Entries must be a JSON array of entries, as in examples/*.json.");
  }
  return entries.map((entry) => {
    if (entry && typeof entry.Detail === "object" && entry.Detail !== null) {
      return { ...entry, Detail: JSON.stringify(entry.Detail) };
    }
    return entry;
  });
}

async function publish() {
  let entries;
  try {
    entries = readEntries();
  } catch (error) {
    say(error.message, true);
    $("entries").focus();
    return;
  }
  const audience = state.connections.filter((c) => c.state === "open").map((c) => c.id);
  let response;
  try {
    response = await fetch("/", {
      method: "POST",
      headers: { "x-amz-target": "AWSEvents.PutEvents", "content-type": "application/x-amz-json-1.1" },
      body: JSON.stringify({ Entries: entries }),
    });
  } catch (error) {
    say(`Could not reach the gateway: ${error.message}`, true);
    return;
  }
  const body = await readJson(response);
  if (!response.ok || !body || !Array.isArray(body.Entries)) {
    say(`PutEvents refused the request: ${awsMessage(body, response)}`, true);
    return;
  }
  body.Entries.forEach((result, i) => {
    state.publications.unshift({
      at: new Date(),
      detailType: (entries[i] && entries[i].DetailType) || "(no DetailType)",
      eventId: result.EventId,
      error: result.ErrorCode ? `${result.ErrorCode}: ${result.ErrorMessage || ""}` : null,
      audience,
    });
  });
  renderPublications();
  say(`PutEvents: ${body.Entries.length - (body.FailedEntryCount || 0)} accepted, ${body.FailedEntryCount || 0} failed.`,
    (body.FailedEntryCount || 0) > 0);
  // A refused fan-out lands in the dead-letter queue after its retries.
  setTimeout(refreshDeadLetters, 1500);
}

function renderPublications() {
  const items = state.publications.slice(0, 50).map((pub) => {
    const li = el("li", {}, el("time", { datetime: pub.at.toISOString() }, clock(pub.at)), " ", el("strong", {}, pub.detailType), " ");
    if (pub.error) {
      li.append(el("span", { className: "failed" }, `refused: ${pub.error}`));
      return li;
    }
    const got = state.seenEvents.get(pub.eventId) || new Set();
    const byId = new Map(state.connections.map((c) => [c.id, c]));
    const label = (id) => (byId.has(id) ? name(byId.get(id)) : `#${id}`);
    const receivers = [...got].sort((a, b) => a - b).map(label);
    const missed = pub.audience.filter((id) => !got.has(id)).map(label);
    li.append(el("code", {}, pub.eventId), ": ",
      el("span", { className: "got" }, `received by ${receivers.length ? receivers.join(", ") : "none of your connections"}`));
    if (missed.length) li.append("; ", el("span", { className: "missed" }, `not by ${missed.join(", ")}`));
    return li;
  });
  $("publications").replaceChildren(...items);
  $("no-publications").hidden = items.length > 0;
}

// ---- the local gateway's listings ---------------------------------------------------------------

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refreshConnections, 150);
}

/** GETs one of the gateway's local listings: its response and JSON body, or the fetch's error. */
async function getListing(path) {
  try {
    const response = await fetch(path, { headers: { accept: "application/json" } });
    return { response, body: await readJson(response) };
  } catch (error) {
    return { error };
  }
}

async function refreshConnections() {
  const tbody = $("server-connections");
  const row = (...cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c)));
  const { response, body, error } = await getListing("/_gateway/connections");
  if (error) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: 4 }, `Could not list connections: ${error.message}`)));
    return;
  }
  if (!response.ok || !body || !Array.isArray(body.connections)) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: 4 }, `Could not list connections: ${awsMessage(body, response)}`)));
    return;
  }
  const connections = [...body.connections].sort((a, b) => (a.connectedAt || 0) - (b.connectedAt || 0));
  if (connections.length === 0) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: 4, className: "empty" }, "none")));
    return;
  }
  tbody.replaceChildren(...connections.map((c) => {
    const auth = c.authorizer || {};
    const subs = Array.isArray(c.subscriptions) && c.subscriptions.length ? c.subscriptions.join(", ") : "none";
    return row(el("code", {}, c.connectionId), auth.userId || auth.principalId || "?",
      c.connectedAt ? clock(new Date(c.connectedAt)) : "?", subs);
  }));
}

async function refreshDeadLetters() {
  const box = $("dead-letters");
  const { response, body, error } = await getListing("/_gateway/dead-letters");
  if (error) {
    box.replaceChildren(el("p", {}, `Could not read the dead-letter queue: ${error.message}`));
    return;
  }
  // A gateway without local queues answers 404: it has nothing dead-lettered to show.
  const messages = response.status === 404 ? [] : body && Array.isArray(body.messages) ? body.messages : null;
  if (messages === null || (!response.ok && response.status !== 404)) {
    box.replaceChildren(el("p", {}, `Could not read the dead-letter queue: ${awsMessage(body, response)}`));
    return;
  }
  $("redrive").disabled = messages.length === 0;
  if (messages.length === 0) {
    box.replaceChildren(el("p", { className: "empty" }, "none"));
    return;
  }
  const head = el("thead", {}, el("tr", {}, ...["Queue", "Message id", "Receives", "Error code", "Reason", "Event"].map((h) => el("th", { scope: "col" }, h))));
  // The event as JSON when the gateway could read it; the body exactly as it is otherwise.
  const shown = (m) => (m.event != null ? JSON.stringify(m.event, null, 2) : m.body ?? "");
  const rows = messages.map((m) => el("tr", { className: "dead-letter" },
    el("td", {}, m.queue ?? "?"), el("td", {}, el("code", {}, m.messageId ?? "?")),
    el("td", {}, m.receiveCount ?? "?"), el("td", { className: "error-code" }, m.errorCode ? el("code", {}, m.errorCode) : "—"),
    el("td", { className: "reason" }, m.lastError ?? ""),
    el("td", {}, el("pre", {}, shown(m)))));
  box.replaceChildren(el("table", { "aria-labelledby": "dlq-heading" }, head, el("tbody", {}, ...rows)));
}

async function redrive() {
  let response;
  try {
    response = await fetch("/_gateway/dead-letters/redrive", { method: "POST" });
  } catch (error) {
    say(`Could not redrive: ${error.message}`, true);
    return;
  }
  const body = await readJson(response);
  if (response.status === 404) {
    say("This gateway keeps no dead-letter queue: nothing to redrive.");
  } else if (!response.ok) {
    say(`Redrive refused: ${awsMessage(body, response)}`, true);
  } else {
    say(`Redriven: ${body && typeof body.redriven === "number" ? body.redriven : "?"} message(s).`);
  }
  refreshDeadLetters();
}

// ---- start-up -----------------------------------------------------------------------------------

async function loadSettings() {
  try {
    const response = await fetch("/_gateway/console/settings.json");
    const body = await readJson(response);
    if (response.ok && body) state.settings = { ...state.settings, ...body };
  } catch {
    say("Could not read the console settings; using defaults.", true);
  }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  $("ws-url").value = `${scheme}://${location.host}/${state.settings.stage}`;
  $("example").replaceChildren(...state.settings.examples.map((e) => el("option", { value: e.file }, e.file)));
  loadExample();
  updateMode();
}

function wire() {
  $("ws-url").addEventListener("input", updateMode);
  $("mint").addEventListener("click", mint);
  $("connect").addEventListener("click", connect);
  $("example").addEventListener("change", loadExample);
  $("publish").addEventListener("click", publish);
  for (const id of ["filter-text", "filter-conn", "filter-dir"]) $(id).addEventListener("input", renderLog);
  $("clear-log").addEventListener("click", () => {
    state.log = [];
    renderLog();
  });
  $("refresh-connections").addEventListener("click", refreshConnections);
  $("refresh-dead-letters").addEventListener("click", refreshDeadLetters);
  $("redrive").addEventListener("click", redrive);
}

document.addEventListener("DOMContentLoaded", async () => {
  wire();
  await loadSettings();
  await Promise.all([refreshConnections(), refreshDeadLetters()]);
  document.body.dataset.ready = "true";
});
