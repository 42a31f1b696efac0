/**
 * Clients for Service Bus, Web PubSub and the stream store, built from the settings: a connection
 * string where one is set (local, emulators), else the service's name and a managed identity
 * (`DefaultAzureCredential`; `AZURE_CLIENT_ID` picks a user-assigned identity). Shared by the gateway
 * and the Functions app so both connect the same way.
 */
import { DefaultAzureCredential } from "@azure/identity";
import { RetryMode, ServiceBusAdministrationClient, ServiceBusClient } from "@azure/service-bus";
import { WebPubSubServiceClient } from "@azure/web-pubsub";
import type { Settings } from "../core/config.js";
import { HeraldError } from "../core/errors.js";
import { emulatorAdministrationOptions } from "../publisher/emulator-admin.js";
import { webPubSubClientFromConnectionString } from "./sinks/webpubsub.js";
import { createPublishAuthorizer, createTokenVerifier, type TokenVerifier } from "./auth/tokens.js";
import { MemoryStreamStore, TableStreamStore, type StreamStore } from "./store/index.js";

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

export function serviceBusClient(settings: Settings): ServiceBusClient {
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
export function administrationClient(settings: Settings): {
  admin: ServiceBusAdministrationClient;
  close(): void;
} {
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

export function webPubSubClient(settings: Settings): WebPubSubServiceClient | undefined {
  const hub = settings.HERALD_WEBPUBSUB_HUB;
  if (settings.HERALD_WEBPUBSUB) {
    // The emulator speaks plain http on loopback; the SDK refuses http unless told.
    return webPubSubClientFromConnectionString(settings.HERALD_WEBPUBSUB, hub, {
      allowInsecureConnection: isLoopbackHttp(settings.HERALD_WEBPUBSUB),
    });
  }
  const uri = settings.HERALD_WEBPUBSUB__serviceUri;
  return uri ? new WebPubSubServiceClient(uri, new DefaultAzureCredential(), hub) : undefined;
}

export async function openStore(settings: Settings): Promise<StreamStore> {
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

/** The verifier of application JWTs (negotiate, and publishing with a JWT). */
export function tokenVerifier(settings: Settings): TokenVerifier {
  return createTokenVerifier({
    secret: settings.HERALD_JWT_SECRET,
    jwksUrl: settings.HERALD_JWT_JWKS_URL,
    issuer: settings.HERALD_JWT_ISSUER,
    audience: settings.HERALD_JWT_AUDIENCE,
    userClaim: settings.HERALD_JWT_USER_CLAIM,
    groupsClaim: settings.HERALD_JWT_GROUPS_CLAIM,
  });
}

/** Checks the credential of a publish request: a key from HERALD_PUBLISH_KEYS, or a JWT with the publish role. */
export function publishAuthorizer(
  settings: Settings,
  verifier: TokenVerifier,
): (headers: Headers) => Promise<string> {
  return createPublishAuthorizer({
    keys: settings.HERALD_PUBLISH_KEYS ?? [],
    verifier,
    publishRole: settings.HERALD_JWT_PUBLISH_ROLE,
  });
}
