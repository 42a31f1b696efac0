import type { ServiceBusClientOptions } from "@azure/service-bus";
import { HeraldError } from "../core/errors.js";
import { cliSetting } from "./settings.js";

/**
 * A CLI command fails fast when Service Bus is not there, instead of the SDK's default of retrying
 * for minutes: two quick retries, 10 s per operation.
 */
export const CLI_BUS_OPTIONS: ServiceBusClientOptions = {
  retryOptions: {
    maxRetries: 2,
    retryDelayInMs: 300,
    maxRetryDelayInMs: 2000,
    timeoutInMs: 10_000,
  },
};

/** The Service Bus connection string: the flag, then HERALD_SERVICEBUS, then local.settings.json. */
export function busConnectionString(flag: string | undefined): string {
  const value = flag ?? cliSetting("HERALD_SERVICEBUS");
  if (!value) {
    throw new HeraldError(
      "HERALD_USAGE",
      "no Service Bus connection string: pass --servicebus or set HERALD_SERVICEBUS",
      { target: "--servicebus" },
    );
  }
  if (!/Endpoint=sb:\/\/[^;]+/i.test(value) || !/SharedAccessKey(Name)?=/i.test(value)) {
    throw new HeraldError(
      "HERALD_USAGE",
      "the Service Bus connection string needs Endpoint=sb://… and SharedAccessKeyName/SharedAccessKey",
      { target: "--servicebus" },
    );
  }
  return value;
}

/** The endpoint of a connection string, for messages (never the key). */
export function busEndpoint(connectionString: string): string {
  const endpoint = /Endpoint=(sb:\/\/[^;]+)/i.exec(connectionString)?.[1] ?? "Service Bus";
  const emulator = /UseDevelopmentEmulator=true/i.test(connectionString);
  // The emulator's well-known connection string names no port: the SDK uses 5672.
  return emulator && !/:\d+\/?$/.test(endpoint) ? `${endpoint.replace(/\/$/, "")}:5672` : endpoint;
}

/** Names the endpoint (and the entity, when it is the entity that is missing) after a failure. */
export function unreachable(connectionString: string, err: unknown, entity?: string): HeraldError {
  const reason =
    err instanceof Error
      ? "code" in err && typeof err.code === "string"
        ? err.code
        : err.message
      : String(err);
  if (reason === "MessagingEntityNotFound") {
    return new HeraldError(
      "HERALD_NOT_FOUND",
      `${entity ?? "the entity"} does not exist on ${busEndpoint(connectionString)}`,
      { cause: err },
    );
  }
  if (reason === "UnauthorizedAccess") {
    return new HeraldError(
      "HERALD_UNAUTHORIZED",
      `${busEndpoint(connectionString)} refused the connection string's key`,
      {
        cause: err,
      },
    );
  }
  return new HeraldError(
    "HERALD_UNREACHABLE",
    `Service Bus at ${busEndpoint(connectionString)} did not answer (${reason}); is \`herald start\` running?`,
    { cause: err },
  );
}
