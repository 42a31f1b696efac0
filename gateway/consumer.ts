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
  /**
   * How long a message's lock is renewed while it waits for a slot or is processed; past it the lock
   * is left to expire and Service Bus redelivers the message. @default 300_000
   */
  maxLockRenewalMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/** What the consumer tracks for each message it holds locked (received, not yet settled). */
interface Held {
  readonly receivedAt: number;
  /** The lock span Service Bus granted on receipt (its LockDuration); renewal starts at half of it. */
  readonly lockSpanMs: number;
  renewing: boolean;
  /** Set once the message's receive link is gone: it cannot be settled any more. */
  linkLost: boolean;
  readonly onLinkLost: (() => void)[];
}

/** How often held messages are checked for lock renewal and a dropped receive link. */
const HOLD_TICK_MS = 250;

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
  readonly #held = new Map<ServiceBusReceivedMessage, Held>();
  #ticker: NodeJS.Timeout | undefined;

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
    // The SDK's own lock renewal is off: after a reconnect it keeps renewing (by lock token, which
    // Service Bus honours) the locks of messages received on the dead link, and those messages can no
    // longer be settled, so they would stay locked for the whole renewal window. The consumer renews
    // itself and stops as soon as a message's link is gone (see #tick).
    this.#receiver = client.createReceiver(topic, subscription, {
      receiveMode: "peekLock",
      maxAutoLockRenewalDurationInMs: 0,
    });
    this.#ticker = setInterval(() => this.#tick(), HOLD_TICK_MS);
    this.#ticker.unref();
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
    clearInterval(this.#ticker);
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
    const now = this.#now();
    this.#lastReceiveAt = now;
    const held: Held = {
      receivedAt: now,
      lockSpanMs: Math.max(0, (message.lockedUntilUtc?.getTime() ?? now) - now),
      renewing: false,
      linkLost: false,
      onLinkLost: [],
    };
    this.#held.set(message, held);
    await this.#slot();
    try {
      if (this.#closing) {
        await this.#settle(message, () => receiver.abandonMessage(message));
        return;
      }
      // Received on a link that has since dropped: processing it now would only be repeated when
      // Service Bus redelivers it.
      if (!this.#checkLink(message, held)) return;
      await this.#handle(receiver, message);
    } catch (err) {
      // Settlement itself failed (lock lost, connection dropped): Service Bus redelivers and the
      // store's dedup keeps the stream free of repeats.
      this.#log.warn({ notificationId: message.messageId, err: errorName(err) }, "settlement failed");
    } finally {
      this.#held.delete(message);
      this.#release();
    }
  }

  /**
   * Settles through the link the message came on, unless that link is gone: the SDK would send the
   * settlement down the dead link and wait for an answer that never comes (its operation timeout, on
   * every retry). The message's lock then simply expires and Service Bus redelivers it.
   * Resolves true when settled.
   */
  async #settle(message: ServiceBusReceivedMessage, settle: () => Promise<void>): Promise<boolean> {
    const held = this.#held.get(message);
    if (held && !this.#checkLink(message, held)) return false;
    const work = settle();
    if (!held) {
      await work;
      return true;
    }
    let lost: (() => void) | undefined;
    const linkLost = new Promise<false>((resolve) => {
      lost = () => resolve(false);
      held.onLinkLost.push(lost);
    });
    try {
      return await Promise.race([work.then(() => true as const), linkLost]);
    } finally {
      const i = held.onLinkLost.indexOf(lost!);
      if (i >= 0) held.onLinkLost.splice(i, 1);
      // The SDK's promise may still reject after the link was lost; nobody waits for it then.
      work.catch(() => undefined);
    }
  }

  /** False (and the message marked) once the link the message was received on is no longer open. */
  #checkLink(message: ServiceBusReceivedMessage, held: Held): boolean {
    if (held.linkLost) return false;
    if (receiveLinkOpen(message)) return true;
    held.linkLost = true;
    this.#options.metrics.linkLost.inc();
    this.#log.warn(
      { notificationId: message.messageId, deliveryCount: message.deliveryCount },
      "receive link dropped before settlement; Service Bus redelivers the message when its lock expires",
    );
    for (const wake of held.onLinkLost.splice(0)) wake();
    return false;
  }

  /** Renews the locks of held messages nearing expiry and notices messages whose link dropped. */
  #tick(): void {
    const receiver = this.#receiver;
    if (!receiver) return;
    const now = this.#now();
    const maxRenewal = this.#options.maxLockRenewalMs ?? 5 * 60_000;
    for (const [message, held] of this.#held) {
      if (!this.#checkLink(message, held) || held.renewing) continue;
      const lockedUntil = message.lockedUntilUtc?.getTime();
      if (lockedUntil === undefined || lockedUntil - now > held.lockSpanMs / 2) continue;
      if (now - held.receivedAt >= maxRenewal || lockedUntil <= now) continue;
      held.renewing = true;
      receiver
        .renewMessageLock(message)
        .catch((err: unknown) => {
          this.#log.warn({ notificationId: message.messageId, err: errorName(err) }, "lock renewal failed");
        })
        .finally(() => {
          held.renewing = false;
        });
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
        await this.#settle(message, () => receiver.completeMessage(message));
        return;
      case "invalid": {
        const settled = await this.#settle(message, () =>
          receiver.deadLetterMessage(message, {
            deadLetterReason: outcome.reason,
            deadLetterErrorDescription: outcome.description,
          }),
        );
        if (!settled) return;
        metrics.deadLettered.inc({ reason: outcome.reason });
        this.#log.warn(
          { notificationId: id, reason: outcome.description },
          "dead-lettered an invalid notification",
        );
        return;
      }
      case "failed":
        await this.#abandon(receiver, message, outcome.stage, outcome.error);
        return;
      case "delivered":
        if (!(await this.#settle(message, () => receiver.completeMessage(message)))) return;
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
    if (await this.#settle(message, () => receiver.abandonMessage(message))) {
      this.#options.metrics.abandoned.inc();
    }
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

/**
 * Whether the AMQP link a message was received on is still open. The SDK keeps the rhea delivery on
 * the message (not in its public types); without it, assume open and leave settlement to the SDK.
 */
function receiveLinkOpen(message: ServiceBusReceivedMessage): boolean {
  const link = (message as { delivery?: { link?: { is_open?: () => boolean } } }).delivery?.link;
  return typeof link?.is_open === "function" ? link.is_open() : true;
}
