// The wspush console: mint a test token, hold several sockets side by side, log every frame,
// publish the example events, and read the local gateway's listings.
//
// Plain browser JavaScript with no dependencies, served by the gateway itself. It uses only the
// public paths a CLI would use (Lambda Invoke, EventBridge PutEvents, the WebSocket endpoint)
// plus the local-only listings under /_gateway/. Every text that came from outside is shown
// with textContent, never parsed as HTML.
"use strict";

(() => {
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

  // ---- small helpers ----------------------------------------------------------------------

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

  // ---- mode: local gateway or a deployed endpoint -------------------------------------------

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

  // ---- tokens -------------------------------------------------------------------------------

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

  // ---- connections --------------------------------------------------------------------------

  function connect() {
    const url = $("ws-url").value.trim();
    const token = $("token").value.trim();
    const place = document.querySelector('input[name="token-place"]:checked').value;
    let target;
    try {
      target = new URL(url);
    } catch {
      say("The WebSocket URL is not a URL; it looks like ws://127.0.0.1:3001/production.", true);
      $("ws-url").focus();
      return;
    }
    if (target.protocol !== "ws:" && target.protocol !== "wss:") {
      say("The WebSocket URL must start with ws:// or wss://.", true);
      $("ws-url").focus();
      return;
    }
    if (!token) {
      say("Mint or paste a token first: the endpoint answers 401 without one.", true);
      $("token").focus();
      return;
    }
    let ws;
    try {
      if (place === "query") {
        target.searchParams.set("access_token", token);
        ws = new WebSocket(target.toString());
      } else {
        ws = new WebSocket(target.toString(), ["websocket", token]);
      }
    } catch (error) {
      say(`The browser refused to open the socket: ${error.message}`, true);
      return;
    }
    const id = state.nextId++;
    const user = tokenUser(token);
    const conn = {
      id,
      user,
      label: $("conn-label").value.trim() || user || `connection ${id}`,
      place,
      ws,
      state: "connecting",
      subscriptions: new Set(),
      pushes: 0,
      card: null,
    };
    state.connections.push(conn);
    conn.card = buildCard(conn);
    $("connections").append(conn.card.root);
    $("no-connections").hidden = true;
    $("filter-conn").append(el("option", { value: String(id) }, name(conn)));
    $("conn-label").value = "";

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
    ws.addEventListener("close", (event) => {
      const wasOpen = conn.state === "open";
      conn.state = "closed";
      conn.closeCode = event.code;
      note(conn, `closed, code ${event.code}${event.reason ? `, reason "${event.reason}"` : ""}`);
      updateCard(conn);
      say(wasOpen ? `${name(conn)} closed (${event.code}).` : `${name(conn)} could not connect (code ${event.code}).`, !wasOpen);
      scheduleRefresh();
      // The gateway may still be running `$disconnect` when the close arrives: look again.
      setTimeout(refreshConnections, 1000);
    });
    updateCard(conn);
  }

  function name(conn) {
    return `#${conn.id} ${conn.label}`;
  }

  function buildCard(conn) {
    const p = `conn-${conn.id}`;
    const title = el("span", { id: `${p}-name` }, name(conn));
    const stateBadge = el("span", { className: "state" });
    const proto = el("span");
    const pushes = el("span", { className: "pushes" });
    const subs = el("span", { className: "subs" });
    const entity = el("input", { id: `${p}-entity`, value: "myEntityId", autocomplete: "off", spellcheck: "false" });
    const frame = el("textarea", { id: `${p}-frame`, rows: 2, spellcheck: "false", "aria-describedby": `${p}-frame-help` });
    frame.value = '{"action":"ping"}';
    const button = (label, action) => {
      const b = el("button", { type: "button" }, label);
      b.addEventListener("click", action);
      return b;
    };
    const subscribe = () => send(conn, JSON.stringify({ action: "subscribe", entityId: entity.value }));
    const unsubscribe = () => send(conn, JSON.stringify({ action: "unsubscribe", entityId: entity.value }));
    entity.addEventListener("keydown", (event) => {
      if (event.key === "Enter") subscribe();
    });
    frame.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) send(conn, frame.value);
    });
    const sendButtons = [
      button("Subscribe", subscribe),
      button("Unsubscribe", unsubscribe),
      button("Ping", () => send(conn, JSON.stringify({ action: "ping" }))),
      button("Send frame", () => send(conn, frame.value)),
    ];
    const closeButton = button("Close", () => conn.ws.close(1000, "closed from the console"));
    const removeButton = button("Remove", () => remove(conn));
    const root = el(
      "article",
      { className: "card", "aria-labelledby": `${p}-name`, "data-connection": conn.id },
      el("h3", {}, title, stateBadge),
      el("p", { className: "facts" }, proto, " · ", pushes, " · ", subs),
      el("div", { className: "row" },
        el("div", { className: "field" }, el("label", { for: `${p}-entity` }, "Entity id"), entity),
        sendButtons[0], sendButtons[1], sendButtons[2]),
      el("div", { className: "field" },
        el("label", { for: `${p}-frame` }, "Frame to send"), frame,
        el("p", { id: `${p}-frame-help`, className: "help" }, "Any text; Ctrl+Enter sends it.")),
      el("div", { className: "row" }, sendButtons[3], closeButton, removeButton),
    );
    return { root, stateBadge, proto, pushes, subs, sendButtons, closeButton };
  }

  function updateCard(conn) {
    const c = conn.card;
    const text = { connecting: "connecting…", open: "open", closed: `closed (${conn.closeCode ?? "?"})` }[conn.state];
    c.stateBadge.textContent = text;
    c.stateBadge.className = `state ${conn.state}`;
    c.proto.textContent = conn.place === "query"
      ? "token in query string"
      : `token as subprotocol, selected: ${conn.ws.protocol || "(none yet)"}`;
    c.pushes.textContent = `pushes received: ${conn.pushes}`;
    c.subs.textContent = `subscribed: ${conn.subscriptions.size ? [...conn.subscriptions].sort().join(", ") : "nothing"}`;
    for (const b of c.sendButtons) b.disabled = conn.state !== "open";
    c.closeButton.disabled = conn.state === "closed";
  }

  function remove(conn) {
    if (conn.state !== "closed") conn.ws.close(1000, "removed from the console");
    conn.card.root.remove();
    state.connections = state.connections.filter((c) => c !== conn);
    const option = $("filter-conn").querySelector(`option[value="${conn.id}"]`);
    if (option) option.remove();
    renderLog();
    $("no-connections").hidden = state.connections.length > 0;
    renderPublications();
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
    if (typeof frame.eventId === "string") {
      conn.pushes += 1;
      if (!state.seenEvents.has(frame.eventId)) state.seenEvents.set(frame.eventId, new Set());
      state.seenEvents.get(frame.eventId).add(conn.id);
      renderPublications();
    }
    updateCard(conn);
  }

  // ---- the frame log ------------------------------------------------------------------------

  function note(conn, text) {
    record(conn, "note", text);
  }

  function record(conn, dir, text) {
    const entry = { time: new Date(), connId: String(conn.id), who: name(conn), dir, text, shown: dir === "note" ? text : pretty(text) };
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

  const ARROWS = { in: "↓ in", out: "↑ out", note: "• socket" };

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

  // ---- publishing ---------------------------------------------------------------------------

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

  // ---- the local gateway's listings ---------------------------------------------------------

  function scheduleRefresh() {
    clearTimeout(state.refreshTimer);
    state.refreshTimer = setTimeout(refreshConnections, 150);
  }

  async function refreshConnections() {
    const tbody = $("server-connections");
    const row = (...cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c)));
    let response;
    let body;
    try {
      response = await fetch("/_gateway/connections", { headers: { accept: "application/json" } });
      body = await readJson(response);
    } catch (error) {
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
    let response;
    let body;
    try {
      response = await fetch("/_gateway/dead-letters", { headers: { accept: "application/json" } });
      body = await readJson(response);
    } catch (error) {
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

  // ---- start-up -----------------------------------------------------------------------------

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
})();
