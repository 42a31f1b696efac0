/**
 * Everything that reaches into rhea's internals lives here (rhea is pinned to an exact
 * version). rhea handles framing, SASL, heartbeats and link/session state; these helpers give
 * the server raw message bytes, exact credit, and deferred attach responses.
 */
import rhea from "rhea";
import type { Connection, Delivery, Receiver, Sender, Session } from "rhea";

export { rhea };

/** `message_format` marker for a standard message delivered raw (rhea would decode format 0). */
export const RAW_FORMAT = -1;

interface TransferFrame {
  performative: { message_format?: number; more?: boolean };
  payload?: Buffer;
}

interface IncomingInternals {
  on_transfer(frame: TransferFrame, link: unknown): void;
}

interface SessionInternals {
  incoming: IncomingInternals;
  outgoing: { available(): number };
  __heraldRaw?: boolean;
}

interface ReceiverInternals {
  _incomplete?: { frames?: Buffer[] };
}

/** Largest single delivery accepted before the connection is dropped (oversize sends below it are rejected politely). */
export const MAX_DELIVERY_BYTES = 16 * 1024 * 1024;

/**
 * Makes this session hand standard (format 0) messages to the `message` event as raw bytes with
 * `format === RAW_FORMAT`, instead of decoding them into objects, and caps delivery size.
 */
export function rawTransfers(session: Session, onOversize: (link: Receiver) => void): void {
  const s = session as unknown as SessionInternals;
  if (s.__heraldRaw) return;
  s.__heraldRaw = true;
  const incoming = s.incoming;
  const original = incoming.on_transfer.bind(incoming);
  incoming.on_transfer = (frame, link) => {
    const p = frame.performative;
    if (p.message_format === 0 || p.message_format === undefined) p.message_format = RAW_FORMAT;
    original(frame, link);
    const pending = (link as ReceiverInternals)._incomplete?.frames;
    if (pending) {
      let total = 0;
      for (const f of pending) total += f?.length ?? 0;
      if (total > MAX_DELIVERY_BYTES) onOversize(link as Receiver);
    }
  };
}

interface LinkInternals {
  credit: number;
  delivery_count: number;
  local: {
    attach: {
      snd_settle_mode?: number;
      rcv_settle_mode?: number;
      max_message_size?: number;
      properties?: Record<string, unknown>;
    };
  };
  state: { local_open: boolean; open_requests: number };
  session: Session;
}

function internals(link: Sender | Receiver): LinkInternals {
  return link as unknown as LinkInternals;
}

interface CircularBufferInternals {
  capacity: number;
  size: number;
  tail: number;
  entries: unknown[];
}

interface OutgoingInternals {
  available(): number;
  next_delivery_id: number;
  /** Id of the first delivery rhea has not yet put on the wire (it waits for credit). */
  next_pending_delivery: number;
  deliveries: CircularBufferInternals;
}

function outgoingOf(link: Sender | Receiver): OutgoingInternals {
  return (internals(link).session as unknown as { outgoing: OutgoingInternals }).outgoing;
}

/**
 * Whether rhea has transferred an outgoing delivery. `link.send()` only queues a delivery; rhea
 * transfers it (and only then counts the credit down) when it processes the session.
 */
export function isTransferred(delivery: Delivery): boolean {
  const d = delivery as unknown as { id: number; link: Sender };
  return d.id < outgoingOf(d.link).next_pending_delivery;
}

/**
 * Credit the peer has granted that no queued delivery uses yet: rhea's credit minus the
 * deliveries queued on the link but not transferred. (rhea's credit already reflects a drain:
 * answering one moves delivery-count past the unused credit and leaves none.)
 */
export function availableCredit(sender: Sender, untransferred: number): number {
  const credit = internals(sender).credit - untransferred;
  return Math.max(0, Math.min(credit, outgoingOf(sender).available()));
}

/**
 * Takes back deliveries of a link that never went on the wire, when they are the last ones the
 * session queued (their ids were never used, so the next delivery can take them). Returns those
 * it could not take back: rhea has no other way to drop a queued delivery.
 */
