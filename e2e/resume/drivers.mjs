// Where the application (app.mjs) runs: in this Node process with `ws`, or in a page of a
// headless Chromium (Debian's, driven by playwright-core) that loads the built library as an
// ES module from the static server. Both drivers give the scenarios the same handle:
// `{ ready(), snapshot(full), hold(on), close() }`, every method async.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import WebSocket from "ws";
import { PushClient } from "../../clients/js/dist/index.js";
import { startApp } from "./app.mjs";
import { startStaticServer } from "./servers.mjs";

export const nodeDriver = {
  name: "node",
  async start(config) {
    const app = startApp({ PushClient, WebSocket }, config);
    return {
      ready: () => app.ready(),
      snapshot: async (full) => app.snapshot(full),
      hold: async (on) => app.hold(on),
      close: async () => app.close(),
    };
  },
  async close() {},
};

/** Headless, no sandbox (root in CI), nothing reaching the network. */
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** A Chromium and the static server its pages load from; `close()` stops both. */
export async function browserDriver() {
  const site = await startStaticServer();
  const profile = mkdtempSync(join(tmpdir(), "wspush-resume-chromium-"));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      headless: true,
      args: FLAGS,
    });
  } catch (error) {
    await site.close();
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
  return {
    name: "chromium",
    start: (config) => startInPage(context, site.url, config),
    async close() {
      await context.close();
      await site.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens a page, starts the application in it, and answers the handle that drives it. */
async function startInPage(context, siteUrl, config) {
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.goto(`${siteUrl}/app/page.html`);
  await page.evaluate(async (config) => {
    const { PushClient } = await import("/library/index.js");
    const { startApp } = await import("/app/app.mjs");
    window.app = startApp({ PushClient, WebSocket }, config);
  }, config);
  const checked = async (value) => {
    if (pageErrors.length > 0) throw new Error(`the page threw: ${pageErrors.join("; ")}`);
    return value;
  };
  return {
    ready: async () => checked(await page.evaluate(() => window.app.ready())),
    snapshot: async (full) => checked(await page.evaluate((full) => window.app.snapshot(full), full)),
    hold: async (on) => page.evaluate((on) => window.app.hold(on), on),
    async close() {
      await page.evaluate(() => window.app?.close()).catch(() => undefined);
      await page.close();
    },
  };
}
