import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readSettings } from "../core/config.js";
import { HeraldError, isHeraldError } from "../core/errors.js";
import { startAzurite } from "../emulator/azurite.js";
import { startServiceBusEmulator } from "../emulator/servicebus/index.js";
import { startWebPubSubEmulator } from "../emulator/webpubsub/index.js";
import { startGateway } from "../gateway/index.js";
import { parsePort, serveUntilSignal, type Command } from "./command.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The local values every part shares (the same file the Functions host reads). */
function localSettings(): Record<string, string> {
  const file = join(ROOT, "local.settings.json");
  const parsed = JSON.parse(readFileSync(file, "utf8")) as { Values?: Record<string, string> };
  return parsed.Values ?? {};
}

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
                    [--table-port 10002] [--data-dir .herald]

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
  --data-dir DIR         where persistent data lives (default .herald)`,
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
    try {
      const serviceBus = await part("Service Bus emulator", "--servicebus-port", ports.serviceBus, () =>
        startServiceBusEmulator({
          configFile: join(ROOT, "emulator/servicebus/Config.json"),
          port: ports.serviceBus,
          managementPort: ports.management,
          dataDir: dir("servicebus"),
        }),
      );
      started.push(serviceBus);
      const webPubSub = await part("Web PubSub emulator", "--webpubsub-port", ports.webPubSub, () =>
        startWebPubSubEmulator({ port: ports.webPubSub }),
      );
      started.push(webPubSub);
      const azurite = await part("Azurite", "--table-port", ports.table, () =>
        startAzurite({ ports: { table: ports.table }, location: dir("azurite") }),
      );
      started.push(azurite);
      const env: Record<string, string> = {
        ...localSettings(),
        HERALD_SERVICEBUS: serviceBus.connectionString,
        // The management port may differ from the emulator default (--management-port).
        HERALD_SERVICEBUS_MANAGEMENT_URL: serviceBus.managementUrl,
        HERALD_WEBPUBSUB: webPubSub.connectionString,
        HERALD_STORE: "table",
        HERALD_STORAGE: azurite.connectionString,
        HERALD_PORT: String(ports.gateway),
        HERALD_LOG_LEVEL: process.env.HERALD_LOG_LEVEL ?? "warn",
      };
      const gateway = await part("gateway", "--port", ports.gateway, () => startGateway(readSettings(env)));
      started.push(gateway);
      const key = env.HERALD_PUBLISH_KEYS?.split(",")[0] ?? "";
      process.stdout.write(
        [
          "Herald is running locally.",
          `  gateway          ${gateway.url}`,
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
