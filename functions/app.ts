import type { HttpFunctionOptions, HttpMethod, ServiceBusTopicFunctionOptions } from "@azure/functions";
import type { ServiceBusClient } from "@azure/service-bus";
import type { Settings } from "../core/config.js";
import type { DeliveryContext } from "../gateway/delivery.js";
import { createNegotiateHandler, webPubSubUrlFunction } from "../gateway/handlers/negotiate.js";
import { createPublishHandler } from "../gateway/handlers/publish.js";
import type { Handler } from "../gateway/http/types.js";
import { OriginPolicy } from "../gateway/live/origin.js";
import { createPreflightHandler } from "../gateway/live/routes.js";
import { GATEWAY_TOKEN_KEY_NAME, GatewayTokens } from "../gateway/live/tokens.js";
import { createLogger, type Logger } from "../gateway/log.js";
import {
  openStore,
  publishAuthorizer,
  serviceBusClient,
  tokenVerifier,
  webPubSubClient,
} from "../gateway/services.js";
import { WebPubSubSink } from "../gateway/sinks/webpubsub.js";
import type { StreamStore } from "../gateway/store/types.js";
import { Publisher } from "../publisher/publisher.js";
import { createFanoutHandler, type AzureServiceBusHandler } from "./fanout.js";
import { azureHttpHandler, type AzureHttpHandler } from "./http.js";

/** Every method: the handlers answer the wrong ones with HERALD_METHOD_NOT_ALLOWED, as the gateway does. */
const ALL_METHODS: HttpMethod[] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/** The connection setting of the Service Bus trigger (the host reads `HERALD_SERVICEBUS` or `…__fullyQualifiedNamespace`). */
export const SERVICE_BUS_CONNECTION = "HERALD_SERVICEBUS";

export interface HeraldFunctions {
  publish: AzureHttpHandler;
  negotiate: AzureHttpHandler;
  fanout: AzureServiceBusHandler;
  /** Whether negotiate offers SSE and long-poll at the gateway (HERALD_PUBLIC_URL set, and a token key shared with it). */
  readonly fallbacks: boolean;
  /** Closes what the functions opened (tests; the host just ends the process). */
  close(): Promise<void>;
}

/** Caches a lazily built value; a failure is not cached, so the next call tries again. */
function lazy<T>(build: () => Promise<T>): { get(): Promise<T>; peek(): Promise<T> | undefined } {
  let value: Promise<T> | undefined;
  return {
    get: () =>
      (value ??= build().catch((err: unknown) => {
        value = undefined;
        throw err;
      })),
    peek: () => value,
  };
}

/**
 * The three functions over the gateway's handlers. Nothing connects here: Service Bus, Web PubSub
 * and the store open on the first invocation that needs them (a cold start pays only for its own).
 */
