/**
 * A message as the broker keeps it: the sender's bare message and annotations as encoded bytes
 * (never a decoded object graph), plus the handful of broker fields the routing and locking code
 * reads. Header and annotations are re-encoded per delivery.
 */
import { randomUUID } from "node:crypto";
import {
  AmqpSymbol,
  AmqpUuid,
  AmqpWriter,
  SECTION,
  decodeProperties,
  findApplicationProperties,
  readRawMap,
  readSectionDescriptor,
  skipValue,
  type AmqpValue,
  type MessageProperties,
  type ParsedMessage,
  type RawEntry,
} from "../amqp/codec.js";
import type { TimerHandle } from "./timers.js";

export const MessageState = {
  Available: 0,
  Locked: 1,
  Deferred: 2,
  Scheduled: 3,
  Removed: 4,
} as const;
export type MessageState = (typeof MessageState)[keyof typeof MessageState];

/** Annotations the broker sets itself; a sender's copies are dropped on the way in. */
const BROKER_ANNOTATIONS = new Set([
  "x-opt-sequence-number",
  "x-opt-enqueued-time",
  "x-opt-locked-until",
  "x-opt-message-state",
  "x-opt-deadletter-source",
  "x-opt-enqueue-sequence-number",
  "x-opt-lock-token",
]);

export class StoredMessage {
  seq = 0;
  enqueuedAt = 0;
  /** Absolute expiry (ms since epoch); Infinity when the message never expires. */
  expiresAt = Infinity;
  /** Effective time-to-live in ms (0 = none), reported back in the header. */
  ttl = 0;
  /** Scheduled enqueue time (ms since epoch), 0 when not scheduled. */
  scheduledAt = 0;
  /** How many times the message has been handed out under a lock (or in receive-and-delete). */
  deliveryCount = 0;
  state: MessageState = MessageState.Available;
  lockToken: string | undefined = undefined;
  lockedUntil = 0;
  /** What holds the lock (a consumer link), when it was delivered over a link. */
  holder: object | undefined = undefined;
  durable: boolean | undefined = undefined;
  priority: number | undefined = undefined;
  messageId: string | undefined = undefined;
  sessionId: string | undefined = undefined;
  deadLetterSource: string | undefined = undefined;
  /** Received through receive-by-sequence-number: an abandon or lock expiry defers it again. */
  fromDeferred = false;
  /** Pending lock-expiry timer. */
  lockTimer: TimerHandle | undefined = undefined;
  /** Pending TTL-expiry or scheduled-activation timer. */
  timer: TimerHandle | undefined = undefined;

  constructor(
    /** Properties, application properties, body and footer as the sender encoded them. */
    public bare: Buffer,
    /** The sender's message annotations: concatenated encoded key/value pairs. */
    public ann: Buffer | undefined,
    public annCount: number,
  ) {}

  get size(): number {
    return this.bare.length + (this.ann?.length ?? 0);
  }

  /** A copy for another store (fan-out, forwarding, dead-lettering); buffers are shared, never mutated. */
  copy(): StoredMessage {
    const m = new StoredMessage(this.bare, this.ann, this.annCount);
    m.seq = this.seq;
    m.enqueuedAt = this.enqueuedAt;
    m.expiresAt = this.expiresAt;
    m.ttl = this.ttl;
    m.scheduledAt = this.scheduledAt;
    m.deliveryCount = this.deliveryCount;
    m.durable = this.durable;
    m.priority = this.priority;
    m.messageId = this.messageId;
    m.sessionId = this.sessionId;
    m.deadLetterSource = this.deadLetterSource;
    return m;
  }
}

/** Text form of an AMQP message-id / correlation-id, as Service Bus exposes it. */
export function idToString(v: AmqpValue | undefined): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (v instanceof AmqpUuid) return v.toString();
  if (Buffer.isBuffer(v)) return v.toString("hex");
  if (v instanceof AmqpSymbol) return v.value;
  return String(v);
}

/** Builds a stored message from a parsed incoming one (sequence, times and TTL are set by the broker). */
export function storedFromParsed(p: ParsedMessage): StoredMessage {
  const kept = p.annotations.filter((e) => !BROKER_ANNOTATIONS.has(e.key));
  const ann = kept.length === 0 ? undefined : Buffer.concat(kept.map((e) => e.bytes));
  let bare = p.bare;
  let messageId = idToString(p.properties.messageId);
  if (messageId === undefined) {
    // Service Bus gives every message an id (clients rely on it, e.g. for lock renewal).
    messageId = randomUUID().replace(/-/g, "");
    bare = rewriteBare(bare, { properties: { ...p.properties, messageId } });
  }
  const m = new StoredMessage(bare, ann, kept.length);
  m.durable = p.header?.durable;
  m.priority = p.header?.priority;
  m.messageId = messageId;
  m.sessionId = p.properties.groupId;
  return m;
}

/** The sender's requested TTL (header ttl), if any. */
export function requestedTtl(p: ParsedMessage): number | undefined {
  const ttl = p.header?.ttl;
  return ttl !== undefined && ttl > 0 ? ttl : undefined;
}

/** The sender's scheduled enqueue time annotation, if any (ms since epoch). */
export function scheduledTime(p: ParsedMessage): number | undefined {
  for (const e of p.annotations) {
    if (e.key === "x-opt-scheduled-enqueue-time") {
      if (e.value instanceof Date) return e.value.getTime();
      if (typeof e.value === "number") return e.value;
    }
  }
  return undefined;
}

