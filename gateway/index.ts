import { DefaultAzureCredential } from "@azure/identity";
import { RetryMode, ServiceBusAdministrationClient, ServiceBusClient } from "@azure/service-bus";
import { WebPubSubServiceClient } from "@azure/web-pubsub";
import { HeraldError } from "../core/errors.js";
import type { Settings } from "../core/config.js";
import { emulatorAdministrationOptions } from "../emulator/servicebus/management/client.js";
import { BROADCAST_STREAM } from "../core/streams.js";
import { Publisher } from "../publisher/publisher.js";
import { createPublishAuthorizer, createTokenVerifier, type TokenVerifier } from "./auth/tokens.js";
import { NotificationConsumer } from "./consumer.js";
import { createPublishHandler } from "./handlers/publish.js";
import { startHttpServer, type Route } from "./http/server.js";
import { startLive, webPubSubUrlFunction } from "./live/index.js";
import { createLogger, type Logger } from "./log.js";
import { GatewayMetrics } from "./metrics.js";
import type { Sink } from "./sinks/types.js";
import { WebPubSubSink } from "./sinks/webpubsub.js";
import { MemoryStreamStore, TableStreamStore, type StreamStore } from "./store/index.js";

export interface GatewayOptions {
  /** Overrides the logger built from HERALD_LOG_LEVEL (tests pass a silent one). */
  log?: Logger;
}

export interface Gateway {
  readonly url: string;
  readonly port: number;
  readonly metrics: GatewayMetrics;
  readonly store: StreamStore;
  readonly verifier: TokenVerifier;
  /** Web PubSub client, when one is configured. */
  readonly webPubSub: WebPubSubServiceClient | undefined;
  /** Stops taking requests and messages, settles what is in flight, closes every connection. */
  close(): Promise<void>;
}

function isLoopbackHttp(connectionString: string): boolean {
  return /Endpoint=http:\/\/(localhost|127\.\d+\.\d+\.\d+|\[::1\])[:/;]/i.test(connectionString);
}

/**
 * Reconnect quickly after a dropped connection, backing off to 30 s (the SDK's default waits 30 s),
 * and give up on an operation after 10 s: a settlement of a message received on a connection that
 * has since dropped otherwise holds a processing slot for the SDK's default 60 s.
 */
const BUS_RETRY = {
  retryOptions: {
    maxRetries: 5,
    retryDelayInMs: 500,
    maxRetryDelayInMs: 30_000,
    mode: RetryMode.Exponential,
    timeoutInMs: 10_000,
  },
};

function serviceBusClient(settings: Settings): ServiceBusClient {
  if (settings.HERALD_SERVICEBUS) return new ServiceBusClient(settings.HERALD_SERVICEBUS, BUS_RETRY);
  const namespace = settings.HERALD_SERVICEBUS__fullyQualifiedNamespace;
  if (namespace) return new ServiceBusClient(namespace, new DefaultAzureCredential(), BUS_RETRY);
  throw new HeraldError(
    "HERALD_INVALID_CONFIG",
    "HERALD_SERVICEBUS: set a Service Bus connection string, or HERALD_SERVICEBUS__fullyQualifiedNamespace for a managed identity",
    { target: "HERALD_SERVICEBUS" },
  );
}

/** Where Microsoft's Service Bus emulator (and Herald's) serves its management API on the Endpoint host. */
export const EMULATOR_MANAGEMENT_PORT = 5300;

/**
 * The emulator management endpoint the administration client must reach: HERALD_SERVICEBUS_MANAGEMENT_URL,
 * else, for a connection string with `UseDevelopmentEmulator=true`, port 5300 of its Endpoint host. The
 * SDK itself ignores that flag and would send https to port 443. Undefined for a real namespace.
 */
export function serviceBusManagementUrl(settings: Settings): string | undefined {
  if (settings.HERALD_SERVICEBUS_MANAGEMENT_URL) return settings.HERALD_SERVICEBUS_MANAGEMENT_URL;
  const connectionString = settings.HERALD_SERVICEBUS;
  if (!connectionString || !/(?:^|;)\s*UseDevelopmentEmulator\s*=\s*true\s*(?:;|$)/i.test(connectionString)) {
    return undefined;
  }
  const endpoint = /(?:^|;)\s*Endpoint\s*=\s*([^;]+)/i.exec(connectionString)?.[1]?.trim();
  let host = "localhost";
  try {
    if (endpoint) host = new URL(endpoint).hostname || host;
  } catch {
    // A malformed Endpoint fails in the AMQP client with its own message; keep the default host here.
  }
  return `http://${host}:${EMULATOR_MANAGEMENT_PORT}`;
}

