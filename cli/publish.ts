import { parseArgs } from "node:util";
import { HeraldError, isHeraldError, type HeraldErrorCode, ERROR_CODES } from "../core/errors.js";
import { validateNotification, type NotificationInput } from "../core/notification.js";
import { usageError, type Command } from "./command.js";
import { CLI_BUS_OPTIONS, busConnectionString, unreachable } from "./servicebus.js";
import { cliSetting } from "./settings.js";

/** The gateway's own limit on a request body; data from stdin is refused past it. */
const MAX_INPUT_BYTES = 1024 * 1024;

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) usageError("no data: pass it as an argument, or pipe it on stdin", "data");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_INPUT_BYTES) {
      throw new HeraldError("HERALD_PAYLOAD_TOO_LARGE", `data on stdin is over ${MAX_INPUT_BYTES} bytes`, {
        target: "data",
      });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseData(text: string): unknown {
  if (text.trim() === "") usageError("no data: pass it as an argument, or pipe it on stdin", "data");
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new HeraldError(
      "HERALD_MALFORMED_JSON",
      `data is not JSON (${(err as Error).message}); a string needs JSON quotes, e.g. '"hello"'`,
      { target: "data" },
    );
  }
}

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1)
    usageError(`${flag} must be a whole number of seconds, got "${value}"`, flag);
  return Number(value);
}