export function createFunctions(settings: Settings, options: { log?: Logger } = {}): HeraldFunctions {
  const log = (options.log ?? createLogger({ level: settings.HERALD_LOG_LEVEL })).child({
    component: "functions",
  });
  const verifier = tokenVerifier(settings);
  const webPubSub = webPubSubClient(settings);
  if (!webPubSub) log.warn("no Web PubSub configured (HERALD_WEBPUBSUB): negotiate offers no websocket");

  let bus: ServiceBusClient | undefined;
  const publisher = lazy(async () => {
    bus ??= serviceBusClient(settings);
    return new Publisher(bus.createSender(settings.HERALD_TOPIC), {
      maxDataBytes: settings.HERALD_MAX_DATA_BYTES,
    });
  });
  const store = lazy<StreamStore>(() => openStore(settings));

  const publishHandler = createPublishHandler({
    authorize: publishAuthorizer(settings, verifier),
    publisher: {
      publishBatch: async (notifications, publishOptions) =>
        (await publisher.get()).publishBatch(notifications, publishOptions),
    },
    onPublished: (ids, caller) => log.debug({ ids, caller }, "published"),
  });

  // Fallback URLs point at the gateway, which must accept this app's tokens: the same URL and the same
  // key — HERALD_GATEWAY_TOKEN_SECRET, or else the key the gateway keeps in the shared Table store.
  const gatewayUrl = settings.HERALD_PUBLIC_URL;
  const secret = settings.HERALD_GATEWAY_TOKEN_SECRET;
  const sharedKey = secret !== undefined || settings.HERALD_STORE === "table";
  const fallbacks = gatewayUrl !== undefined && sharedKey;
  if (gatewayUrl && !sharedKey) {
    log.warn(
      "HERALD_PUBLIC_URL is set but the gateway's token key is not shared (no HERALD_GATEWAY_TOKEN_SECRET, memory store): negotiate offers websocket only",
    );
  }
  const origins = new OriginPolicy(settings.HERALD_ALLOWED_ORIGINS, gatewayUrl);
  // Built on the first negotiate: the key may have to be read from the store.
  const negotiateHandler = lazy(async () =>
    createNegotiateHandler({
      verifier,
      tokens: fallbacks
        ? new GatewayTokens({
            secret: secret ?? (await (await store.get()).sharedSecret(GATEWAY_TOKEN_KEY_NAME)),
            ttlSeconds: settings.HERALD_GATEWAY_TOKEN_SECONDS,
          })
        : undefined,
      webPubSubUrl: webPubSub ? webPubSubUrlFunction(webPubSub) : undefined,
      publicUrl: gatewayUrl,
      origins,
      log,
    }),
  );
  const preflight = createPreflightHandler(origins, "POST, OPTIONS");
  const negotiate: Handler = (request) =>
    request.method === "OPTIONS"
      ? preflight(request)
      : negotiateHandler.get().then((handler) => handler(request));

  const sinks = webPubSub ? [new WebPubSubSink(webPubSub)] : [];
  const delivery = async (): Promise<DeliveryContext> => ({
    store: await store.get(),
    sinks,
    maxDataBytes: settings.HERALD_MAX_DATA_BYTES,
  });

  return {
    publish: azureHttpHandler(() => publishHandler),
    negotiate: azureHttpHandler(() => negotiate),
    fanout: createFanoutHandler(delivery, log),
    fallbacks,
    close: async () => {
      const opened = publisher.peek();
      if (opened) await (await opened.catch(() => undefined))?.close();
      const openedStore = store.peek();
      if (openedStore) await (await openedStore.catch(() => undefined))?.close();
      await bus?.close();
    },
  };
}

/** What `registerFunctions` needs of `app` from `@azure/functions`. */
export interface FunctionRegistrar {
  http(name: string, options: HttpFunctionOptions): void;
  serviceBusTopic(name: string, options: ServiceBusTopicFunctionOptions): void;
}

/**
 * Registers the functions with the host: `publish` (POST /api/notifications), `negotiate`
 * (POST /api/negotiate) and `fanout` (Service Bus topic trigger on HERALD_TOPIC / HERALD_FANOUT_SUBSCRIPTION).
 * The HTTP functions are anonymous at the host: Herald checks publish keys and JWTs itself.
 */
export function registerFunctions(
  registrar: FunctionRegistrar,
  functions: HeraldFunctions,
  settings: Settings,
): void {
  registrar.http("publish", {
    route: "notifications",
    methods: ALL_METHODS,
    authLevel: "anonymous",
    handler: functions.publish,
  });
  registrar.http("negotiate", {
    route: "negotiate",
    methods: ALL_METHODS,
    authLevel: "anonymous",
    handler: functions.negotiate,
  });
  registrar.serviceBusTopic("fanout", {
    connection: SERVICE_BUS_CONNECTION,
    topicName: settings.HERALD_TOPIC,
    subscriptionName: settings.HERALD_FANOUT_SUBSCRIPTION,
    cardinality: "one",
    // host.json sets autoCompleteMessages: return -> the host completes; throw -> it abandons.
    handler: functions.fanout,
  });
}
