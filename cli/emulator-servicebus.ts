import { parseArgs } from "node:util";
import type { Logger } from "../emulator/servicebus/index.js";
import { parsePort, serveUntilSignal, usageError, type Command } from "./command.js";

export const emulatorServiceBus: Command = {
  path: ["emulator", "servicebus"],
  summary: "Run the Service Bus emulator (AMQP 1.0 + management endpoint)",
  usage: `Usage: herald emulator servicebus [--config FILE] [--port 5672] [--management-port 5300] [--data-dir DIR]

Runs a Service Bus emulator that the official @azure/service-bus client talks to unchanged.

Options:
  --config FILE            Config.json in Microsoft's emulator format (default: an empty namespace)
  --port N                 AMQP port (default 5672; 0 picks a free port)
  --management-port N      HTTP management endpoint for ServiceBusAdministrationClient (default 5300)
  --data-dir DIR           keep entities and messages in DIR across restarts (default: memory only)
  --host HOST              loopback host to listen on (default localhost: 127.0.0.1 and ::1)
  --quiet                  log only warnings and errors (logs go to stderr)

Connection string:
  Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;

Prints "ready <amqp url>" when listening; stops cleanly on SIGINT or SIGTERM.`,
  async run(argv) {
    let values;
    try {
      ({ values } = parseArgs({
        args: argv,
        strict: true,
        allowPositionals: false,
        options: {
          config: { type: "string" },
          port: { type: "string" },
          "management-port": { type: "string" },
          "data-dir": { type: "string" },
          host: { type: "string" },
          quiet: { type: "boolean" },
        },
      }));
    } catch (err) {
      usageError(err instanceof Error ? err.message : String(err));
    }
    if (values["data-dir"] === "") usageError("--data-dir needs a directory", "--data-dir");
    const { startServiceBusEmulator } = await import("../emulator/servicebus/index.js");
    const emulator = await startServiceBusEmulator({
      configFile: values.config,
      port: parsePort(values.port, "--port", 5672),
      managementPort: parsePort(values["management-port"], "--management-port", 5300),
      dataDir: values["data-dir"],
      host: values.host,
      logger: stderrLogger(values.quiet === true),
    });
    return serveUntilSignal(emulator, emulator.url);
  },
};

/** One line per event on stderr (ids and counts only; message bodies are never logged). */
function stderrLogger(quiet: boolean): Logger {
  const line = (level: string, message: string): void => {
    process.stderr.write(`${new Date().toISOString()} servicebus ${level} ${message}\n`);
  };
  return {
    info: (m) => {
      if (!quiet) line("info", m);
    },
    warn: (m) => line("warn", m),
    error: (m) => line("error", m),
  };
}