/** Sends through `POST /api/notifications`; errors keep the gateway's code. */
async function publishOverHttp(
  gateway: string,
  credential: string,
  notification: NotificationInput,
): Promise<string[]> {
  let url: URL;
  try {
    url = new URL("/api/notifications", gateway);
  } catch {
    usageError(`--gateway must be a URL like http://localhost:3000, got "${gateway}"`, "--gateway");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    usageError(`--gateway must be an http(s) URL, got "${gateway}"`, "--gateway");
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${credential}`, "content-type": "application/json" },
      body: JSON.stringify(notification),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new HeraldError("HERALD_UNREACHABLE", `the gateway at ${url.origin} did not answer (${cause})`, {
      cause: err,
    });
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (
    res.status === 202 &&
    body &&
    typeof body === "object" &&
    Array.isArray((body as { ids?: unknown }).ids)
  ) {
    return (body as { ids: string[] }).ids;
  }
  const error = body && typeof body === "object" ? (body as { code?: unknown; message?: unknown }) : {};
  const code =
    typeof error.code === "string" && error.code in ERROR_CODES
      ? (error.code as HeraldErrorCode)
      : "HERALD_INTERNAL";
  const message = typeof error.message === "string" ? error.message : `HTTP ${res.status} from ${url.origin}`;
  throw new HeraldError(code, `the gateway answered ${res.status}: ${message}`);
}

export const publishCommand: Command = {
  path: ["publish"],
  summary: "Publish a notification to users, groups or everyone",
  usage: `Usage: herald publish --type TYPE (--user U ... | --group G ... | --broadcast) [DATA]
                      [--id ID] [--ttl SECONDS] [--deliver-at ISO-TIME]
                      [--gateway URL [--key KEY | --token JWT]] [--servicebus CONNECTION] [--topic NAME]

Publishes one notification and prints its id. DATA is JSON (a string needs JSON quotes: '"hi"');
without DATA, or with "-", it is read from stdin.

Targets (at least one; --user and --group may be repeated):
  --user U            a user's stream
  --group G           a group's stream
  --broadcast         everyone

Notification:
  --type TYPE         e.g. order.shipped (letters, digits and . _ : -)
  --id ID             idempotency key (default: a new UUID); publishing the same id twice delivers once
  --ttl SECONDS       time to live: not delivered after that
  --deliver-at TIME   scheduled delivery, ISO-8601 with a zone, e.g. 2030-01-01T09:00:00Z

Where it goes (default: straight to Service Bus with the local stack's connection string):
  --servicebus CONN   Service Bus connection string (default: HERALD_SERVICEBUS, then local.settings.json)
  --topic NAME        topic (default: HERALD_TOPIC, then local.settings.json, then notifications)
  --gateway URL       publish through the gateway's HTTP API instead (POST /api/notifications)
  --key KEY           publish key for --gateway (default: the first of HERALD_PUBLISH_KEYS)
  --token JWT         a JWT with the publish role for --gateway (see \`herald token --publisher\`)

Examples:
  herald publish --broadcast --type hello '{"text":"hi"}'
  echo '{"order":7}' | herald publish --user alice --type order.shipped
  herald publish --group ops --type alert --gateway http://localhost:3000 '"disk full"'`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        user: { type: "string", multiple: true },
        group: { type: "string", multiple: true },
        broadcast: { type: "boolean" },
        type: { type: "string" },
        id: { type: "string" },
        ttl: { type: "string" },
        "deliver-at": { type: "string" },
        gateway: { type: "string" },
        key: { type: "string" },
        token: { type: "string" },
        servicebus: { type: "string" },
        topic: { type: "string" },
      },
    });
    if (positionals.length > 1)
      usageError(`expected one DATA argument, got ${positionals.length}; quote the JSON`, "data");
    if (values.type === undefined) usageError("--type is required, e.g. --type order.shipped", "--type");
    if (!values.user && !values.group && !values.broadcast)
      usageError("name a target: --user, --group or --broadcast", "--user");
    if (values.gateway === undefined && (values.key !== undefined || values.token !== undefined))
      usageError("--key and --token go with --gateway", "--gateway");
    if (values.key !== undefined && values.token !== undefined)
      usageError("pass --key or --token, not both", "--key");
    if (values.gateway !== undefined && (values.servicebus !== undefined || values.topic !== undefined))
      usageError("--gateway publishes over HTTP; --servicebus and --topic go without it", "--gateway");
    const ttlSeconds = positiveInt(values.ttl, "--ttl");
    const arg = positionals[0];
    const data = parseData(arg === undefined || arg === "-" ? await readStdin() : arg);

    const input: NotificationInput = {
      type: values.type,
      to: {
        ...(values.user ? { users: values.user } : {}),
        ...(values.group ? { groups: values.group } : {}),
        ...(values.broadcast ? { broadcast: true as const } : {}),
      },
      data,
      ...(values.id !== undefined ? { id: values.id } : {}),
      ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
      ...(values["deliver-at"] !== undefined ? { deliverAt: values["deliver-at"] } : {}),
    };
    // Validate here so bad input fails before any connection, with the field named.
    const notification = validateNotification(input);

    let ids: string[];
    if (values.gateway !== undefined) {
      const credential =
        values.token ?? values.key ?? cliSetting("HERALD_PUBLISH_KEYS")?.split(",")[0]?.trim();
      if (!credential)
        usageError("no credential for --gateway: pass --key or --token, or set HERALD_PUBLISH_KEYS", "--key");
      ids = await publishOverHttp(values.gateway, credential, notification);
    } else {
      const connectionString = busConnectionString(values.servicebus);
      const { Publisher, DEFAULT_TOPIC } = await import("../publisher/publisher.js");
      const topic = values.topic ?? cliSetting("HERALD_TOPIC") ?? DEFAULT_TOPIC;
      const publisher = Publisher.fromConnectionString(connectionString, {
        topic,
        clientOptions: CLI_BUS_OPTIONS,
      });
      try {
        ids = (await publisher.publish(notification)).ids;
      } catch (err) {
        if (isHeraldError(err) && err.code !== "HERALD_BUS_UNAVAILABLE") throw err;
        throw unreachable(connectionString, isHeraldError(err) ? err.cause : err, `topic ${topic}`);
      } finally {
        await publisher.close().catch(() => undefined);
      }
    }
    process.stdout.write(ids.join("\n") + "\n");
    return 0;
  },
};
