// Cuts the clients' connections from the server side, as a backend would: every 1–2 s it finds
// the newest open connection of one client in the gateway's listing and deletes it with the
// real aws CLI (`aws apigatewaymanagementapi delete-connection`, SigV4-signed). The clients'
// tokens carry their name in `data.firstName`, which the listing shows in the authorizer
// context, so the cutter can tell them from each other and from the probe.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { required } from "./env.mjs";

const run = promisify(execFile);

export const AWS_ENV = {
  PATH: process.env.PATH,
  AWS_ACCESS_KEY_ID: "local",
  AWS_SECRET_ACCESS_KEY: "local",
  AWS_DEFAULT_REGION: "us-east-1",
  AWS_PAGER: "",
  AWS_EC2_METADATA_DISABLED: "true",
};

/** The gateway's open connections (`GET /_gateway/connections`). */
export async function connections(gateway) {
  const response = await fetch(`${gateway.http}/_gateway/connections`);
  if (!response.ok) throw new Error(`/_gateway/connections answered ${response.status}`);
  return (await response.json()).connections;
}

/** The id of `name`'s newest open connection, or undefined when it has none. */
export async function newestConnection(gateway, userId, name) {
  const mine = (await connections(gateway)).filter(
    (c) => c.authorizer?.principalId === userId && c.authorizer?.firstName === name,
  );
  mine.sort((a, b) => b.connectedAt - a.connectedAt);
  return mine[0]?.connectionId;
}

/** `DELETE @connections/{id}` with the aws CLI; true when the CLI reports success. */
export async function deleteConnection(gateway, connectionId) {
  const aws = required("WSPUSH_AWS_BIN", "the aws CLI v1 (scripts/lib.sh installs it in .tools/venv)");
  const args = ["apigatewaymanagementapi", "delete-connection", "--endpoint-url", `${gateway.http}/production`, "--connection-id", connectionId];
  try {
    await run(aws, args, { env: AWS_ENV, timeout: 30_000 });
    return true;
  } catch (error) {
    // The connection ended between the listing and the call (the client rolled over).
    if (/GoneException/.test(error.stderr ?? "")) return false;
    throw new Error(`aws ${args.join(" ")} failed: ${error.stderr ?? error.message}`);
  }
}

export class Cutter {
  #stopped = false;
  #paused = false;
  #loop;
  #inFlight = new Set();
  #failure;
  /** Connections deleted, per client name. */
  cuts = {};
  /** Cuts begun, and why the others deleted nothing: no open connection, or it ended first. */
  tries = { begun: 0, none: 0, gone: 0 };

  /** @param {string[]} targets client names, cut in this rotation */
  constructor(gateway, userId, targets) {
    this.gateway = gateway;
    this.userId = userId;
    this.targets = targets;
    for (const name of targets) this.cuts[name] = 0;
  }

  start() {
    this.#loop = this.#run();
  }

  /** No new cuts until `resume` (the gateway is being restarted); waits for those under way. */
  async pause() {
    this.#paused = true;
    await this.#settled();
  }

  resume() {
    this.#paused = false;
  }

  /** Stops cutting; rejects with the first cut that failed. */
  async stop() {
    this.#stopped = true;
    await this.#loop;
    await this.#settled();
    if (this.#failure !== undefined) throw this.#failure;
  }

  /**
   * A cut starts every 1–2 s, whether or not the one before has finished: the aws CLI alone
   * takes about a second, more on a loaded machine.
   */
  async #run() {
    for (let turn = 0; !this.#stopped; turn += 1) {
      const due = Date.now() + 1000 + Math.random() * 1000;
      if (!this.#paused) this.#track(this.#cut(this.targets[turn % this.targets.length]));
      while (!this.#stopped && Date.now() < due) await sleep(Math.min(100, due - Date.now()));
    }
  }

  #track(cut) {
    const tracked = cut.catch((error) => (this.#failure ??= error)).finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
  }

  async #settled() {
    await Promise.all([...this.#inFlight]);
  }

  async #cut(name) {
    this.tries.begun += 1;
    const id = await newestConnection(this.gateway, this.userId, name);
    if (id === undefined) this.tries.none += 1;
    else if (await deleteConnection(this.gateway, id)) this.cuts[name] += 1;
    else this.tries.gone += 1;
  }
}
