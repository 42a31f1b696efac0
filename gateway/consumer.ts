import type {
  ProcessErrorArgs,
  ServiceBusClient,
  ServiceBusReceivedMessage,
  ServiceBusReceiver,
} from "@azure/service-bus";
import { deliverNotification, errorName } from "./delivery.js";
import type { Logger } from "./log.js";
import type { GatewayMetrics } from "./metrics.js";
import type { Sink } from "./sinks/types.js";
import type { StreamStore } from "./store/types.js";

export { INVALID_NOTIFICATION_REASON } from "./delivery.js";

export interface ConsumerOptions {
  client: ServiceBusClient;
  topic: string;
  subscription: string;
  /** Messages processed at once. */
  concurrency: number;
  /** Messages held locked and ready (>= concurrency); the receiver's credit. */
  prefetch: number;
  store: StreamStore;
  sinks: readonly Sink[];
  log: Logger;
  metrics: GatewayMetrics;
  maxDataBytes: number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Moves notifications from the Service Bus subscription into the stream store and out to the
 * sinks, settling each message only when that is done:
 * valid -> append to every target stream -> push -> complete;
 * invalid -> dead-letter (`InvalidNotification` with a description);
 * store or sink failure -> abandon (Service Bus redelivers; MaxDeliveryCount bounds the retries);
 * expired -> complete without delivery.
 * Redelivery is idempotent: the store returns the original frames for a notification id it holds.
 */
export class NotificationConsumer {
  readonly #options: ConsumerOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  #receiver: ServiceBusReceiver | undefined;
  #subscription: { close(): Promise<void> } | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  /** Messages received and waiting for a processing slot. */
  readonly #waiting: (() => void)[] = [];
  #active = 0;
  #closing = false;
  #lastError: { at: number; code: string } | undefined;
  #lastReceiveAt = 0;

  constructor(options: ConsumerOptions) {
    if (options.prefetch < options.concurrency) {
      throw new RangeError(
        `prefetch (${options.prefetch}) must be at least concurrency (${options.concurrency})`,
      );
    }
    this.#options = options;
    this.#log = options.log.child({ component: "consumer" });
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    const { client, topic, subscription, prefetch } = this.#options;
    this.#receiver = client.createReceiver(topic, subscription, {
      receiveMode: "peekLock",
      maxAutoLockRenewalDurationInMs: 5 * 60_000,
    });
    // The SDK's credit equals maxConcurrentCalls; processing is gated below to `concurrency`,
    // so the difference is held locally as prefetched messages.
    this.#subscription = this.#receiver.subscribe(
      {
        processMessage: (message) => this.#track(this.#process(message)),
        processError: async (args) => this.#onError(args),
      },
      { autoCompleteMessages: false, maxConcurrentCalls: prefetch },
    );
  }

  /** The last receive error, for readiness: undefined once messages flow again. */
  get lastError(): { at: number; code: string } | undefined {
    return this.#lastError && this.#lastError.at > this.#lastReceiveAt ? this.#lastError : undefined;
  }

  /** Checks the connection to the subscription (a peek does not lock or consume). */
  async probe(): Promise<void> {
    if (!this.#receiver) throw new Error("the consumer is not started");
    await this.#receiver.peekMessages(1);
    this.#lastReceiveAt = this.#now();
  }

  /** Stops receiving, finishes and settles what is in flight, then closes the receiver. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    await this.#subscription?.close();
    for (const wake of this.#waiting.splice(0)) wake();
    await Promise.allSettled([...this.#inFlight]);
    await this.#receiver?.close();
  }

  #track(work: Promise<void>): Promise<void> {
    this.#inFlight.add(work);
    return work.finally(() => this.#inFlight.delete(work));
  }

  async #slot(): Promise<void> {
    if (this.#active < this.#options.concurrency) {
      this.#active++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#active++;
  }

  #release(): void {
    this.#active--;
    this.#waiting.shift()?.();
  }

  async #process(message: ServiceBusReceivedMessage): Promise<void> {
    const receiver = this.#receiver!;
    const { metrics } = this.#options;
    metrics.received.inc();
    this.#lastReceiveAt = this.#now();
    await this.#slot();
    try {
      if (this.#closing) {
        await receiver.abandonMessage(message);
        return;
      }
      await this.#handle(receiver, message);
    } catch (err) {
      // Settlement itself failed (lock lost, connection dropped): Service Bus redelivers and the
      // store's dedup keeps the stream free of repeats.
      this.#log.warn({ notificationId: message.messageId, err: errorName(err) }, "settlement failed");
    } finally {
      this.#release();
    }
  }

  async #handle(receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage): Promise<void> {
    const { metrics, store, sinks, maxDataBytes } = this.#options;
    const id = message.messageId;
    const outcome = await deliverNotification(message, {
      store,
      sinks,
      maxDataBytes,
      metrics,
      now: this.#now,
    });
    switch (outcome.kind) {
      case "expired":
        await receiver.completeMessage(message);
        return;
      case "invalid":
        await receiver.deadLetterMessage(message, {
          deadLetterReason: outcome.reason,
          deadLetterErrorDescription: outcome.description,
        });
        metrics.deadLettered.inc({ reason: outcome.reason });
        this.#log.warn(
          { notificationId: id, reason: outcome.description },
          "dead-lettered an invalid notification",
        );
        return;
      case "failed":
        await this.#abandon(receiver, message, outcome.stage, outcome.error);
        return;
      case "delivered":
        await receiver.completeMessage(message);
        metrics.completed.inc();
        this.#log.debug(
          { notificationId: id, streams: outcome.streams, deliveryCount: message.deliveryCount },
          "delivered",
        );
    }
  }

  async #abandon(
    receiver: ServiceBusReceiver,
    message: ServiceBusReceivedMessage,
    stage: string,
    err: unknown,
  ): Promise<void> {
    this.#log.warn(
      { notificationId: message.messageId, stage, err: errorName(err), deliveryCount: message.deliveryCount },
      "abandoned",
    );
    this.#options.metrics.abandoned.inc();
    await receiver.abandonMessage(message);
  }

  #onError(args: ProcessErrorArgs): void {
    const code =
      "code" in args.error && typeof args.error.code === "string" ? args.error.code : args.error.name;
    this.#lastError = { at: this.#now(), code };
    this.#log.warn(
      { source: args.errorSource, code, entity: args.entityPath },
      "receive error; the SDK retries",
    );
  }
}
