// What the resume tests take from their environment, in one place. scripts/resume.sh sets it:
//   WSPUSH_GATEWAY_BIN    the gateway binary (required)
//   WSPUSH_AWS_BIN        the aws CLI v1 from .tools/venv (required: it cuts connections)
//   DYNAMODB_ENDPOINT     DynamoDB Local (required for the dynamodb store)
//   WSPUSH_RESUME_STORES  the stores to run on (default "embedded dynamodb")
//   WSPUSH_RESUME_SUMMARY a file each run appends its summary line to
//   CHROMIUM              the browser binary (default /usr/bin/chromium)
import { appendFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, "..", "..");
/** The client library as `npm run build` leaves it in clients/js/dist. */
export const LIBRARY_DIST = join(ROOT, "clients", "js", "dist");
/** Gateway logs of every run, kept for a failure's post-mortem. */
export const LOGS = join(ROOT, ".tools", "resume-logs");

export function required(name, what) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: ${what}. Run scripts/resume.sh, which sets it.`);
  return value;
}

export const STORES = (process.env.WSPUSH_RESUME_STORES ?? "embedded dynamodb").split(/\s+/).filter(Boolean);

/** Prints a run's summary line and keeps it for the script's closing summary. */
export function summary(line) {
  console.log(line);
  const file = process.env.WSPUSH_RESUME_SUMMARY;
  if (file) appendFileSync(file, `${line}\n`);
}
