/**
 * How a notification travels on Service Bus. One message on the topic:
 * `messageId` = id, `subject` = type, `contentType` = application/json, body = `{ type, to, data }`
 * (UTF-8 JSON in one AMQP data section), TTL and scheduled enqueue time from `ttlSeconds` /
 * `deliverAt`; the producer's application properties pass through. Any language can publish this.
 */
import type { ServiceBusMessage, ServiceBusReceivedMessage } from "@azure/service-bus";
import { HeraldError } from "../core/errors.js";
import { validateNotification, type Notification, type ValidationOptions } from "../core/notification.js";

export const NOTIFICATION_CONTENT_TYPE = "application/json";

/**
 * Application property that carries the notification id when the message id cannot: `herald dlq
 * replay` resends a dead-lettered notification under a new message id (the topic's duplicate
 * detection would drop the original id) and keeps the notification id here, so the store and the
 * clients still see one notification.
 */
export const NOTIFICATION_ID_PROPERTY = "herald-notification-id";

export type ApplicationProperties = NonNullable<ServiceBusMessage["applicationProperties"]>;

/** Maps a validated notification onto the Service Bus message that carries it. */
export function toServiceBusMessage(
  notification: Notification,
  applicationProperties?: ApplicationProperties,
): ServiceBusMessage {
  const message: ServiceBusMessage = {
    messageId: notification.id,
    subject: notification.type,
    contentType: NOTIFICATION_CONTENT_TYPE,
    body: { type: notification.type, to: notification.to, data: notification.data },
  };
  if (notification.ttlSeconds !== undefined) message.timeToLive = notification.ttlSeconds * 1000;
  if (notification.deliverAt !== undefined)
    message.scheduledEnqueueTimeUtc = new Date(notification.deliverAt);
  if (applicationProperties && Object.keys(applicationProperties).length > 0) {
    message.applicationProperties = { ...applicationProperties };
  }
  return message;
}

/** What the consumer needs of a received message (a subset of `ServiceBusReceivedMessage`). */
export type ReceivedNotificationMessage = Pick<ServiceBusReceivedMessage, "messageId" | "subject" | "body"> &
  Partial<
    Pick<
      ServiceBusReceivedMessage,
      "timeToLive" | "enqueuedTimeUtc" | "expiresAtUtc" | "contentType" | "applicationProperties"
    >
  >;

/**
 * Reads a notification back from a received Service Bus message, validating it as strictly as
 * the HTTP endpoint does. Throws a `HeraldError` naming the problem; the consumer dead-letters
 * such a message with reason `InvalidNotification`.
 */
export function fromServiceBusMessage(
  message: ReceivedNotificationMessage,
  options: ValidationOptions = {},
): Notification {
  let body: unknown = message.body;
  // A producer that set no JSON content type may still have sent JSON bytes.
  if (body instanceof Uint8Array) {
    try {
      body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
    } catch {
      throw new HeraldError("HERALD_MALFORMED_JSON", "the message body is not UTF-8 JSON", {
        target: "body",
      });
    }
  }
  const carried = message.applicationProperties?.[NOTIFICATION_ID_PROPERTY];
  const id = typeof carried === "string" && carried !== "" ? carried : message.messageId;
  if (typeof id !== "string" || id === "") {
    throw new HeraldError("HERALD_INVALID_FIELD", "the message has no string messageId", {
      target: "messageId",
    });
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HeraldError(
      "HERALD_INVALID_FIELD",
      "the message body must be a JSON object { type, to, data }",
      { target: "body" },
    );
  }
  for (const key of Object.keys(body)) {
    if (key !== "type" && key !== "to" && key !== "data") {
      throw new HeraldError("HERALD_UNKNOWN_FIELD", `body.${key} is not part of { type, to, data }`, {
        target: `body.${key}`,
      });
    }
  }
  const notification = validateNotification({ ...body, id }, options);
  if (message.subject !== undefined && message.subject !== notification.type) {
    throw new HeraldError(
      "HERALD_INVALID_TYPE",
      `subject "${message.subject}" differs from body.type "${notification.type}"`,
      {
        target: "subject",
      },
    );
  }
  return notification;
}
