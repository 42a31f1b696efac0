import { parseArgs } from "node:util";
import type { EmulatorLogger } from "../emulator/webpubsub/index.js";
import { parsePort, serveUntilSignal, usageError, type Command } from "./command.js";

export const emulatorWebPubSub: Command = {
  path: ["emulator", "webpubsub"],
  summary: "Run the Web PubSub emulator (REST data plane + client WebSocket endpoint)",
  usage: `Usage: herald emulator webpubsub [--port 8080] [--key KEY] [--host HOST] [--event-handler URL] [--verbose]

Runs an Azure Web PubSub emulator that the official @azure/web-pubsub (server) and
@azure/web-pubsub-client SDKs talk to unchanged. Every hub name is served.

Options:
  --port N              HTTP port for REST and WebSocket clients (default 8080; 0 picks a free port)
  --key KEY             access key, at least 32 bytes (default: the documented development key)
  --host HOST           loopback host to listen on (default localhost: 127.0.0.1 and ::1)
  --event-handler URL   forward connected/disconnected and user events as CloudEvents to URL
                        ({hub} and {event} are replaced)
  --verbose             log connections and disconnections (ids only) to stderr

Connection string (the server SDK needs { allowInsecureConnection: true } over http):
  Endpoint=http://localhost;Port=8080;AccessKey=<key>;Version=1.0;

Prints "ready <url>" when listening; stops cleanly on SIGINT or SIGTERM.`,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        port: { type: "string" },
        key: { type: "string" },
        host: { type: "string" },
        "event-handler": { type: "string" },
        verbose: { type: "boolean" },
      },
    });
    if (values.key !== undefined && Buffer.byteLength(values.key) < 32)
      usageError("--key must be at least 32 bytes", "--key");
    const { DEV_ACCESS_KEY, startWebPubSubEmulator } = await import("../emulator/webpubsub/index.js");
    const emulator = await startWebPubSubEmulator({
      port: parsePort(values.port, "--port", 8080),
      key: values.key ?? DEV_ACCESS_KEY,
      host: values.host,
      eventHandler: values["event-handler"],
      logger: stderrLogger(values.verbose === true),
    });
    // The development key is public; a key of your own is a secret and stays out of the output.
    const shown =
      emulator.key === DEV_ACCESS_KEY
        ? emulator.connectionString
        : emulator.connectionString.replace(`AccessKey=${emulator.key}`, "AccessKey=<your key>");
    process.stderr.write(`herald: Web PubSub connection string: ${shown}\n`);
    return serveUntilSignal(emulator, emulator.url);
  },
};

function stderrLogger(verbose: boolean): EmulatorLogger {
  const line = (level: string, event: string, fields: Record<string, unknown> = {}): void => {
    const parts = Object.entries(fields)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
    process.stderr.write(`webpubsub ${level} ${event}${parts.length ? " " + parts.join(" ") : ""}\n`);
  };
  return {
    info: (event, fields) => {
      if (verbose) line("info", event, fields);
    },
    warn: (event, fields) => line("warn", event, fields),
  };
}
