import type { InvocationContext } from "@azure/functions";
import {
  deliverNotification,
  errorName,
  INVALID_NOTIFICATION_REASON,
  type DeliverableMessage,
  type DeliveryContext,
} from "../gateway/delivery.js";
import type { Logger } from "../gateway/log.js";
import type { ApplicationProperties } from "../publisher/message.js";

/** A Service Bus topic trigger's handler, as `app.serviceBusTopic` takes it. */
export type AzureServiceBusHandler = (message: unknown, context: InvocationContext) => Promise<void>;

/**
 * Thrown for a message that is not a valid notification. The trigger runs with
 * `autoCompleteMessages`, which cannot dead-letter with a reason: the host abandons the message, and
 * Service Bus dead-letters it after MaxDeliveryCount deliveries (reason `MaxDeliveryCountExceeded`).
 * This error's `reason` and `description` go to the logs (docs/functions.md).
 */
export class InvalidNotificationError extends Error {
  override readonly name = "InvalidNotificationError";
  readonly reason = INVALID_NOTIFICATION_REASON;
  constructor(readonly description: string) {
    super(`${INVALID_NOTIFICATION_REASON}: ${description}`);
  }
}

/** Thrown when the store or a sink failed: the host abandons the message and Service Bus redelivers it. */
export class DeliveryFailedError extends Error {
  override readonly name = "DeliveryFailedError";
  constructor(
    readonly stage: string,
    cause: unknown,
  ) {
    super(`delivery failed at ${stage}: ${errorName(cause)}`, { cause });
  }
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** The message's application properties from the metadata, keeping only the value types Service Bus allows. */
function properties(value: unknown): ApplicationProperties | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  const kept: ApplicationProperties = {};
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === null || v instanceof Date || ["string", "number", "boolean"].includes(typeof v)) {
      kept[name] = v as ApplicationProperties[string];
    }
  }
  return kept;
}

function date(value: unknown): Date | undefined {
  if (value instanceof Date) return value;
  if (typeof value !== "string") return undefined;
  // The extension's *Utc properties are UTC even when written without a zone (.NET DateTime).
  const zoned = /T[\d:.]+$/.test(value) ? `${value}Z` : value;
  const parsed = new Date(zoned);
  return Number.isNaN(parsed.getTime()) ? undefined : parsed;
}

/**
 * The trigger's message as delivery reads it. The host hands the body over already decoded (a JSON
 * body as an object, text as a string, anything else as bytes) and the message's system properties
 * as trigger metadata (`messageId`, `subject`, `enqueuedTimeUtc`, `expiresAtUtc`, … in camelCase).
 * Text is turned back into bytes so the same strict JSON parse as the gateway's applies.
 * The metadata carries no TimeToLive, so stored frames never get a producer TTL here (see docs).
 */
export function toDeliverableMessage(
  body: unknown,
  metadata: Readonly<Record<string, unknown>> | undefined,
): DeliverableMessage {
  const m = metadata ?? {};
  const messageId = m.messageId;
  return {
    messageId: typeof messageId === "string" || typeof messageId === "number" ? messageId : undefined,
    subject: text(m.subject) ?? text(m.label),
    contentType: text(m.contentType),
    body: typeof body === "string" ? new TextEncoder().encode(body) : body,
    enqueuedTimeUtc: date(m.enqueuedTimeUtc),
    expiresAtUtc: date(m.expiresAtUtc),
    // A replayed dead letter carries its notification id here (`herald dlq replay`).
    applicationProperties: properties(m.applicationProperties) ?? properties(m.userProperties),
  };
}

/**
 * The fan-out: one Service Bus message -> the same store and sinks as the gateway's consumer
 * (`deliverNotification`), settled through the host: returning lets it complete the message,
 * throwing makes it abandon it (redelivery, then the dead-letter queue after MaxDeliveryCount).
 * `context` is resolved on each call, so the store and clients open on the first message.
 */
export function createFanoutHandler(
  context: () => Promise<DeliveryContext>,
  log: Logger,
): AzureServiceBusHandler {
  return async (body, invocation) => {
    const message = toDeliverableMessage(body, invocation.triggerMetadata);
    const ids = {
      notificationId: message.messageId,
      invocationId: invocation.invocationId,
      deliveryCount: invocation.triggerMetadata?.deliveryCount,
    };
    const outcome = await deliverNotification(message, await context());
    switch (outcome.kind) {
      case "delivered":
        log.debug({ ...ids, streams: outcome.streams }, "delivered");
        return;
      case "expired":
        log.debug(ids, "expired: completed without delivery");
        return;
      case "invalid": {
        log.warn(
          { ...ids, reason: outcome.description },
          "invalid notification: left for the dead-letter queue",
        );
        const error = new InvalidNotificationError(outcome.description);
        // Also in the invocation's own log, which Application Insights ties to the invocation.
        invocation.warn(`notification ${String(message.messageId)}: ${error.message}`);
        throw error;
      }
      case "failed": {
        log.warn({ ...ids, stage: outcome.stage, err: errorName(outcome.error) }, "delivery failed: retried");
        const error = new DeliveryFailedError(outcome.stage, outcome.error);
        invocation.warn(`notification ${String(message.messageId)}: ${error.message}`);
        throw error;
      }
    }
  };
}
