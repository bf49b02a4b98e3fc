// The local gateway as a child process: started on a free port with a store of its own, and
// restarted on the same port with the same flags, which is how the resume tests take the
// server away from under a client. Every process started here is recorded, and `stopAll`
// (called by each test's `finally` and on exit) kills whatever is still running.
import { spawn } from "node:child_process";
import { openSync, closeSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { LOGS, required } from "./env.mjs";

const running = new Set();

/** Kills every gateway still running (the last resort behind each test's own `stop`). */
export function stopAll() {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
}
process.on("exit", stopAll);
// A test process stopped from outside (the runner's own timeout, Ctrl-C) leaves no gateway behind.
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    stopAll();
    process.exit(128 + (signal === "SIGINT" ? 2 : 15));
  });
}

/**
 * The flags that put a gateway on `store`: none for the embedded store (in memory, gone with
 * the process), DynamoDB Local at DYNAMODB_ENDPOINT with a fresh table otherwise.
 */
export function storeFlags(store) {
  if (store === "embedded") return [];
  if (store !== "dynamodb") throw new Error(`a store is "embedded" or "dynamodb", not ${JSON.stringify(store)}`);
  const endpoint = required("DYNAMODB_ENDPOINT", "DynamoDB Local's endpoint (scripts/test.sh starts it and sets it)");
  return ["--dynamodb-endpoint", endpoint, "--table", `resume-${randomUUID().slice(0, 12)}`];
}

export class Gateway {
  #child;
  #name;
  #starts = 0;

  /** @param {string} name names its log files; @param {string[]} flags everything but `--port` */
  constructor(name, flags) {
    this.#name = name;
    this.flags = flags;
    this.port = 0;
  }

  get http() {
    return `http://127.0.0.1:${this.port}`;
  }

  get ws() {
    return `ws://127.0.0.1:${this.port}/production`;
  }

  /** Starts it (on a free port the first time, on the same port after that). */
  async start() {
    mkdirSync(LOGS, { recursive: true });
    this.#starts += 1;
    const base = join(LOGS, `${this.#name}-${this.#starts}`);
    const out = openSync(`${base}.out`, "w");
    const err = openSync(`${base}.log`, "w");
    const binary = required("WSPUSH_GATEWAY_BIN", "the gateway binary (scripts/resume.sh builds it)");
    const child = spawn(binary, ["--port", String(this.port), ...this.flags], {
      stdio: ["ignore", out, err],
      env: { PATH: process.env.PATH, RUST_LOG: process.env.RUST_LOG ?? "info" },
    });
    closeSync(out);
    closeSync(err);
    running.add(child);
    child.once("exit", () => running.delete(child));
    this.#child = child;
    this.port = await listeningPort(child, `${base}.out`, `${base}.log`);
  }

  /** Kills it outright, as a crash would, and waits until it is gone. */
  async kill() {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }

  /**
   * Kills it, leaves the port closed for `downMs` (clients' reconnects fail meanwhile), and
   * starts it again on the same port with the same flags (and table).
   */
  async restart(downMs) {
    await this.kill();
    await sleep(downMs);
    await this.start();
  }

  stop() {
    return this.kill();
  }
}

/** Waits for the "listening on 127.0.0.1:PORT" line; fails with the log if the gateway exits. */
async function listeningPort(child, outPath, logPath) {
  for (let i = 0; i < 300; i += 1) {
    const line = /^listening on 127\.0\.0\.1:(\d+)$/m.exec(readFileSync(outPath, "utf8"));
    if (line) return Number(line[1]);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the gateway exited during start-up (${child.exitCode ?? child.signalCode}):\n${readFileSync(logPath, "utf8").slice(-3000)}`);
    }
    await sleep(100);
  }
  child.kill("SIGKILL");
  throw new Error(`the gateway printed no address within 30 s (log: ${logPath})`);
}
