// Parses an AsyncAPI document with the real parser (@asyncapi/parser, which validates against
// the AsyncAPI JSON Schema and runs its Spectral rules) and fails on any error.
//
// usage: node validate.mjs docs/asyncapi.yaml [--dump messages.json]
//
// --dump writes every message of every operation with its direction, as seen by the service:
// `receive` for frames clients send, `send` for frames the service sends (replies count in the
// opposite direction of their operation). The e2e suite checks real frames against these.

import { writeFileSync } from 'node:fs';
import { Parser, fromFile } from '@asyncapi/parser';

const [file, flag, out] = process.argv.slice(2);
if (!file || (flag && flag !== '--dump') || (flag && !out)) {
  console.error('usage: node validate.mjs <asyncapi.yaml> [--dump <messages.json>]');
  process.exit(2);
}

const severities = ['error', 'warning', 'info', 'hint'];
const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, file).parse();

let errors = 0;
for (const d of diagnostics) {
  if (d.severity > 1) continue;
  if (d.severity === 0) errors += 1;
  const where = d.path && d.path.length ? d.path.join('.') : '(document)';
  console.log(`${severities[d.severity]} ${d.code}: ${d.message} at ${where}`);
}
if (!document || errors > 0) {
  console.error(`${file}: ${errors} error(s); the document is not valid AsyncAPI`);
  process.exit(1);
}

const messages = [];
for (const operation of document.operations().all()) {
  const action = operation.action();
  const channel = operation.channels().all().map((c) => c.id())[0] ?? null;
  const add = (message, direction) =>
    messages.push({
      name: message.id(),
      operation: operation.id(),
      action: direction,
      channel,
      payload: message.hasPayload() ? message.payload().json() : {},
    });
  for (const message of operation.messages().all()) add(message, action);
  const reply = operation.reply();
  if (reply) {
    for (const message of reply.messages().all()) {
      add(message, action === 'receive' ? 'send' : 'receive');
    }
  }
}

if (out) writeFileSync(out, JSON.stringify(messages, null, 2));
console.log(
  `${file}: valid AsyncAPI ${document.version()}, ${document.channels().all().length} channels, ` +
    `${document.operations().all().length} operations, ${messages.length} message uses`,
);
