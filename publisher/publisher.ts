import {
  ServiceBusClient,
  isServiceBusError,
  type ServiceBusClientOptions,
  type ServiceBusMessage,
  type ServiceBusSender,
} from "@azure/service-bus";
import { HeraldError } from "../core/errors.js";
import {
  validateNotification,
  type NotificationInput,
  type ValidationOptions,
} from "../core/notification.js";
import { toServiceBusMessage, type ApplicationProperties } from "./message.js";

export const DEFAULT_TOPIC = "notifications";

export interface PublisherOptions extends ValidationOptions {
  /** @default "notifications" */
  topic?: string;
  /** Passed to `ServiceBusClient` when the publisher builds it from a connection string. */
  clientOptions?: ServiceBusClientOptions;
}

export interface PublishOptions {
  /** Application properties added to the Service Bus message(s) (for subscription rules). */
  applicationProperties?: ApplicationProperties;
  abortSignal?: AbortSignal;
}

/** Maps notification types to their data types, for `Publisher<Events>`. */
export type EventMap = Record<string, unknown>;

/** A notification whose `data` type follows its `type` when the publisher is typed. */
export type TypedNotificationInput<Events extends EventMap> = {
  [K in keyof Events & string]: Omit<NotificationInput<Events[K]>, "type" | "data"> & {
    type: K;
    data: Events[K];
  };
}[keyof Events & string];

/** Prefixes a validation error's target with the notification's index in a batch. */
function atIndex(err: unknown, index: number): unknown {
  if (!(err instanceof HeraldError)) return err;
  const target = err.target ? `[${index}].${err.target}` : `[${index}]`;
  return new HeraldError(err.code, `notification [${index}]: ${err.message}`, { target });
}

/** Seconds a caller should wait before retrying when Service Bus is unavailable. */
export const BUS_RETRY_AFTER_SECONDS = 5;

/** The one place Service Bus send errors become Herald errors. */
export function translateSendError(err: unknown): HeraldError {
  if (err instanceof HeraldError) return err;
  if (isServiceBusError(err) && err.code === "MessageSizeExceeded") {
    return new HeraldError(
      "HERALD_PAYLOAD_TOO_LARGE",
      "the notification(s) exceed the Service Bus message size limit",
      {
        cause: err,
      },
    );
  }
  const reason = isServiceBusError(err) ? err.code : err instanceof Error ? err.name : "unknown error";
  return new HeraldError(
    "HERALD_BUS_UNAVAILABLE",
    `Service Bus did not accept the notification (${reason})`,
    {
      cause: err,
    },
  );
}

/**
 * What backend services use to publish notifications. Validates, maps each notification onto one
 * Service Bus message (messageId = id, so Service Bus duplicate detection and Herald's store make
 * retries idempotent) and sends it to the topic.
 *
 * @example
 * const publisher = Publisher.fromConnectionString(process.env.HERALD_SERVICEBUS_CONNECTION!);
 * await publisher.publish({ type: "order.shipped", to: { users: ["alice"] }, data: { order: 7 } });
 */
export class Publisher<Events extends EventMap = EventMap> {
  readonly #sender: ServiceBusSender;
  readonly #ownedClient: ServiceBusClient | undefined;
  readonly #validation: ValidationOptions;

  constructor(sender: ServiceBusSender, options: ValidationOptions = {}, ownedClient?: ServiceBusClient) {
    this.#sender = sender;
    this.#ownedClient = ownedClient;
    this.#validation = { ...options };
  }

  static fromConnectionString<E extends EventMap = EventMap>(
    connectionString: string,
    options: PublisherOptions = {},
  ): Publisher<E> {
    const client = new ServiceBusClient(connectionString, options.clientOptions);
    const { topic = DEFAULT_TOPIC, ...validation } = options;
    return new Publisher<E>(client.createSender(topic), validation, client);
  }

  /** Publishes one notification; resolves with its id once Service Bus has accepted it. */
  async publish(
    notification: TypedNotificationInput<Events>,
    options: PublishOptions = {},
  ): Promise<{ ids: string[] }> {
    return this.publishBatch([notification], options);
  }

  /**
   * Publishes several notifications as ONE Service Bus batch: all are accepted or none is. Fails
   * with HERALD_PAYLOAD_TOO_LARGE when they do not fit in one batch.
   */
  async publishBatch(
    notifications: readonly TypedNotificationInput<Events>[],
    options: PublishOptions = {},
  ): Promise<{ ids: string[] }> {
    const messages: ServiceBusMessage[] = notifications.map((input, i) => {
      try {
        return toServiceBusMessage(
          validateNotification(input, this.#validation),
          options.applicationProperties,
        );
      } catch (err) {
        throw notifications.length > 1 ? atIndex(err, i) : err;
      }
    });
    const ids = messages.map((m) => m.messageId as string);
    if (messages.length === 0) return { ids };
    const abort = options.abortSignal ? { abortSignal: options.abortSignal } : {};
    try {
      if (messages.length === 1) {
        await this.#sender.sendMessages(messages[0]!, abort);
        return { ids };
      }
      const batch = await this.#sender.createMessageBatch(abort);
      for (const message of messages) {
        if (!batch.tryAddMessage(message)) {
          throw new HeraldError(
            "HERALD_PAYLOAD_TOO_LARGE",
            `the ${messages.length} notifications do not fit in one Service Bus batch (${batch.maxSizeInBytes} bytes)`,
          );
        }
      }
      await this.#sender.sendMessages(batch, abort);
      return { ids };
    } catch (err) {
      throw translateSendError(err);
    }
  }

  async close(): Promise<void> {
    await this.#sender.close();
    await this.#ownedClient?.close();
  }
}
