/**
 * Herald's Service Bus emulator: an AMQP 1.0 broker the official `@azure/service-bus` client
 * talks to unchanged, configured by a Microsoft-format Config.json, optionally persistent.
 *
 * @example
 * const sb = await startServiceBusEmulator({ port: 0, managementPort: 0, configFile: "Config.json" });
 * const client = new ServiceBusClient(sb.connectionString);
 */
import { HeraldError } from "../../core/errors.js";
import { AmqpServer, isLoopbackHost, type Logger } from "./amqp/server.js";
import { Broker } from "./broker/broker.js";
import { DEFAULT_NAMESPACE, readConfigFile } from "./config.js";
import { Journal } from "./journal.js";
import { startManagementServer, type ManagementServer } from "./management/index.js";
import { EntityError, type EntityManager, type NamespaceDescription } from "./model.js";

export type { Logger } from "./amqp/server.js";

export interface ServiceBusEmulatorOptions {
  /** Path of a Config.json in Microsoft's emulator format. */
  configFile?: string | undefined;
  /** The namespace to start with, instead of a file. */
  namespace?: NamespaceDescription | undefined;
  /** Loopback host to listen on. @default "localhost" (both 127.0.0.1 and ::1) */
  host?: string | undefined;
  /** AMQP port; 0 picks a free one. @default 5672 */
  port?: number | undefined;
  /** HTTP management endpoint port; 0 picks a free one. @default 5300 */
  managementPort?: number | undefined;
  /** Directory that makes entities and messages survive restarts. @default memory only */
  dataDir?: string | undefined;
  /** Where operational messages go (ids and counts, never message bodies). @default silent */
  logger?: Logger | undefined;
}

export interface ServiceBusEmulator {
  /** `amqp://localhost:<port>` */
  readonly url: string;
  readonly port: number;
  /** `http://localhost:<managementPort>` */
  readonly managementUrl: string;
  readonly managementPort: number;
  /** A connection string the official SDK accepts unchanged. */
  readonly connectionString: string;
  /** Create, read, update and delete entities from code (what the management endpoint uses). */
  readonly entities: EntityManager;
  /** AMQP connections open right now. */
  readonly connectionCount: number;
  close(): Promise<void>;
}

const SILENT: Logger = { info() {}, warn() {}, error() {} };

/** The connection string for an emulator on `port` (the default port needs none). */
export function emulatorConnectionString(port: number): string {
  const endpoint = port === 5672 ? "sb://localhost" : `sb://localhost:${port}`;
  return `Endpoint=${endpoint};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;`;
}

function checkPort(port: number, field: string): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new HeraldError("HERALD_INVALID_CONFIG", `${field} must be a port number 0-65535, got ${port}`, {
      target: field,
    });
  }
}

export async function startServiceBusEmulator(
  options: ServiceBusEmulatorOptions = {},
): Promise<ServiceBusEmulator> {
  const host = options.host ?? "localhost";
  if (!isLoopbackHost(host)) {
    throw new HeraldError(
      "HERALD_INVALID_CONFIG",
      `host must be a loopback address (localhost, 127.0.0.1 or ::1), got "${host}": the emulator has no real authentication`,
      { target: "host" },
    );
  }
  const port = options.port ?? 5672;
  checkPort(port, "port");
  const managementPort = options.managementPort ?? 5300;
  checkPort(managementPort, "managementPort");
  const logger = options.logger ?? SILENT;
  const namespace =
    options.namespace ??
    (options.configFile
      ? readConfigFile(options.configFile)
      : { name: DEFAULT_NAMESPACE, queues: [], topics: [] });

  const broker = new Broker(namespace.name, logger);
  let journal: Journal | undefined;
  let amqp: AmqpServer | undefined;
  let management: ManagementServer | undefined;
  try {
    if (options.dataDir) {
      const opened = Journal.open(options.dataDir, broker, logger);
      journal = opened.journal;
      logger.info(
        `data dir ${options.dataDir}: replayed ${opened.stats.records} records (${opened.stats.bytes} bytes)` +
          `, ${broker.queueCount} queues, ${broker.topicCount} topics`,
      );
    }
    try {
      const applied = broker.applyNamespace(namespace);
      if (applied.existing > 0) {
        logger.info(
          `config: ${applied.created} entities created, ${applied.existing} already in the data dir (kept as persisted)`,
        );
      }
    } catch (err) {
      if (err instanceof EntityError) {
        throw new HeraldError(
          "HERALD_INVALID_CONFIG",
          `${options.configFile ?? "namespace"}: ${err.message}`,
          {
            target: options.configFile ?? "namespace",
          },
        );
      }
      throw err;
    }
    try {
      amqp = await AmqpServer.start({ broker, host, port, logger });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") {
        throw new HeraldError("HERALD_PORT_IN_USE", `AMQP port ${port} on ${host} is already in use`, {
          target: "port",
        });
      }
      throw err;
    }
    management = await startManagementServer(broker, {
      host,
      port: managementPort,
      onInternalError: (err, req) =>
        logger.error(
          `management ${req.method} ${req.path} (tracking id ${req.trackingId}) failed: ${err instanceof Error ? err.message : String(err)}`,
        ),
    });
  } catch (err) {
    await amqp?.close();
    broker.close();
    journal?.close();
    throw err;
  }

  const server = amqp;
  const mgmt = management;
  const actualPort = server.port;
  logger.info(
    `listening on amqp://${host}:${actualPort}${host === "localhost" ? " (127.0.0.1 and ::1)" : ""}` +
      `, management ${mgmt.url}; namespace ${namespace.name}; connection string: ${emulatorConnectionString(actualPort)}`,
  );
  let closed: Promise<void> | undefined;
  return {
    url: `amqp://localhost:${actualPort}`,
    port: actualPort,
    managementUrl: mgmt.url,
    managementPort: mgmt.port,
    connectionString: emulatorConnectionString(actualPort),
    entities: broker,
    get connectionCount() {
      return server.connectionCount;
    },
    close() {
      closed ??= (async () => {
        await Promise.all([server.close(), mgmt.close()]);
        broker.close();
        journal?.close();
      })();
      return closed;
    },
  };
}