/**
 * The backplane creates each replica's subscription on the delivery topic at start. `close` drops the
 * emulator agent's keep-alive sockets.
 */
function administrationClient(settings: Settings): { admin: ServiceBusAdministrationClient; close(): void } {
  const connectionString = settings.HERALD_SERVICEBUS;
  if (connectionString) {
    const managementUrl = serviceBusManagementUrl(settings);
    if (!managementUrl) return { admin: new ServiceBusAdministrationClient(connectionString), close() {} };
    const options = emulatorAdministrationOptions(managementUrl);
    return {
      admin: new ServiceBusAdministrationClient(connectionString, options),
      close: () => options.agent.destroy(),
    };
  }
  return {
    admin: new ServiceBusAdministrationClient(
      settings.HERALD_SERVICEBUS__fullyQualifiedNamespace ?? "",
      new DefaultAzureCredential(),
    ),
    close() {},
  };
}

function webPubSubClient(settings: Settings): WebPubSubServiceClient | undefined {
  const hub = settings.HERALD_WEBPUBSUB_HUB;
  if (settings.HERALD_WEBPUBSUB) {
    // The emulator speaks plain http on loopback; the SDK refuses http unless told.
    return new WebPubSubServiceClient(settings.HERALD_WEBPUBSUB, hub, {
      allowInsecureConnection: isLoopbackHttp(settings.HERALD_WEBPUBSUB),
    });
  }
  const uri = settings.HERALD_WEBPUBSUB__serviceUri;
  return uri ? new WebPubSubServiceClient(uri, new DefaultAzureCredential(), hub) : undefined;
}

async function openStore(settings: Settings): Promise<StreamStore> {
  const retention = {
    maxAgeMs: settings.HERALD_RETENTION_SECONDS * 1000,
    maxCount: settings.HERALD_RETENTION_COUNT,
  };
  const common = { retention, maxDataBytes: settings.HERALD_MAX_DATA_BYTES };
  if (settings.HERALD_STORE === "memory") return new MemoryStreamStore(common);
  const tableName = settings.HERALD_STREAMS_TABLE;
  if (settings.HERALD_STORAGE) {
    return TableStreamStore.open({ connectionString: settings.HERALD_STORAGE }, { ...common, tableName });
  }
  const uri = settings.HERALD_STORAGE__tableServiceUri;
  if (!uri) {
    throw new HeraldError(
      "HERALD_INVALID_CONFIG",
      "HERALD_STORAGE: the table store needs a connection string, or HERALD_STORAGE__tableServiceUri for a managed identity",
      { target: "HERALD_STORAGE" },
    );
  }
  const { TableClient } = await import("@azure/data-tables");
  return TableStreamStore.open(
    { client: new TableClient(uri, tableName, new DefaultAzureCredential()) },
    { ...common, tableName },
  );
}

function timeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Starts the gateway: the Service Bus consumer (store, then push to the sinks, then settle), the
 * HTTP API (publish, health, metrics) and, when configured, the Web PubSub sink.
 */
