// The two small servers the tests run on 127.0.0.1 besides the gateway:
// - a static HTTP server the page loads the built library (`/library/…`, clients/js/dist) and
//   the application (`/app/…`, this directory's app.mjs and page.html) from, as ES modules;
// - a refuser, a TCP server that drops every connection at once: while a client is held down,
//   its WebSocket is pointed here, and every handshake fails as against an unreachable server.
import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { readFile } from "node:fs/promises";
import { extname, join, normalize, sep } from "node:path";
import { HERE, LIBRARY_DIST } from "./env.mjs";

const ROOTS = { "/library/": LIBRARY_DIST, "/app/": HERE };
/** What the application directory may serve: the page and the modules it imports. */
const APP_FILES = new Set(["page.html", "app.mjs"]);
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".map": "application/json" };

/** The file a request path names, or undefined when it is outside what is served. */
function fileFor(path) {
  for (const [prefix, root] of Object.entries(ROOTS)) {
    if (!path.startsWith(prefix)) continue;
    const relative = normalize(decodeURIComponent(path.slice(prefix.length)));
    if (relative.startsWith("..") || relative.startsWith(sep) || TYPES[extname(relative)] === undefined) return undefined;
    if (root === HERE && !APP_FILES.has(relative)) return undefined;
    return join(root, relative);
  }
  return undefined;
}

async function serveStatic(request, response) {
  const file = fileFor(new URL(request.url, "http://127.0.0.1").pathname);
  const body = file === undefined ? undefined : await readFile(file).catch(() => undefined);
  if (body === undefined) {
    response.writeHead(404).end();
    return;
  }
  response.writeHead(200, { "Content-Type": TYPES[extname(file)], "Cache-Control": "no-store" }).end(body);
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server.address().port));
  });
}

/** Starts the static server; `{ url, close() }`. */
export async function startStaticServer() {
  const server = createHttpServer((request, response) => {
    serveStatic(request, response).catch(() => response.writeHead(500).end());
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, close: () => closeServer(server) };
}

/** Starts the refuser; `{ url, close() }` with `url` a ws:// URL whose handshakes always fail. */
export async function startRefuser() {
  const server = createTcpServer((socket) => {
    socket.on("error", () => undefined);
    socket.destroy();
  });
  const port = await listen(server);
  return { url: `ws://127.0.0.1:${port}/production`, close: () => closeServer(server) };
}

function closeServer(server) {
  server.closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}
