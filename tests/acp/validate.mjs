// validate.mjs — check every message agentctl acp sent (a dump written by
// tests/integration/acp_client.py: one {"answer_to"?: method, "message"}
// per line) against the official ACP TypeScript SDK's schemas.
// Prints "N checked" and exits 1 naming the first message that does not fit.
// Usage: node validate.mjs DUMP NODE_MODULES_DIR
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

// The schemas are not among the package's exports: load the file itself.
const z = await import(pathToFileURL(process.argv[3] +
  "/@agentclientprotocol/sdk/dist/v1/schema/zod.gen.js").href);

const byResult = {
  "initialize": z.zInitializeResponse,
  "session/new": z.zNewSessionResponse,
  "session/load": z.zLoadSessionResponse,
  "session/prompt": z.zPromptResponse,
};
const byNotification = {
  "session/update": z.zSessionNotification,
  "session/request_permission": z.zRequestPermissionRequest,
};
let checked = 0;
for (const line of readFileSync(process.argv[2], "utf8").split("\n")) {
  if (!line.trim()) continue;
  const { answer_to, message } = JSON.parse(line);
  if (message.jsonrpc !== "2.0") throw new Error("not JSON-RPC 2.0: " + line);
  let schema = null, value = null;
  if (message.method) {
    schema = byNotification[message.method];
    value = message.params;
  } else if (answer_to && "result" in message) {
    schema = byResult[answer_to];
    value = message.result;
  }
  if (!schema) continue;
  const r = schema.safeParse(value);
  if (!r.success) {
    console.error("does not fit the ACP schema (" + (message.method || answer_to) + "): " +
      JSON.stringify(message).slice(0, 600) + "\n" + JSON.stringify(r.error.issues).slice(0, 1200));
    process.exit(1);
  }
  checked++;
}
console.log(checked + " checked");
