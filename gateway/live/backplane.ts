/**
 * The backplane between gateway replicas (SignalR's Service Bus scale-out): the consumer hands frames
 * to `BackplaneSink`, which publishes them to the delivery topic; every replica has its own
 * subscription on that topic and feeds what it receives into its `LiveHub`. So a notification consumed
 * by replica A reaches the SSE and long-poll connections held by replica B.
 *
 * Delivery messages are hints, not the record: the stream store has every frame. They live one minute,
 * are received and deleted at once, and a replica that misses one fills the gap from the store when
 * the next frame of that stream shows the hole (or the client resumes from its cursor).
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import {
  isServiceBusError,
  type ServiceBusAdministrationClient,
  type ServiceBusClient,
  type ServiceBusMessage,
  type ServiceBusReceiver,
  type ServiceBusSender,
} from "@azure/service-bus";
import { HeraldError } from "../../core/errors.js";
import { isStreamId, type Frame } from "../../core/streams.js";
import type { Logger } from "../log.js";
import type { GatewayMetrics } from "../metrics.js";
import type { Sink } from "../sinks/types.js";

/** Version tag of the delivery message body. */
const VERSION = 1;
/** Stream positions per message: a notification to many users is split to stay far below 256 KB. */
export const MAX_TARGETS_PER_MESSAGE = 500;
/** A delivery older than this is useless live: clients resume from the store instead. */
export const DELIVERY_TTL_MS = 60_000;
/** How long a replica's subscription outlives the replica (Azure's minimum). */
export const SUBSCRIPTION_IDLE = "PT5M";
const SUBJECT = "herald.frames";

interface Delivery {
  id: string;
  type: string;
  ts: number;
  data: unknown;
  /** [stream, offset] pairs. */
  at: [string, number][];
}

/**
 * Encodes frames as delivery message bodies: frames of one notification share id, type, ts and data,
 * so each notification is written once with its list of stream positions.
 */
export function encodeDelivery(frames: readonly Frame[]): Buffer[] {
  const byId = new Map<string, Delivery>();
  for (const frame of frames) {
    let delivery = byId.get(frame.id);
    if (!delivery) {
      delivery = { id: frame.id, type: frame.type, ts: frame.ts, data: frame.data, at: [] };
      byId.set(frame.id, delivery);
    }
    delivery.at.push([frame.stream, frame.offset]);
  }
  const bodies: Buffer[] = [];
  for (const delivery of byId.values()) {
    for (let i = 0; i < delivery.at.length; i += MAX_TARGETS_PER_MESSAGE) {
      const part = { ...delivery, at: delivery.at.slice(i, i + MAX_TARGETS_PER_MESSAGE) };
      bodies.push(Buffer.from(JSON.stringify({ v: VERSION, n: [part] })));
    }
  }
  return bodies;
}

function invalid(reason: string): never {
  throw new HeraldError("HERALD_BAD_REQUEST", `delivery message: ${reason}`);
}

/**
 * Decodes and checks a delivery message body; throws HERALD_BAD_REQUEST saying what is wrong. The SDK
 * hands a JSON data section over already parsed; text and bytes are parsed here.
 */
export function decodeDelivery(body: unknown): Frame[] {
  let parsed: unknown = body;
  if (typeof body === "string" || body instanceof Uint8Array) {
    const text =
      typeof body === "string" ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString();
    try {
      parsed = JSON.parse(text);
    } catch {
      invalid("the body is not valid JSON");
    }
  }
  const root = parsed as { v?: unknown; n?: unknown };
  if (typeof root !== "object" || root === null || root.v !== VERSION || !Array.isArray(root.n)) {
    invalid(`expected { v: ${VERSION}, n: [...] }`);
  }
  const frames: Frame[] = [];
  for (const item of root.n as unknown[]) {
    const d = item as Partial<Delivery>;
    if (typeof d !== "object" || d === null) invalid("a notification is not an object");
    if (
      typeof d.id !== "string" ||
      typeof d.type !== "string" ||
      typeof d.ts !== "number" ||
      !("data" in d)
    ) {
      invalid("a notification lacks id, type, ts or data");
    }
    if (!Array.isArray(d.at) || d.at.length === 0) invalid("a notification has no stream positions");
    for (const pos of d.at) {
      const [stream, offset] = Array.isArray(pos) ? pos : [];
      if (!isStreamId(stream) || typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 1) {
        invalid("a stream position is not [stream id, offset >= 1]");
      }
      frames.push({ id: d.id, type: d.type, data: d.data, stream, offset, ts: d.ts });
    }
  }
  return frames;
}

export interface BackplaneSinkOptions {
  client: ServiceBusClient;
  /** HERALD_DELIVERY_TOPIC */
  topic: string;
  metrics?: GatewayMetrics | undefined;
}

/** Sink: publishes each push's frames to the delivery topic (rejects when Service Bus does not take them). */
export class BackplaneSink implements Sink {
  readonly name = "backplane";
  readonly #sender: ServiceBusSender;
  readonly #metrics: GatewayMetrics | undefined;

