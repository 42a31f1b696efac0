import { parseArgs } from "node:util";
import { readSettings } from "../core/config.js";
import { parsePort, serveUntilSignal, type Command } from "./command.js";

export const gatewayCommand: Command = {
  path: ["gateway"],
  summary: "Run the gateway (Service Bus consumer, HTTP API, live delivery)",
  usage: `Usage: herald gateway [--port N] [--host HOST]

Runs the Herald gateway with settings from environment variables (see docs/configuration.md):
HERALD_SERVICEBUS (or HERALD_SERVICEBUS__fullyQualifiedNamespace) is required; HERALD_WEBPUBSUB,
HERALD_STORE, HERALD_JWT_SECRET and the rest are optional.

Options:
  --port N      overrides HERALD_PORT (default 3000; 0 picks a free port)
  --host HOST   overrides HERALD_HOST (default localhost)

Prints "ready <url>" when listening; on SIGINT or SIGTERM it stops taking work, settles what is in
flight and exits.`,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      options: { port: { type: "string" }, host: { type: "string" } },
    });
    const env = { ...process.env };
    if (values.port !== undefined) env.HERALD_PORT = String(parsePort(values.port, "--port", 3000));
    if (values.host !== undefined) env.HERALD_HOST = values.host;
    const settings = readSettings(env);
    const { startGateway } = await import("../gateway/index.js");
    const gateway = await startGateway(settings);
    return serveUntilSignal(gateway, gateway.url);
  },
};