export function retractUntransferred(sender: Sender, deliveries: Delivery[]): Delivery[] {
  const out = outgoingOf(sender);
  const left = [...deliveries].sort((a, b) => a.id - b.id);
  while (left.length > 0) {
    const last = left.at(-1)!;
    if (last.id !== out.next_delivery_id - 1 || last.id < out.next_pending_delivery) break;
    const buf = out.deliveries;
    if (buf.size === 0) break;
    buf.tail = (buf.tail - 1 + buf.capacity) % buf.capacity;
    if (buf.entries[buf.tail] !== last) {
      buf.tail = (buf.tail + 1) % buf.capacity;
      break;
    }
    buf.entries[buf.tail] = undefined;
    buf.size--;
    out.next_delivery_id--;
    left.pop();
  }
  return left;
}

export function setAttachFields(
  link: Sender | Receiver,
  fields: {
    sndSettleMode?: number;
    rcvSettleMode?: number;
    maxMessageSize?: number;
    properties?: Record<string, unknown>;
  },
): void {
  const a = internals(link).local.attach;
  if (fields.sndSettleMode !== undefined) a.snd_settle_mode = fields.sndSettleMode;
  if (fields.rcvSettleMode !== undefined) a.rcv_settle_mode = fields.rcvSettleMode;
  if (fields.maxMessageSize !== undefined) a.max_message_size = fields.maxMessageSize;
  if (fields.properties !== undefined) a.properties = fields.properties;
}

/**
 * rhea answers an attach as soon as it arrives; this takes the answer back so it can be sent
 * later with `link.open()` (used while a session receiver waits for a session).
 */
export function holdAttach(link: Sender | Receiver): void {
  const state = internals(link).state;
  if (state.local_open) {
    state.local_open = false;
    if (state.open_requests > 0) state.open_requests--;
  }
}

/** Wraps a value so rhea encodes it as an 8-byte AMQP long (rhea cannot encode bigints). */
export function amqpLong(v: bigint): { toRheaTyped(): unknown } {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return { toRheaTyped: () => rhea.types.wrap_long(b) };
}

/** Settles a delivery the peer is waiting on and frees rhea's slot for it. */
export function settle(delivery: Delivery, outcome: unknown): void {
  delivery.update(true, outcome);
  // The client never sends a final settle in receive mode "second"; without this rhea keeps
  // every delivery in the session window forever.
  (delivery as unknown as { remote_settled: boolean }).remote_settled = true;
}

interface Outcomes {
  accepted(): { described(): unknown };
  rejected(fields: { error: { condition: string; description: string } }): { described(): unknown };
  released(): { described(): unknown };
}
const outcomes = rhea.message as unknown as Outcomes;

export function acceptedOutcome(): unknown {
  return outcomes.accepted().described();
}

export function rejectedOutcome(error: { condition: string; description: string }): unknown {
  return outcomes.rejected({ error }).described();
}

export function releasedOutcome(): unknown {
  return outcomes.released().described();
}

/** The fields of a decoded request message the emulator reads. */
export interface AmqpRequest {
  message_id?: unknown;
  reply_to?: unknown;
  application_properties?: Record<string, unknown>;
  body?: unknown;
}

export function decodeRequest(payload: Buffer): AmqpRequest {
  return rhea.message.decode(payload) as unknown as AmqpRequest;
}

export function encodeResponse(m: {
  correlation_id: unknown;
  to: string | undefined;
  application_properties: Record<string, unknown>;
  body?: unknown;
}): Buffer {
  return rhea.message.encode(m as unknown as Parameters<typeof rhea.message.encode>[0]);
}

/** The remote end's attach properties (rhea exposes them untyped). */
export function remoteProperties(link: Sender | Receiver): Record<string, unknown> {
  const p = (link as unknown as { properties?: unknown }).properties;
  return p && typeof p === "object" ? (p as Record<string, unknown>) : {};
}

/** Closes a connection's socket outright (garbage input, oversize frames). */
export function destroySocket(connection: Connection): void {
  const socket = (connection as unknown as { socket?: { destroy(): void } }).socket;
  socket?.destroy();
}

/**
 * Tells rhea its socket is gone. rhea listens for 'end' and 'error' only, so a destroyed socket
 * would leave its heartbeat timers running (and the process alive).
 */
export function socketGone(connection: Connection): void {
  const c = connection as unknown as { _disconnected?: (err?: unknown) => void };
  c._disconnected?.();
}

/** Frees every unsettled outgoing delivery of a link that went away. */
export function forgetDeliveries(deliveries: Iterable<Delivery>): void {
  for (const d of deliveries) {
    const x = d as unknown as { settled: boolean; remote_settled: boolean };
    x.settled = true;
    x.remote_settled = true;
  }
}