  constructor(options: BackplaneSinkOptions) {
    this.#sender = options.client.createSender(options.topic);
    this.#metrics = options.metrics;
  }

  async push(frames: readonly Frame[]): Promise<void> {
    if (frames.length === 0) return;
    const messages: ServiceBusMessage[] = encodeDelivery(frames).map((body) => ({
      body,
      contentType: "application/json",
      subject: SUBJECT,
      timeToLive: DELIVERY_TTL_MS,
    }));
    await this.#sender.sendMessages(messages.length === 1 ? messages[0]! : messages);
    this.#metrics?.backplaneMessages.inc({ direction: "published" }, messages.length);
  }

  close(): Promise<void> {
    return this.#sender.close();
  }
}

export interface BackplaneReceiverOptions {
  client: ServiceBusClient;
  /** Creates (and at close deletes) this replica's subscription. */
  admin: ServiceBusAdministrationClient;
  /** HERALD_DELIVERY_TOPIC */
  topic: string;
  /** Where received frames go (`LiveHub` fits). */
  hub: Sink;
  /** @default `<host>-<random>`, unique per process */
  subscription?: string | undefined;
  metrics?: GatewayMetrics | undefined;
  log?: Logger | undefined;
}

/** A subscription name unique to this process (≤ 50 characters of letters, digits, `.`, `-`, `_`). */
export function replicaSubscriptionName(): string {
  const host = hostname()
    .replace(/[^A-Za-z0-9.-]/g, "-")
    .slice(0, 30);
  return `${host || "replica"}-${randomBytes(6).toString("hex")}`;
}

/**
 * This replica's side of the backplane: its own subscription on the delivery topic, created at start
 * with auto-delete-on-idle (a crashed replica's subscription goes away by itself), received in
 * receive-and-delete mode, each message's frames pushed into the hub.
 */
export class BackplaneReceiver {
  readonly subscription: string;
  readonly #options: BackplaneReceiverOptions;
  readonly #log: Logger | undefined;
  #receiver: ServiceBusReceiver | undefined;
  #handle: { close(): Promise<void> } | undefined;
  #closed = false;

  private constructor(options: BackplaneReceiverOptions) {
    this.#options = options;
    this.subscription = options.subscription ?? replicaSubscriptionName();
    this.#log = options.log?.child({ component: "backplane", subscription: this.subscription });
  }

  /** Creates the subscription and starts receiving. */
  static async start(options: BackplaneReceiverOptions): Promise<BackplaneReceiver> {
    const receiver = new BackplaneReceiver(options);
    await receiver.#start();
    return receiver;
  }

  async #start(): Promise<void> {
    const { admin, client, topic, hub, metrics } = this.#options;
    try {
      await admin.createSubscription(topic, this.subscription, {
        autoDeleteOnIdle: SUBSCRIPTION_IDLE,
        defaultMessageTimeToLive: "PT1M",
        deadLetteringOnMessageExpiration: false,
      });
    } catch (err) {
      // The administration client reports a missing topic as a RestError with this code and 404.
      const code = (err as { code?: unknown }).code;
      if (
        code === "MessageEntityNotFoundError" ||
        (isServiceBusError(err) && code === "MessagingEntityNotFound")
      ) {
        throw new HeraldError(
          "HERALD_INVALID_CONFIG",
          `HERALD_DELIVERY_TOPIC: the topic "${topic}" does not exist; create it (Bicep or Config.json) or unset the setting`,
          { target: "HERALD_DELIVERY_TOPIC", cause: err },
        );
      }
      throw err;
    }
    this.#receiver = client.createReceiver(topic, this.subscription, { receiveMode: "receiveAndDelete" });
    this.#handle = this.#receiver.subscribe(
      {
        processMessage: async (message) => {
          let frames: Frame[];
          try {
            frames = decodeDelivery(message.body);
          } catch (err) {
            metrics?.backplaneMessages.inc({ direction: "invalid" });
            this.#log?.warn(
              { messageId: message.messageId, reason: (err as Error).message },
              "dropped an invalid delivery message",
            );
            return;
          }
          metrics?.backplaneMessages.inc({ direction: "received" });
          await hub.push(frames);
        },
        processError: async (args) => {
          const code = isServiceBusError(args.error) ? args.error.code : args.error.name;
          this.#log?.warn(
            { source: args.errorSource, code },
            "delivery topic receive error; the SDK retries",
          );
        },
      },
      // Many credits: one frame batch per message, and the hub's push is synchronous, so order holds.
      { maxConcurrentCalls: 64 },
    );
    this.#log?.info({ topic }, "backplane subscription created");
  }

  /** Stops receiving and deletes the subscription (auto-delete-on-idle removes it if this fails). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle?.close();
    await this.#receiver?.close();
    try {
      await this.#options.admin.deleteSubscription(this.#options.topic, this.subscription);
    } catch (err) {
      this.#log?.warn(
        { err: err instanceof Error ? err.message.slice(0, 200) : String(err) },
        "could not delete the backplane subscription; it goes when idle",
      );
    }
  }
}
