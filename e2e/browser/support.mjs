// Shared by the browser tests: the gateway under test, the real aws CLI, and a fresh headless
// Chromium (Debian's package, driven by playwright-core; Playwright's own browser downloads are
// not used).
//
// scripts/browser.sh starts the gateway and passes:
//   WSPUSH_GATEWAY_URL   http://127.0.0.1:PORT of the running gateway (required)
//   WSPUSH_REMOTE_GATEWAY_URL  a second gateway, playing a deployed stack (console tests)
//   WSPUSH_AWS_BIN       the aws CLI v1 from .tools/venv (required by the aws CLI tests)
//   WSPUSH_SCREENSHOTS   where screenshots go (default .tools/browser-screenshots)
//   CHROMIUM             the browser binary (default /usr/bin/chromium)
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chromium } from "playwright-core";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run scripts/browser.sh, which installs Chromium, starts the gateway and sets it`);
  }
  return value;
}

function gatewayAt(variable) {
  return {
    get http() {
      return required(variable).replace(/\/$/, "");
    },
    get ws() {
      return `${this.http.replace(/^http/, "ws")}/production`;
    },
  };
}

/** The gateway the tests drive, which also serves the console. */
export const gateway = gatewayAt("WSPUSH_GATEWAY_URL");
/**
 * A second gateway with a secret of its own, standing in for a deployed stack: the console
 * reaches it only by the WebSocket URL and a token pasted in, as it would reach AWS.
 */
export const remote = gatewayAt("WSPUSH_REMOTE_GATEWAY_URL");

export const SCREENSHOTS = process.env.WSPUSH_SCREENSHOTS || join(ROOT, ".tools", "browser-screenshots");

/** The flags every run uses: headless, no sandbox (root in CI), nothing reaching the network. */
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A fresh Chromium with a profile of its own; `close()` stops it and deletes the profile. */
export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), "wspush-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 1000 },
  });
  const page = context.pages()[0] || (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves `name`.png: the whole page, or with `{ fullPage: false }` what the window shows. */
export async function screenshot(page, name, { fullPage = true } = {}) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}

/** A test token through the gateway's Lambda Invoke, the path `aws lambda invoke` takes. */
export async function mintToken(claims = {}, at = gateway) {
  const response = await fetch(`${at.http}/2015-03-31/functions/CreateTestJwt/invocations`, {
    method: "POST",
    body: JSON.stringify(claims),
  });
  const body = await response.json();
  if (!response.ok || typeof body.token !== "string") {
    throw new Error(`CreateTestJwt answered ${response.status}: ${JSON.stringify(body)}`);
  }
  return body.token;
}

const run = promisify(execFile);

/** `aws events put-events --entries file://FILE` against a gateway, from the repository root. */
export async function awsPutEvents(entriesFile, at = gateway) {
  const aws = required("WSPUSH_AWS_BIN");
  const { stdout } = await run(
    aws,
    ["events", "put-events", "--endpoint-url", at.http, "--entries", `file://${entriesFile}`, "--output", "json"],
    {
      cwd: ROOT,
      timeout: 60_000,
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: "local",
        AWS_SECRET_ACCESS_KEY: "local",
        AWS_DEFAULT_REGION: "us-east-1",
        AWS_PAGER: "",
      },
    },
  );
  return JSON.parse(stdout);
}

/** The gateway's own listing of open connections (`GET /_gateway/connections`). */
export async function gatewayConnections() {
  const response = await fetch(`${gateway.http}/_gateway/connections`);
  if (!response.ok) throw new Error(`/_gateway/connections answered ${response.status}`);
  return (await response.json()).connections;
}
