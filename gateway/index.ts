import type { WebPubSubServiceClient } from "@azure/web-pubsub";
import { HeraldError } from "../core/errors.js";
import type { Settings } from "../core/config.js";
import { BROADCAST_STREAM } from "../core/streams.js";
import { Publisher } from "../publisher/publisher.js";
import type { TokenVerifier } from "./auth/tokens.js";
import { NotificationConsumer } from "./consumer.js";
import { dashboardRoutes, deadLetterCountFromSettings } from "./dashboard/index.js";
import { demoRoutes } from "./demo/routes.js";
import { createDevTokenHandler } from "./handlers/dev-token.js";
import { createPublishHandler } from "./handlers/publish.js";
import { clientBundleRoute } from "./http/client-bundle.js";
import { startHttpServer, type Route } from "./http/server.js";
import { startLive, webPubSubUrlFunction } from "./live/index.js";
import { createLogger, type Logger } from "./log.js";
import { GatewayMetrics } from "./metrics.js";
import type { Sink } from "./sinks/types.js";
import { WebPubSubSink } from "./sinks/webpubsub.js";
import {
  administrationClient,
  openStore,
  publishAuthorizer,
  serviceBusClient,
  tokenVerifier,
  webPubSubClient,
} from "./services.js";
import type { StreamStore } from "./store/index.js";

export interface GatewayOptions {
  /** Overrides the logger built from HERALD_LOG_LEVEL (tests pass a silent one). */
  log?: Logger;
  /**
   * Reads the depth of the subscription's dead-letter queue for metrics and the dashboard. Default:
   * the subscription's runtime properties through the management API (for the emulator, at
   * HERALD_SERVICEBUS_MANAGEMENT_URL or port 5300 of its Endpoint host).
   */
  deadLetterCount?: () => Promise<number>;
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
  if (settings.HERALD_DEV_TOKENS && !settings.HERALD_JWT_SECRET) {
    throw new HeraldError(
      "HERALD_INVALID_CONFIG",
      "HERALD_DEV_TOKENS: dev tokens are signed with HERALD_JWT_SECRET, which is unset",
      { target: "HERALD_DEV_TOKENS" },
    );
  }
  const metrics = new GatewayMetrics();
  // Management API: the backplane's subscriptions and the dead-letter depth (no connection until used).
  const administration = administrationClient(settings);
  const deadLetterCount =
    options.deadLetterCount ?? deadLetterCountFromSettings(settings, administration.admin);
  if (deadLetterCount) metrics.watchDeadLetterQueue(settings.HERALD_SUBSCRIPTION, deadLetterCount);
  const bus = serviceBusClient(settings);
  const webPubSub = webPubSubClient(settings);
  if (!webPubSub) log.warn("no Web PubSub configured (HERALD_WEBPUBSUB): WebSocket delivery is off");
  const store = await openStore(settings);
  const verifier = tokenVerifier(settings);
  const publisher = new Publisher(bus.createSender(settings.HERALD_TOPIC), {
    maxDataBytes: settings.HERALD_MAX_DATA_BYTES,
  });
  const live = await startLive({
    settings,
    store,
    verifier,
    metrics,
    log,
    webPubSubUrl: webPubSub ? webPubSubUrlFunction(webPubSub) : undefined,
    serviceBus: settings.HERALD_DELIVERY_TOPIC ? { client: bus, admin: administration.admin } : undefined,
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
        authorize: publishAuthorizer(settings, verifier),
        publisher,
        onPublished: (ids, caller) => {
          metrics.published.inc(ids.length);
          log.debug({ ids, caller }, "published");
        },
      }),
    },
    { method: "GET", path: "/herald.js", raw: clientBundleRoute() },
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

  routes.push(...demoRoutes());
  if (settings.HERALD_DEV_TOKENS && settings.HERALD_JWT_SECRET) {
    log.warn("HERALD_DEV_TOKENS is on: POST /api/dev/token signs a token for anyone (development only)");
    routes.push({
      method: "POST",
      path: "/api/dev/token",
      handler: createDevTokenHandler({
        secret: settings.HERALD_JWT_SECRET,
        publishRole: settings.HERALD_JWT_PUBLISH_ROLE,
      }),
    });
  }

  const http = await startHttpServer({
    host: settings.HERALD_HOST,
    port: settings.HERALD_PORT,
    routes: [...routes, ...live.routes, ...dashboardRoutes(metrics)],
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
        await http.close();
        await consumer.close();
        await publisher.close();
        await store.close();
        await bus.close();
        administration.close();
        log.info("gateway stopped");
      })()),
  };
}
