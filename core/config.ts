/**
 * Herald's settings: one table of environment variable names shared by the gateway, the Functions
 * app, local.settings.json, the Bicep templates and the tests. Pure TypeScript: the caller passes
 * the environment in. `docs/configuration.md` lists every setting (a test checks it).
 */
import { HeraldError } from "./errors.js";

type Kind = "string" | "secret" | "url" | "int" | "bool" | "list";

interface SettingSpec<K extends Kind = Kind> {
  kind: K;
  /** Used when the variable is unset or empty. */
  default?: string;
  /** Allowed values for a string setting. */
  oneOf?: readonly string[];
  min?: number;
  max?: number;
  doc: string;
}

/**
 * Every setting Herald reads. Connection settings follow the Azure Functions convention: `X` holds a
 * connection string (local, emulators); `X__fullyQualifiedNamespace` / `X__serviceUri` /
 * `X__tableServiceUri` name the service for a managed identity (Azure).
 */
export const SETTINGS = {
  HERALD_SERVICEBUS: {
    kind: "secret",
    doc: "Service Bus connection string (local emulator or a key-based namespace).",
  },
  HERALD_SERVICEBUS__fullyQualifiedNamespace: {
    kind: "string",
    doc: "Service Bus namespace host (e.g. `herald.servicebus.windows.net`), used with a managed identity when `HERALD_SERVICEBUS` is unset.",
  },
  HERALD_TOPIC: {
    kind: "string",
    default: "notifications",
    doc: "Topic that notifications are published to.",
  },
  HERALD_SUBSCRIPTION: {
    kind: "string",
    default: "gateway",
    doc: "Subscription the gateway consumes.",
  },
  HERALD_FANOUT_SUBSCRIPTION: {
    kind: "string",
    default: "fanout",
    doc: "Subscription the Functions app's `fanout` consumes (its own, beside the gateway's).",
  },
  HERALD_CONCURRENCY: {
    kind: "int",
    default: "32",
    min: 1,
    max: 1000,
    doc: "Messages the gateway processes at once.",
  },
  HERALD_PREFETCH: {
    kind: "int",
    default: "100",
    min: 0,
    max: 10000,
    doc: "Messages prefetched from Service Bus.",
  },
  HERALD_WEBPUBSUB: {
    kind: "secret",
    doc: "Web PubSub connection string (local emulator or a key-based resource).",
  },
  HERALD_WEBPUBSUB__serviceUri: {
    kind: "url",
    doc: "Web PubSub endpoint (e.g. `https://herald.webpubsub.azure.com`), used with a managed identity when `HERALD_WEBPUBSUB` is unset.",
  },
  HERALD_WEBPUBSUB_HUB: { kind: "string", default: "herald", doc: "Web PubSub hub the gateway sends to." },
  HERALD_STORE: {
    kind: "string",
    default: "memory",
    oneOf: ["memory", "table"],
    doc: "Stream store: `memory` (one process, bounded) or `table` (Azure Table Storage).",
  },
  HERALD_STORAGE: {
    kind: "secret",
    doc: "Storage connection string for the `table` store (`UseDevelopmentStorage=true` for Azurite).",
  },
  HERALD_STORAGE__tableServiceUri: {
    kind: "url",
    doc: "Table service URL, used with a managed identity when `HERALD_STORAGE` is unset.",
  },
  HERALD_STREAMS_TABLE: { kind: "string", default: "heraldstreams", doc: "Table that holds the streams." },
  HERALD_RETENTION_SECONDS: {
    kind: "int",
    default: "86400",
    min: 60,
    max: 30 * 86400,
    doc: "How long a stream keeps a notification for resume and gap fill.",
  },
  HERALD_RETENTION_COUNT: {
    kind: "int",
    default: "10000",
    min: 10,
    max: 1_000_000,
    doc: "How many notifications a stream keeps at most.",
  },
  HERALD_MAX_DATA_BYTES: {
    kind: "int",
    default: "65536",
    min: 1,
    max: 200_000,
    doc: "Largest serialized `data` of a notification.",
  },
  HERALD_HOST: { kind: "string", default: "localhost", doc: "Address the gateway's HTTP server listens on." },
  HERALD_PORT: {
    kind: "int",
    default: "3000",
    min: 0,
    max: 65535,
    doc: "Port of the gateway's HTTP server.",
  },
  HERALD_PUBLIC_URL: {
    kind: "url",
    doc: "The gateway's public base URL, used in negotiate answers (default: derived from the request). On the Functions app: where its negotiate sends SSE and long-poll clients (with a token key shared with the gateway).",
  },
  HERALD_PUBLISH_KEYS: {
    kind: "list",
    doc: "Comma-separated keys accepted as `Authorization: Bearer <key>` on `POST /api/notifications`.",
  },
  HERALD_JWT_SECRET: { kind: "secret", doc: "HS256 secret for application JWTs (local use)." },
  HERALD_JWT_JWKS_URL: { kind: "url", doc: "JWKS URL of the identity provider (cloud use)." },
  HERALD_JWT_ISSUER: { kind: "string", doc: "Required `iss` of application JWTs." },
  HERALD_JWT_AUDIENCE: { kind: "string", doc: "Required `aud` of application JWTs." },
  HERALD_JWT_USER_CLAIM: { kind: "string", default: "sub", doc: "Claim that holds the user id." },
  HERALD_JWT_GROUPS_CLAIM: { kind: "string", default: "groups", doc: "Claim that holds the user's groups." },
  HERALD_JWT_PUBLISH_ROLE: {
    kind: "string",
    default: "herald.publish",
    doc: "Role (in the `roles` claim) that lets a JWT publish notifications.",
  },
  HERALD_DEV_TOKENS: {
    kind: "bool",
    default: "false",
    doc: "Development only: `POST /api/dev/token` signs an application JWT (any user, optionally with the publish role) with `HERALD_JWT_SECRET`, for the demo page. Anyone who reaches the gateway can then act as anyone: never turn it on in a deployment.",
  },
  HERALD_ALLOWED_ORIGINS: {
    kind: "list",
    doc: "Comma-separated browser origins allowed to call the gateway (`*` for any; empty: same origin only).",
  },
  HERALD_GATEWAY_TOKEN_SECRET: {
    kind: "secret",
    doc: "HS256 key (32+ characters) for the short-lived tokens in SSE, long-poll and gap-fill URLs. Unset: a random key kept in the stream store, shared by every replica and the Functions app on one Table store (per process with the memory store).",
  },
  HERALD_GATEWAY_TOKEN_SECONDS: {
    kind: "int",
    default: "600",
    min: 30,
    max: 86400,
    doc: "How long a gateway token from negotiate is accepted for opening a connection.",
  },
  HERALD_SSE_HEARTBEAT_SECONDS: {
    kind: "int",
    default: "15",
    min: 1,
    max: 200,
    doc: "Interval of the SSE comment heartbeat that keeps idle proxies and load balancers from closing the stream.",
  },
  HERALD_MAX_CONNECTIONS: {
    kind: "int",
    default: "20000",
    min: 1,
    max: 1_000_000,
    doc: "SSE connections and open long-polls one gateway process holds at most.",
  },
  HERALD_MAX_CONNECTIONS_PER_USER: {
    kind: "int",
    default: "20",
    min: 1,
    max: 10_000,
    doc: "SSE connections and open long-polls one user holds at most in one gateway process.",
  },
  HERALD_CONNECTION_BUFFER_BYTES: {
    kind: "int",
    default: "262144",
    min: 16384,
    max: 67_108_864,
    doc: "Bytes queued for one SSE connection before it is closed as a slow consumer (the client resumes from its cursor).",
  },
  HERALD_DELIVERY_TOPIC: {
    kind: "string",
    doc: "Service Bus topic that carries frames to every replica's SSE and long-poll connections (the backplane). Unset: the gateway feeds its own connections directly (one replica).",
  },
  HERALD_SERVICEBUS_MANAGEMENT_URL: {
    kind: "url",
    doc: "Management endpoint (`http://host:port`) of a Service Bus emulator, used to create the backplane's subscriptions (`HERALD_DELIVERY_TOPIC`). Unset: `http://<Endpoint host>:5300` when `HERALD_SERVICEBUS` has `UseDevelopmentEmulator=true`, else none (the SDK reaches a real namespace's management API itself). Set it only for an emulator.",
  },
  HERALD_LOG_LEVEL: {
    kind: "string",
    default: "info",
    oneOf: ["fatal", "error", "warn", "info", "debug", "trace", "silent"],
    doc: "Log level (pino).",
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;

type ValueOf<S> = S extends { kind: "int" }
  ? number
  : S extends { kind: "bool" }
    ? boolean
    : S extends { kind: "list" }
      ? string[]
      : string;

/** The parsed settings: a value for each name (undefined where unset and without a default). */
export type Settings = {
  readonly [N in SettingName]: (typeof SETTINGS)[N] extends { default: string }
    ? ValueOf<(typeof SETTINGS)[N]>
    : ValueOf<(typeof SETTINGS)[N]> | undefined;
};

function bad(name: string, reason: string): never {
  throw new HeraldError("HERALD_INVALID_CONFIG", `${name}: ${reason}`, { target: name });
}

function parseOne(name: string, spec: SettingSpec, raw: string): unknown {
  switch (spec.kind) {
    case "int": {
      if (!/^-?\d+$/.test(raw)) bad(name, `must be a whole number, got "${raw}"`);
      const n = Number(raw);
      if (spec.min !== undefined && n < spec.min) bad(name, `must be at least ${spec.min}, got ${n}`);
      if (spec.max !== undefined && n > spec.max) bad(name, `must be at most ${spec.max}, got ${n}`);
      return n;
    }
    case "bool":
      if (raw !== "true" && raw !== "false") bad(name, `must be true or false, got "${raw}"`);
      return raw === "true";
    case "list":
      return raw
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
    case "url":
      try {
        const url = new URL(raw);
        if (url.protocol !== "http:" && url.protocol !== "https:")
          bad(name, `must be an http(s) URL, got "${raw}"`);
      } catch (err) {
        if (err instanceof HeraldError) throw err;
        bad(name, `must be a URL, got "${raw}"`);
      }
      return raw;
    default:
      if (spec.oneOf && !spec.oneOf.includes(raw))
        bad(name, `must be one of ${spec.oneOf.join(", ")}, got "${raw}"`);
      return raw;
  }
}

/**
 * Reads every setting from `env`, applying defaults; throws HERALD_INVALID_CONFIG naming the first
 * bad variable and why. The result is frozen.
 */
export function readSettings(env: Readonly<Record<string, string | undefined>>): Settings {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(SETTINGS) as [string, SettingSpec][]) {
    const raw = env[name];
    const value = raw === undefined || raw === "" ? spec.default : raw;
    out[name] = value === undefined ? undefined : parseOne(name, spec, value);
  }
  return Object.freeze(out) as Settings;
}

/** Names of the settings that hold secrets: never logged, never in a template output. */
export const SECRET_SETTINGS: readonly SettingName[] = (Object.keys(SETTINGS) as SettingName[]).filter(
  (name) => SETTINGS[name].kind === "secret",
);

/**
 * Settings Herald needs in Azure, where every connection uses a managed identity and streams live in
 * Table Storage. The Bicep templates set each of them on both the gateway and the Functions app, and
 * `docs/deploy.md` lists them; `test/bicep.test.ts` checks both.
 */
export const AZURE_REQUIRED_SETTINGS = [
  "HERALD_SERVICEBUS__fullyQualifiedNamespace",
  "HERALD_TOPIC",
  "HERALD_WEBPUBSUB__serviceUri",
  "HERALD_WEBPUBSUB_HUB",
  "HERALD_STORE",
  "HERALD_STORAGE__tableServiceUri",
  "HERALD_STREAMS_TABLE",
  "HERALD_JWT_JWKS_URL",
  "HERALD_JWT_ISSUER",
  "HERALD_JWT_AUDIENCE",
  "HERALD_PUBLIC_URL",
] as const satisfies readonly SettingName[];
