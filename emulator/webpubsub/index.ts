/**
 * A local Azure Web PubSub: the REST data plane `@azure/web-pubsub` calls and the client
 * endpoint `@azure/web-pubsub-client` connects to, on one loopback HTTP port.
 *
 * @example
 * const emulator = await startWebPubSubEmulator({ port: 0 });
 * const service = new WebPubSubServiceClient(emulator.connectionString, "chat", { allowInsecureConnection: true });
 * const { url } = await service.getClientAccessToken({ userId: "alice" });
 * const client = new WebPubSubClient(url);
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { HeraldError } from "../../core/errors.js";
import { handleClientUpgrade, isClientPath } from "./endpoint.js";
import { handleRest } from "./rest.js";
import {
  Service,
  silentLogger,
  type EmulatorLogger,
  type EmulatorStats,
  type ServiceConfig,
} from "./service.js";
import type { EventHandlerSettings } from "./upstream.js";
import { rejectUpgrade } from "./websocket.js";

export type { EmulatorLogger, EmulatorStats } from "./service.js";
export type { EventHandlerSettings, SystemEvent } from "./upstream.js";

/**
 * The emulator's well-known development key (44 characters, like a real key). Anyone can sign
 * tokens with it: never use it outside local development.
 */
export const DEV_ACCESS_KEY = "SGVyYWxkV2ViUHViU3ViRW11bGF0b3JEZXZLZXkwMDE=";

export interface HubSettings {
  /** Event handler for this hub (overrides `eventHandler`). */
  eventHandler?: string | EventHandlerSettings | undefined;
}

export interface WebPubSubEmulatorOptions {
  /** Loopback host to listen on. @default "localhost" (both 127.0.0.1 and ::1 when available) */
  host?: string | undefined;
  /** Port; 0 picks a free one. @default 8080 */
  port?: number | undefined;
  /** Access key (at least 32 UTF-8 bytes). @default DEV_ACCESS_KEY */
  key?: string | undefined;
  /** Per-hub settings by hub name. Hubs not listed are served too. */
  hubs?: Record<string, HubSettings> | undefined;
  /** Event handler for every hub: a URL template (`{hub}`, `{event}`) or full settings. @default none */
  eventHandler?: string | EventHandlerSettings | undefined;
  /** Largest client message and REST body in bytes. @default 1_048_576 (1 MiB) */
  maxMessageBytes?: number | undefined;
  /** Unsent bytes a socket may buffer before its client is closed as too slow. @default 4_194_304 (4 MiB) */
  outboundBufferLimit?: number | undefined;
  /** Unacknowledged messages per reliable connection. @default 1000 */
  reliableMaxMessages?: number | undefined;
  /** Unacknowledged bytes per reliable connection. @default 16_777_216 (16 MiB) */
  reliableMaxBytes?: number | undefined;
  /** How long a dropped reliable connection can be recovered. @default 30_000 */
  recoveryWindowMs?: number | undefined;
  /** Silence after which a connection is pinged; 0 disables keep-alive. @default 20_000 */
  keepAliveIntervalMs?: number | undefined;
  /** Silence after which a connection is dropped as dead. @default 120_000 */
  keepAliveTimeoutMs?: number | undefined;
  /** How long a closing client may take to answer the close frame. @default 5_000 */
  closeTimeoutMs?: number | undefined;
  /** Token clock-skew tolerance in seconds. @default 300 */
  clockSkewSeconds?: number | undefined;
  /** Structured log lines (ids only, never message bodies or tokens). @default silent */
  logger?: EmulatorLogger | undefined;
}

export interface WebPubSubEmulator {
  /** `http://localhost:<port>` */
  readonly url: string;
  readonly port: number;
  readonly key: string;
  /** `Endpoint=http://localhost;Port=<port>;AccessKey=<key>;Version=1.0;` */
  readonly connectionString: string;
  /** Live counters (connections, deliveries, slow clients closed, …). */
  stats(): EmulatorStats;
  close(): Promise<void>;
}

const DEFAULTS = {
  maxMessageBytes: 1024 * 1024,
  outboundBufferLimit: 4 * 1024 * 1024,
  reliableMaxMessages: 1000,
  reliableMaxBytes: 16 * 1024 * 1024,
  recoveryWindowMs: 30_000,
  keepAliveIntervalMs: 20_000,
  keepAliveTimeoutMs: 120_000,
  closeTimeoutMs: 5_000,
  clockSkewSeconds: 300,
} as const;