export interface DeliveryAnnotations {
  lockedUntil?: number;
  /** 1 = deferred, 2 = scheduled (reported by peek and receive-by-sequence-number). */
  messageState?: number;
}

/**
 * Encodes a message for one delivery: a fresh header (with the delivery count) and message
 * annotations (broker fields first, then the sender's), followed by the untouched bare message.
 */
export function encodeForDelivery(
  m: StoredMessage,
  headerDeliveryCount: number,
  extra: DeliveryAnnotations,
): Buffer {
  // One reused writer: the only allocation per delivery is the result.
  const w = deliveryWriter.reset();
  w.descriptor(SECTION.header);
  const list = w.begin(0xd0);
  if (m.durable === undefined) w.null();
  else w.boolean(m.durable);
  if (m.priority === undefined) w.null();
  else w.ubyte(m.priority);
  if (m.ttl > 0 && m.ttl <= 0xffff_ffff) w.uint(m.ttl);
  else w.null();
  w.null();
  w.uint(headerDeliveryCount);
  w.end(list, 5);
  w.descriptor(SECTION.messageAnnotations);
  const map = w.begin(0xd1);
  let n = 2;
  w.symbol("x-opt-enqueued-time").timestamp(m.enqueuedAt);
  w.symbol("x-opt-sequence-number").long(m.seq);
  if (extra.lockedUntil !== undefined) {
    w.symbol("x-opt-locked-until").timestamp(extra.lockedUntil);
    n++;
  }
  if (extra.messageState !== undefined && extra.messageState !== 0) {
    w.symbol("x-opt-message-state").int(extra.messageState);
    n++;
  }
  if (m.deadLetterSource !== undefined) {
    w.symbol("x-opt-deadletter-source").string(m.deadLetterSource);
    n++;
  }
  if (m.ann !== undefined) {
    w.raw(m.ann);
    n += m.annCount;
  }
  w.end(map, n * 2);
  return w.toBufferWith(m.bare);
}

const deliveryWriter = new AmqpWriter(4096);

/** Decoded application properties of a bare message, keeping each entry's encoding. */
export function readApplicationProperties(bare: Buffer): RawEntry[] {
  const range = findApplicationProperties(bare);
  if (!range) return [];
  const [, valueStart] = readSectionDescriptor(bare, range[0]);
  return readRawMap(bare, valueStart)[0];
}

/** Decoded properties section of a bare message ({} when it has none). */
export function readProperties(bare: Buffer): MessageProperties {
  if (bare.length === 0) return {};
  const [code, valueStart] = readSectionDescriptor(bare, 0);
  if (code !== SECTION.properties) return {};
  return decodeProperties(bare, valueStart)[0];
}

function encodeProperties(w: AmqpWriter, p: MessageProperties): void {
  w.descriptor(SECTION.properties);
  const list = w.begin(0xd0);
  const opt = <T>(v: T | undefined, write: (v: T) => void): void => {
    if (v === undefined) w.null();
    else write(v);
  };
  opt(p.messageId, (v) => w.value(v));
  opt(p.userId, (v) => w.binary(v));
  opt(p.to, (v) => w.string(v));
  opt(p.subject, (v) => w.string(v));
  opt(p.replyTo, (v) => w.string(v));
  opt(p.correlationId, (v) => w.value(v));
  opt(p.contentType, (v) => w.symbol(v));
  opt(p.contentEncoding, (v) => w.symbol(v));
  opt(p.absoluteExpiryTime, (v) => w.timestamp(v.getTime()));
  opt(p.creationTime, (v) => w.timestamp(v.getTime()));
  opt(p.groupId, (v) => w.string(v));
  opt(p.groupSequence, (v) => w.uint(v));
  opt(p.replyToGroupId, (v) => w.string(v));
  w.end(list, 13);
}

export interface BareChanges {
  /** New properties section (replaces the old one entirely). */
  properties?: MessageProperties;
  /** Application properties to set (encoded afresh); `undefined` values delete the key. */
  set?: Map<string, AmqpValue | undefined>;
}

/**
 * Returns a new bare message with the properties section and/or application properties changed;
 * entries that do not change keep their original encoding.
 */
export function rewriteBare(bare: Buffer, changes: BareChanges): Buffer {
  let off = 0;
  let propsEnd = 0;
  let appStart = -1;
  let appEnd = -1;
  let entries: RawEntry[] = [];
  while (off < bare.length) {
    const start = off;
    const [code, valueStart] = readSectionDescriptor(bare, off);
    const end = skipValue(bare, valueStart);
    if (code === SECTION.properties) propsEnd = end;
    else if (code === SECTION.applicationProperties) {
      appStart = start;
      appEnd = end;
      entries = readRawMap(bare, valueStart)[0];
      break;
    } else break;
    off = end;
  }
  const w = new AmqpWriter(bare.length + 64);
  if (changes.properties) encodeProperties(w, changes.properties);
  else w.raw(bare.subarray(0, propsEnd));
  const set = changes.set;
  if (set && set.size > 0) {
    const kept = entries.filter((e) => !set.has(e.key));
    const added = [...set].filter(([, v]) => v !== undefined);
    if (kept.length + added.length > 0) {
      w.described(SECTION.applicationProperties, (w) => {
        w.map((w) => {
          for (const e of kept) w.raw(e.bytes);
          for (const [k, v] of added) w.string(k).value(v);
          return kept.length + added.length;
        });
      });
    }
  } else if (appStart >= 0) {
    w.raw(bare.subarray(appStart, appEnd));
  }
  const restStart = appStart >= 0 ? appEnd : propsEnd;
  w.raw(bare.subarray(restStart));
  return w.toBuffer();
}
