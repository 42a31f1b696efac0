/**
 * The gateway's own live delivery (SSE, long-poll, gap fill, negotiate) and the backplane between
 * replicas. `startLive` wires it from the settings; the rest is exported for tests and other hosts.
 */
import type { ServiceBusAdministrationClient, ServiceBusClient } from "@azure/service-bus";
import type { Settings } from "../../core/config.js";
import { HeraldError } from "../../core/errors.js";
import type { TokenVerifier } from "../auth/tokens.js";
import type { WebPubSubUrlFunction } from "../handlers/negotiate.js";
import type { Route } from "../http/server.js";
import type { Logger } from "../log.js";
import type { GatewayMetrics } from "../metrics.js";
import type { Sink } from "../sinks/types.js";
import type { StreamStore } from "../store/types.js";
import { BackplaneReceiver, BackplaneSink } from "./backplane.js";
import { LiveHub } from "./hub.js";
import { liveRoutes } from "./routes.js";
import { GATEWAY_TOKEN_KEY_NAME, GatewayTokens } from "./tokens.js";

export { BackplaneReceiver, BackplaneSink, decodeDelivery, encodeDelivery } from "./backplane.js";
export { LiveConnection, type StartPosition } from "./connection.js";
export { LiveHub, type LiveHubOptions, type LiveHubStats } from "./hub.js";
export { OriginPolicy } from "./origin.js";
export { GATEWAY_TRANSPORTS, LIVE_PATHS } from "./paths.js";
export { PollConnection } from "./poll.js";
export { liveRoutes, type LiveRoutesOptions } from "./routes.js";
export { SseConnection } from "./sse.js";
export { GatewayTokens, type GatewayIdentity } from "./tokens.js";
export { webPubSubUrlFunction, type WebPubSubUrlFunction } from "../handlers/negotiate.js";

export interface LiveOptions {
  settings: Settings;
  store: StreamStore;
  /** Verifies application JWTs on negotiate. */
  verifier: TokenVerifier;
  metrics?: GatewayMetrics | undefined;
  log?: Logger | undefined;
  /** Web PubSub client URLs for negotiate (see `webPubSubUrlFunction`); none: no websocket transport. */
  webPubSubUrl?: WebPubSubUrlFunction | undefined;
  /** Required with HERALD_DELIVERY_TOPIC: where the backplane publishes and subscribes. */
  serviceBus?: { client: ServiceBusClient; admin: ServiceBusAdministrationClient } | undefined;
}

export interface Live {
  hub: LiveHub;
  tokens: GatewayTokens;
  /** negotiate, SSE, long-poll and gap-fill routes for `startHttpServer`. */
  routes: Route[];
  /**
   * What the consumer pushes to besides Web PubSub: the hub itself (one replica), or with
   * HERALD_DELIVERY_TOPIC the backplane sink (every replica's hub is then fed from the topic).
   */
  sinks: Sink[];
  backplane: BackplaneReceiver | undefined;
  /**
   * Ends every live connection and the backplane. Call it before closing the HTTP server: open SSE
   * responses would keep the server's close waiting.
   */
  close(): Promise<void>;
}

/**
 * Builds the live side of a gateway from the settings.
 *
 * @example
 * const live = await startLive({ settings, store, verifier, metrics, log, webPubSubUrl });
 * const consumer = new NotificationConsumer({ ..., sinks: [webPubSubSink, ...live.sinks] });
 * const http = await startHttpServer({ ..., routes: [...routes, ...live.routes] });
 * // shutdown: await live.close(); await http.close(); ...
 */
export async function startLive(options: LiveOptions): Promise<Live> {
  const { settings, store, metrics, log } = options;
  // Without a configured key, replicas on one Table store share the one kept in the store.
  const tokens = new GatewayTokens({
    secret: settings.HERALD_GATEWAY_TOKEN_SECRET ?? (await store.sharedSecret(GATEWAY_TOKEN_KEY_NAME)),
    ttlSeconds: settings.HERALD_GATEWAY_TOKEN_SECONDS,
  });
  const hub = new LiveHub({
    store,
    metrics,
    log,
    maxConnections: settings.HERALD_MAX_CONNECTIONS,
    maxConnectionsPerUser: settings.HERALD_MAX_CONNECTIONS_PER_USER,
    bufferBytes: settings.HERALD_CONNECTION_BUFFER_BYTES,
    heartbeatMs: settings.HERALD_SSE_HEARTBEAT_SECONDS * 1000,
  });
  const routes = liveRoutes({
    hub,
    tokens,
    verifier: options.verifier,
    webPubSubUrl: options.webPubSubUrl,
    publicUrl: settings.HERALD_PUBLIC_URL,
    allowedOrigins: settings.HERALD_ALLOWED_ORIGINS,
    log,
  });
  const topic = settings.HERALD_DELIVERY_TOPIC;
  if (!topic) {
    return { hub, tokens, routes, sinks: [hub], backplane: undefined, close: () => hub.close() };
  }
  if (!options.serviceBus) {
    throw new HeraldError(
      "HERALD_INVALID_CONFIG",
      "HERALD_DELIVERY_TOPIC: the backplane needs a Service Bus client and administration client",
      { target: "HERALD_DELIVERY_TOPIC" },
    );
  }
  const { client, admin } = options.serviceBus;
  const backplane = await BackplaneReceiver.start({ client, admin, topic, hub, metrics, log });
  const sink = new BackplaneSink({ client, topic, metrics });
  return {
    hub,
    tokens,
    routes,
    sinks: [sink],
    backplane,
    close: async () => {
      await hub.close();
      await Promise.allSettled([backplane.close(), sink.close()]);
    },
  };
}