export async function startGateway(settings: Settings, options: GatewayOptions = {}): Promise<Gateway> {
  const log = options.log ?? createLogger({ level: settings.HERALD_LOG_LEVEL });
  if (settings.HERALD_PREFETCH < settings.HERALD_CONCURRENCY) {
    throw new HeraldError(
      "HERALD_INVALID_CONFIG",
      `HERALD_PREFETCH: must be at least HERALD_CONCURRENCY (${settings.HERALD_CONCURRENCY}), got ${settings.HERALD_PREFETCH}`,
      { target: "HERALD_PREFETCH" },
    );
  }
  const metrics = new GatewayMetrics();
  const bus = serviceBusClient(settings);
  const webPubSub = webPubSubClient(settings);
  if (!webPubSub) log.warn("no Web PubSub configured (HERALD_WEBPUBSUB): WebSocket delivery is off");
  const store = await openStore(settings);
  const verifier = createTokenVerifier({
    secret: settings.HERALD_JWT_SECRET,
    jwksUrl: settings.HERALD_JWT_JWKS_URL,
    issuer: settings.HERALD_JWT_ISSUER,
    audience: settings.HERALD_JWT_AUDIENCE,
    userClaim: settings.HERALD_JWT_USER_CLAIM,
    groupsClaim: settings.HERALD_JWT_GROUPS_CLAIM,
  });
  const publisher = new Publisher(bus.createSender(settings.HERALD_TOPIC), {
    maxDataBytes: settings.HERALD_MAX_DATA_BYTES,
  });
  const administration = settings.HERALD_DELIVERY_TOPIC ? administrationClient(settings) : undefined;
  const live = await startLive({
    settings,
    store,
    verifier,
    metrics,
    log,
    webPubSubUrl: webPubSub ? webPubSubUrlFunction(webPubSub) : undefined,
    serviceBus: administration ? { client: bus, admin: administration.admin } : undefined,
  });
  const sinks: Sink[] = [...(webPubSub ? [new WebPubSubSink(webPubSub)] : []), ...live.sinks];
  const consumer = new NotificationConsumer({
    client: bus,
    topic: settings.HERALD_TOPIC,
    subscription: settings.HERALD_SUBSCRIPTION,
    concurrency: settings.HERALD_CONCURRENCY,
    prefetch: settings.HERALD_PREFETCH,
    store,
    sinks,
    log,
    metrics,
    maxDataBytes: settings.HERALD_MAX_DATA_BYTES,
  });

  let readiness: { at: number; ok: boolean; reason?: string } = { at: 0, ok: false };
  const checkReady = async (): Promise<{ ok: boolean; reason?: string }> => {
    if (Date.now() - readiness.at < 1000) return readiness;
    try {
      await timeout(consumer.probe(), 3000, "Service Bus");
      await timeout(store.read(BROADCAST_STREAM, 0, 1), 3000, "the stream store");
      readiness = { at: Date.now(), ok: true };
    } catch (err) {
      readiness = { at: Date.now(), ok: false, reason: err instanceof Error ? err.message : String(err) };
    }
    return readiness;
  };

  const routes: Route[] = [
    {
      method: "POST",
      path: "/api/notifications",
      handler: createPublishHandler({
        authorize: createPublishAuthorizer({
          keys: settings.HERALD_PUBLISH_KEYS ?? [],
          verifier,
          publishRole: settings.HERALD_JWT_PUBLISH_ROLE,
        }),
        publisher,
        onPublished: (ids, caller) => {
          metrics.published.inc(ids.length);
          log.debug({ ids, caller }, "published");
        },
      }),
    },
    { method: "GET", path: "/healthz", handler: async () => ({ status: 200, json: { status: "alive" } }) },
    {
      method: "GET",
      path: "/readyz",
      handler: async () => {
        const r = await checkReady();
        return r.ok
          ? { status: 200, json: { status: "ready" } }
          : {
              status: 503,
              json: new HeraldError("HERALD_NOT_READY", `not ready: ${r.reason ?? "starting"}`).toJSON(),
            };
      },
    },
    {
      method: "GET",
      path: "/metrics",
      raw: async (_req, res) => {
        const body = await metrics.registry.metrics();
        res.writeHead(200, { "content-type": metrics.registry.contentType });
        res.end(body);
      },
    },
  ];

  const http = await startHttpServer({
    host: settings.HERALD_HOST,
    port: settings.HERALD_PORT,
    routes: [...routes, ...live.routes],
    log,
  });
  consumer.start();
  log.info(
    {
      url: http.url,
      topic: settings.HERALD_TOPIC,
      subscription: settings.HERALD_SUBSCRIPTION,
      store: settings.HERALD_STORE,
    },
    "gateway started",
  );

  let closing: Promise<void> | undefined;
  return {
    url: http.url,
    port: http.port,
    metrics,
    store,
    verifier,
    webPubSub,
    close: () =>
      (closing ??= (async () => {
        // Open SSE responses would hold the HTTP server's close: end them first.
        await live.close();
        administration?.close();
        await http.close();
        await consumer.close();
        await publisher.close();
        await store.close();
        await bus.close();
        log.info("gateway stopped");
      })()),
  };
}
