import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readSettings } from "../core/config.js";
import { HeraldError, isHeraldError } from "../core/errors.js";
import { parsePort, serveUntilSignal, type Command } from "./command.js";
import { ROOT, localSettings } from "./settings.js";

/** Names the flag to change when a part's port is taken. */
async function part<T>(name: string, flag: string, port: number, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    const inUse =
      (isHeraldError(err) && err.code === "HERALD_PORT_IN_USE") ||
      (err instanceof Error && /EADDRINUSE|in use|did not listen/i.test(err.message));
    if (inUse) {
      throw new HeraldError(
        "HERALD_PORT_IN_USE",
        `${name}: port ${port} is in use; choose another with ${flag}`,
        {
          target: flag,
        },
      );
    }
    throw err;
  }
}

export const startCommand: Command = {
  path: ["start"],
  summary: "Run the whole system locally: emulators, Azurite and the gateway",
  usage: `Usage: herald start [--memory] [--port 3000] [--servicebus-port 5672] [--webpubsub-port 8080]
                    [--table-port 10002] [--data-dir .herald] [--no-gateway]

Starts, on loopback and offline: the Service Bus emulator (emulator/servicebus/Config.json), the
Web PubSub emulator, Azurite (Table Storage for the streams) and the gateway, with the values in
local.settings.json. Prints the connection strings, a sample publish and last "ready <gateway url>".
Data persists under --data-dir unless --memory. Ctrl-C stops every part.

Options:
  --memory               keep nothing on disk (a throwaway run)
  --port N               gateway HTTP port (default 3000)
  --servicebus-port N    Service Bus AMQP port (default 5672; management on --management-port, 5300)
  --management-port N    Service Bus management port (default 5300)
  --webpubsub-port N     Web PubSub emulator port (default 8080)
  --table-port N         Azurite Table port (default 10002)
  --data-dir DIR         where persistent data lives (default .herald)
  --no-gateway           start the emulators and Azurite only; nothing consumes the subscription, so
                         published notifications wait in Service Bus (run \`herald gateway\` yourself,
                         e.g. under a debugger). The last line is then "ready <Service Bus url>".`,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        memory: { type: "boolean" },
        port: { type: "string" },
        "servicebus-port": { type: "string" },
        "management-port": { type: "string" },
        "webpubsub-port": { type: "string" },
        "table-port": { type: "string" },
        "data-dir": { type: "string" },
        "no-gateway": { type: "boolean" },
      },
    });
    const ports = {
      gateway: parsePort(values.port, "--port", 3000),
      serviceBus: parsePort(values["servicebus-port"], "--servicebus-port", 5672),
      management: parsePort(values["management-port"], "--management-port", 5300),
      webPubSub: parsePort(values["webpubsub-port"], "--webpubsub-port", 8080),
      table: parsePort(values["table-port"], "--table-port", 10002),
    };
    const dataDir = values.memory ? undefined : (values["data-dir"] ?? ".herald");
    const dir = (name: string): string | undefined => {
      if (!dataDir) return undefined;
      const path = join(dataDir, name);
      mkdirSync(path, { recursive: true });
      return path;
    };
    const started: { close(): Promise<void> }[] = [];
    const closeAll = async (): Promise<void> => {
      for (const s of started.splice(0).reverse()) await s.close().catch(() => undefined);
    };
    const track = async <T extends { close(): Promise<void> }>(starting: Promise<T>): Promise<T> => {
      const part = await starting;
      started.push(part);
      return part;
    };
    try {
      // The three parts do not depend on each other: Azurite (a child process, the slowest) starts
      // while this process loads the SDKs and starts the two emulators. Modules are loaded here so
      // that other commands do not pay for them.
      const azuriteStarting = track(
        import("../emulator/azurite.js").then(({ startAzurite }) =>
          part("Azurite", "--table-port", ports.table, () =>
            startAzurite({ ports: { table: ports.table }, location: dir("azurite") }),
          ),
        ),
      );
      const serviceBusStarting = track(
        import("../emulator/servicebus/index.js").then(({ startServiceBusEmulator }) =>
          part("Service Bus emulator", "--servicebus-port", ports.serviceBus, () =>
            startServiceBusEmulator({
              configFile: join(ROOT, "emulator/servicebus/Config.json"),
              port: ports.serviceBus,
              managementPort: ports.management,
              dataDir: dir("servicebus"),
            }),
          ),
        ),
      );
      const webPubSubStarting = track(
        import("../emulator/webpubsub/index.js").then(({ startWebPubSubEmulator }) =>
          part("Web PubSub emulator", "--webpubsub-port", ports.webPubSub, () =>
            startWebPubSubEmulator({ port: ports.webPubSub }),
          ),
        ),
      );
      // Wait for all three before failing, so that whatever did start is in `started` and gets closed.
      const parts = await Promise.allSettled([azuriteStarting, serviceBusStarting, webPubSubStarting]);
      for (const r of parts) if (r.status === "rejected") throw r.reason;
      const [azurite, serviceBus, webPubSub] = [
        await azuriteStarting,
        await serviceBusStarting,
        await webPubSubStarting,
      ];
      const env: Record<string, string> = {
        ...localSettings(),
        // local.settings.json also configures the Functions app, whose negotiate points at the gateway's
        // URL; the gateway knows its own (the port may differ).
        HERALD_PUBLIC_URL: "",
        HERALD_SERVICEBUS: serviceBus.connectionString,
        // The management port may differ from the emulator default (--management-port).
        HERALD_SERVICEBUS_MANAGEMENT_URL: serviceBus.managementUrl,
        HERALD_WEBPUBSUB: webPubSub.connectionString,
        HERALD_STORE: "table",
        HERALD_STORAGE: azurite.connectionString,
        HERALD_PORT: String(ports.gateway),
        HERALD_LOG_LEVEL: process.env.HERALD_LOG_LEVEL ?? "warn",
      };
      if (values["no-gateway"]) {
        process.stdout.write(
          [
            "Herald's emulators are running locally (no gateway: --no-gateway).",
            `  Service Bus      ${serviceBus.connectionString}`,
            `  management       ${serviceBus.managementUrl}`,
            `  Web PubSub       ${webPubSub.connectionString}`,
            `  Table Storage    ${azurite.tableUrl}`,
            `  data             ${dataDir ?? "in memory (--memory)"}`,
            "",
          ].join("\n"),
        );
        return await serveUntilSignal({ close: closeAll }, serviceBus.url);
      }
      const settings = readSettings(env);
      // HERALD_SERVICEBUS_MANAGEMENT_URL (above) lets the gateway read the dead-letter queue's depth.
      const { startGateway } = await import("../gateway/index.js");
      const gateway = await part("gateway", "--port", ports.gateway, () => startGateway(settings));
      started.push(gateway);
      const key = env.HERALD_PUBLISH_KEYS?.split(",")[0] ?? "";
      process.stdout.write(
        [
          "Herald is running locally.",
          `  gateway          ${gateway.url}`,
          `  demo page        ${gateway.url}/`,
          `  dashboard        ${gateway.url}/dashboard`,
          `  Service Bus      ${serviceBus.connectionString}`,
          `  management       ${serviceBus.managementUrl}`,
          `  Web PubSub       ${webPubSub.connectionString}`,
          `  Table Storage    ${azurite.tableUrl}`,
          `  data             ${dataDir ?? "in memory (--memory)"}`,
          "",
          "Publish a notification:",
          `  curl -X POST ${gateway.url}/api/notifications -H 'authorization: Bearer ${key}' \\`,
          `    -H 'content-type: application/json' \\`,
          `    -d '{"type":"hello","to":{"broadcast":true},"data":{"text":"hi"}}'`,
          "",
        ].join("\n"),
      );
      return await serveUntilSignal({ close: closeAll }, gateway.url);
    } catch (err) {
      await closeAll();
      throw err;
    }
  },
};