export async function startWebPubSubEmulator(
  options: WebPubSubEmulatorOptions = {},
): Promise<WebPubSubEmulator> {
  const config = resolveConfig(options);
  const host = options.host ?? "localhost";
  const port = options.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    invalid(`port must be 0-65535, got ${port}`, "port");
  const addresses = loopbackAddresses(host);
  const service = new Service(config);

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? "/").split("?")[0]!;
    if (path.startsWith("/api/")) {
      void handleRest(service, req, res);
      return;
    }
    const body = JSON.stringify({
      code: "NotFound",
      message: "Use /api/hubs/{hub}/… or /client/hubs/{hub}.",
    });
    res.writeHead(404, { "Content-Type": "application/json; charset=utf-8", "x-ms-error-code": "NotFound" });
    res.end(body);
  };
  const onUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    const path = (req.url ?? "/").split("?")[0]!;
    if (service.closing) {
      socket.destroy();
      return;
    }
    if (isClientPath(path)) {
      handleClientUpgrade(service, req, socket, head);
      return;
    }
    socket.on("error", () => undefined);
    rejectUpgrade(socket, 404, {
      code: "NotFound",
      message: "WebSocket clients connect to /client/hubs/{hub}.",
    });
    service.linger(socket);
  };

  const servers: Server[] = [];
  let actualPort = port;
  const listenAll = async (): Promise<void> => {
    for (const [i, address] of addresses.entries()) {
      const server = createServer({ noDelay: true }, onRequest);
      server.on("upgrade", onUpgrade);
      server.on("clientError", (_err, socket) => {
        if (!socket.destroyed)
          socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      });
      try {
        actualPort = await listen(server, address, actualPort);
        servers.push(server);
      } catch (err) {
        // ::1 may be missing (IPv6 disabled); 127.0.0.1 alone still serves "localhost".
        const code = (err as NodeJS.ErrnoException).code;
        if (i > 0 && (code === "EADDRNOTAVAIL" || code === "EAFNOSUPPORT")) continue;
        throw err;
      }
    }
  };
  for (let attempt = 1; ; attempt++) {
    try {
      await listenAll();
      break;
    } catch (err) {
      await Promise.all(servers.splice(0).map((s) => closeServer(s)));
      // With port 0 the port free on 127.0.0.1 may be taken on ::1: pick another.
      if (port === 0 && attempt < 5 && (err as NodeJS.ErrnoException).code === "EADDRINUSE") {
        actualPort = 0;
        continue;
      }
      await service.shutdown();
      if ((err as NodeJS.ErrnoException).code === "EADDRINUSE")
        throw new HeraldError("HERALD_PORT_IN_USE", `port ${port} on ${host} is already in use`, {
          target: "port",
          cause: err,
        });
      throw err;
    }
  }

  const urlHost =
    host === "localhost" ? "localhost" : host.includes(":") ? `[${host.replace(/^\[|\]$/g, "")}]` : host;
  const url = `http://${urlHost}:${actualPort}`;
  let closing: Promise<void> | undefined;
  return {
    url,
    port: actualPort,
    key: config.key,
    connectionString: `Endpoint=http://${urlHost};Port=${actualPort};AccessKey=${config.key};Version=1.0;`,
    stats: () => ({ ...service.stats }),
    close() {
      closing ??= (async () => {
        const stopped = servers.map((s) => closeServer(s));
        await service.shutdown();
        for (const s of servers) s.closeAllConnections();
        await Promise.all(stopped);
      })();
      return closing;
    },
  };
}

function resolveConfig(options: WebPubSubEmulatorOptions): ServiceConfig {
  const key = options.key ?? DEV_ACCESS_KEY;
  if (Buffer.byteLength(key, "utf8") < 32) invalid("the access key must be at least 32 bytes", "key");
  if (/[;\s]/.test(key))
    invalid("the access key must not contain ';' or white space (connection strings split on ';')", "key");
  const positive = (name: keyof typeof DEFAULTS, allowZero = false): number => {
    const v = options[name] ?? DEFAULTS[name];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0))
      invalid(`${name} must be a ${allowZero ? "non-negative" : "positive"} number`, name);
    return v;
  };
  const eventHandlers = new Map<string, EventHandlerSettings>();
  const handler = (
    value: string | EventHandlerSettings | undefined,
    where: string,
  ): EventHandlerSettings | undefined => {
    if (value === undefined) return undefined;
    const settings = typeof value === "string" ? { urlTemplate: value } : value;
    try {
      const probe = new URL(settings.urlTemplate.replaceAll("{hub}", "hub").replaceAll("{event}", "event"));
      if (probe.protocol !== "http:" && probe.protocol !== "https:") throw new Error("scheme");
    } catch {
      invalid(`${where} must be an http(s) URL template`, where);
    }
    return settings;
  };
  const global = handler(options.eventHandler, "eventHandler");
  if (global) eventHandlers.set("*", global);
  for (const [name, hubSettings] of Object.entries(options.hubs ?? {})) {
    const h = handler(hubSettings.eventHandler, `hubs.${name}.eventHandler`);
    if (h) eventHandlers.set(name.toLowerCase(), h);
  }
  const config: ServiceConfig = {
    key,
    clockSkewSeconds: positive("clockSkewSeconds", true),
    maxMessageBytes: positive("maxMessageBytes"),
    outboundBufferLimit: positive("outboundBufferLimit"),
    reliableMaxMessages: positive("reliableMaxMessages"),
    reliableMaxBytes: positive("reliableMaxBytes"),
    recoveryWindowMs: positive("recoveryWindowMs"),
    keepAliveIntervalMs: positive("keepAliveIntervalMs", true),
    keepAliveTimeoutMs: positive("keepAliveTimeoutMs"),
    closeTimeoutMs: positive("closeTimeoutMs"),
    eventHandlers,
    logger: options.logger ?? silentLogger,
  };
  return Object.freeze(config);
}

function invalid(message: string, target: string): never {
  throw new HeraldError("HERALD_INVALID_CONFIG", message, { target });
}

/** The addresses behind a loopback host name; anything else is refused. */
function loopbackAddresses(host: string): string[] {
  if (host === "localhost") return ["127.0.0.1", "::1"];
  const bare = host.replace(/^\[|\]$/g, "");
  if (bare === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare)) return [bare];
  return invalid(`host must be a loopback address (localhost, 127.0.0.1 or ::1), got "${host}"`, "host");
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once("error", onError);
    server.listen({ host, port, ipv6Only: host === "::1" }, () => {
      server.off("error", onError);
      const address = server.address();
      resolve(typeof address === "object" && address !== null ? address.port : port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}
