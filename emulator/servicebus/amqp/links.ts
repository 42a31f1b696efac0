/**
 * Entity links: `IncomingLink` takes messages a client sends to a queue or topic;
 * `ConsumerLink` hands a store's messages to a client receiver and applies its settlements.
 */
import type { Delivery, Receiver, Sender } from "rhea";
import type { Broker } from "../broker/broker.js";
import type { SendTarget } from "../broker/entities.js";
import { BrokerError, type BrokerErrorCode } from "../broker/errors.js";
import { encodeForDelivery, type StoredMessage } from "../broker/message.js";
import type { Consumer, MessageStore, SessionEntry } from "../broker/store.js";
import {
  BATCH_FORMAT,
  dotnetGuidBytes,
  parseMessage,
  splitBatch,
  toDotnetTicks,
  uuidToBytes,
  type AmqpValue,
  type ParsedMessage,
} from "./codec.js";
import { isExpectedError, toAmqpError } from "./errors.js";
import {
  RAW_FORMAT,
  acceptedOutcome,
  amqpLong,
  availableCredit,
  forgetDeliveries,
  holdAttach,
  isTransferred,
  rejectedOutcome,
  releasedOutcome,
  remoteProperties,
  retractUntransferred,
  setAttachFields,
  settle,
} from "./rhea.js";
import type { LinkHandler, Logger } from "./server.js";

const SESSION_FILTER = "com.microsoft:session-filter";
/** How long an accept-next-session attach may wait when the client does not say. */
const DEFAULT_SESSION_WAIT_MS = 60_000;
const MAX_SESSION_WAIT_MS = 10 * 60_000;

function internalError(): { condition: string; description: string } {
  return { condition: "amqp:internal-error", description: "The emulator could not store the change." };
}

/** A client sender: messages in. */
export class IncomingLink implements LinkHandler {
  constructor(
    private readonly broker: Broker,
    private readonly target: SendTarget,
    readonly link: Receiver,
    private readonly logger: Logger,
  ) {
    setAttachFields(link, {
      maxMessageSize: broker.maxMessageSize(target),
      sndSettleMode: (link as unknown as { snd_settle_mode?: number }).snd_settle_mode ?? 2,
    });
  }

  onMessage(delivery: Delivery, payload: Buffer, format: number): void {
    try {
      const limit = this.broker.maxMessageSize(this.target);
      if (payload.length > limit) {
        throw new BrokerError(
          "MessageSizeExceeded",
          `The received message (delivery-id:${delivery.id}, size:${payload.length} bytes) exceeds the limit (${limit} bytes) currently allowed on the link.`,
        );
      }
      let messages: ParsedMessage[];
      if (format === RAW_FORMAT) messages = [parseMessage(payload)];
      else if (format === BATCH_FORMAT) {
        const inner = splitBatch(payload);
        if (inner.length === 0) throw new BrokerError("BadRequest", "The batch holds no messages.");
        messages = inner.map(parseMessage);
      } else {
        throw new BrokerError("BadRequest", `Unsupported message format 0x${(format >>> 0).toString(16)}.`);
      }
      this.broker.send(this.target, messages);
    } catch (err) {
      if (!isExpectedError(err)) {
        this.logger.error(
          `send to '${this.target.name}' failed: ${err instanceof Error ? err.stack : String(err)}`,
        );
      }
      const e = toAmqpError(err);
      delivery.update(true, rejectedOutcome({ condition: e.condition, description: e.description }));
      return;
    }
    // Acknowledge only once the message is on disk (when persistent).
    this.broker.journal.afterCommit((err) => {
      delivery.update(true, err ? rejectedOutcome(internalError()) : acceptedOutcome());
    });
  }

  onClosed(): void {}
}

/** Application properties carried by a modified outcome's annotations or a rejection's info. */
function toProps(v: unknown, skip: Set<string> = new Set()): Map<string, AmqpValue | undefined> | undefined {
  if (!v || typeof v !== "object" || Buffer.isBuffer(v)) return undefined;
  const out = new Map<string, AmqpValue | undefined>();
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (skip.has(k) || val === undefined) continue;
    if (
      val === null ||
      typeof val === "string" ||
      typeof val === "number" ||
      typeof val === "boolean" ||
      val instanceof Date ||
      Buffer.isBuffer(val)
    ) {
      out.set(k, val);
    } else out.set(k, String(val));
  }
  return out.size > 0 ? out : undefined;
}

interface Outcome {
  constructor: { composite_type?: string };
  undeliverable_here?: boolean;
  message_annotations?: unknown;
  error?: { condition?: string; description?: string; info?: Record<string, unknown> };
}

/** A client receiver: messages out, settlements back. */
export class ConsumerLink implements LinkHandler, Consumer {
  readonly receiveAndDelete: boolean;
  readonly linkName: string;
  /** Deliveries queued on the link that rhea has not transferred yet (oldest first). */
  private untransferred: Delivery[] = [];
  private session: SessionEntry | undefined;
  private readonly unsettled = new Map<Delivery, string>();
  private closed = false;
  private attached = false;
  private waiting = false;

  constructor(
    private readonly broker: Broker,
    private readonly store: MessageStore,
    readonly link: Sender,
    private readonly logger: Logger,
  ) {
    this.linkName = link.name;
    this.receiveAndDelete = link.snd_settle_mode === 1;
  }

  /** Completes the attach (possibly later, for accept-next-session); `done(err)` refuses it. */
  open(done: (err?: unknown) => void): void {
    const source = (this.link.source ?? {}) as { address?: string; filter?: Record<string, unknown> | null };
    const filter = source.filter ?? undefined;
    const wantsSession = filter !== undefined && SESSION_FILTER in filter;
    if (this.store.sessionful && !wantsSession) {
      done(
        new BrokerError(
          "InvalidOperation",
          `It is not possible for an entity that requires sessions ('${this.store.path}') to create a non-sessionful message receiver.`,
        ),
      );
      return;
    }
    if (!this.store.sessionful && wantsSession) {
      done(
        new BrokerError(
          "InvalidOperation",
          `'${this.store.path}' does not require sessions: receive without accepting a session.`,
        ),
      );
      return;
    }
    setAttachFields(this.link, {
      sndSettleMode: this.receiveAndDelete ? 1 : 0,
      rcvSettleMode: this.link.rcv_settle_mode ?? 0,
    });
    const target = this.link.target as { address?: string } | null;
    if (target?.address) this.link.set_target({ address: target.address });
    if (!this.store.sessionful) {
      this.link.set_source({ address: source.address ?? "" });
      this.store.attachConsumer(this);
      this.attached = true;
      done();
      return;
    }
    const requested = filter?.[SESSION_FILTER];
    try {
      const entry = this.store.acceptSession(this, typeof requested === "string" ? requested : undefined);
      if (entry) {
        this.bindSession(entry, source.address ?? "");
        done();
        return;
      }
    } catch (err) {
      done(err);
      return;
    }
    // No free session yet: hold the attach answer until one has messages or the client's timeout passes.
    holdAttach(this.link);
    this.waiting = true;
    const asked = Number(remoteProperties(this.link)["com.microsoft:timeout"]);
    const wait =
      Number.isFinite(asked) && asked > 0 ? Math.min(asked, MAX_SESSION_WAIT_MS) : DEFAULT_SESSION_WAIT_MS;
    this.store.waitForSession(this, wait, (entry) => {
      this.waiting = false;
      if (this.closed) {
        if (entry) this.store.releaseSession(entry);
        return;
      }
      this.link.open();
      if (!entry) {
        done(
          new BrokerError("Timeout", "No session with messages became available within the requested time."),
        );
        return;
      }
      this.bindSession(entry, source.address ?? "");
      this.store.onCredit(this, entry);
    });
  }

  private bindSession(entry: SessionEntry, address: string): void {
    this.session = entry;
    this.link.set_source({ address, filter: { [SESSION_FILTER]: entry.id } });
    setAttachFields(this.link, {
      properties: { "com.microsoft:locked-until-utc": amqpLong(toDotnetTicks(entry.lockedUntil)) },
    });
    this.attached = true;
  }

  credit(): number {
    if (this.closed || !this.attached) return 0;
    return availableCredit(this.link, this.pending());
  }

  /** How many queued deliveries still wait for rhea to transfer them. */
  private pending(): number {
    let i = 0;
    while (i < this.untransferred.length && isTransferred(this.untransferred[i]!)) i++;
    if (i > 0) this.untransferred = this.untransferred.slice(i);
    return this.untransferred.length;
  }

  deliver(msg: StoredMessage, headerDeliveryCount: number, lockToken?: string, lockedUntil?: number): void {
    const payload = encodeForDelivery(msg, headerDeliveryCount, lockToken ? { lockedUntil } : {});
    const tag = lockToken ? dotnetGuidBytes(uuidToBytes(lockToken)) : undefined;
    const d = this.link.send(payload, tag, 0);
    this.untransferred.push(d);
    if (lockToken) this.unsettled.set(d, lockToken);
  }

  terminate(code: BrokerErrorCode, message: string): void {
    if (this.closed) return;
    const e = toAmqpError(new BrokerError(code, message));
    this.link.close({ condition: e.condition, description: e.description });
    this.onClosed();
  }

  onCredit(): void {
    if (!this.closed && this.attached) this.store.onCredit(this, this.session);
  }

  onDraining(): void {
    this.onCredit();
    this.link.set_drained(true);
  }

  onOutcome(delivery: Delivery): void {
    const token = this.unsettled.get(delivery);
    if (token === undefined) {
      // Not a locked delivery of ours (receive-and-delete, or already settled): nothing to apply.
      if (!delivery.remote_settled) settle(delivery, acceptedOutcome());
      return;
    }
    this.unsettled.delete(delivery);
    const state = delivery.remote_state as unknown as Outcome | undefined;
    const kind = state?.constructor?.composite_type;
    try {
      switch (kind) {
        case "accepted":
          this.store.complete(token, this);
          break;
        case "released":
          // Not processed (a client giving back what it prefetched): back at once, uncounted.
          this.store.release(token, this);
          break;
        case "modified": {
          const props = toProps(state?.message_annotations);
          if (state?.undeliverable_here) this.store.defer(token, props, this);
          else this.store.abandon(token, props, this);
          break;
        }
        case "rejected": {
          const info = state?.error?.info ?? {};
          const reason = info["DeadLetterReason"];
          const description = info["DeadLetterErrorDescription"];
          const props = toProps(info, new Set(["DeadLetterReason", "DeadLetterErrorDescription"]));
          this.store.deadLetter(
            token,
            typeof reason === "string" ? reason : undefined,
            typeof description === "string" ? description : undefined,
            props,
            this,
          );
          break;
        }
        default:
          this.store.abandon(token, undefined, this);
      }
    } catch (err) {
      if (!isExpectedError(err)) {
        this.logger.error(
          `settlement on '${this.store.path}' failed: ${err instanceof Error ? err.stack : String(err)}`,
        );
      }
      const e = toAmqpError(err);
      settle(delivery, rejectedOutcome({ condition: e.condition, description: e.description }));
      return;
    }
    const outcome = kind === "released" ? releasedOutcome() : acceptedOutcome();
    this.broker.journal.afterCommit((err) => {
      settle(delivery, err ? rejectedOutcome(internalError()) : outcome);
    });
  }

  onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.waiting) this.store.cancelWait(this);
    // Messages the client never saw go back at once, uncounted. Those it received keep their
    // lock until it runs out, as on Service Bus (the client may still settle them).
    const unseen = this.pending() > 0 ? this.untransferred : [];
    for (const d of unseen) {
      const token = this.unsettled.get(d);
      if (token === undefined) continue;
      this.unsettled.delete(d);
      try {
        this.store.release(token, this);
      } catch (err) {
        if (!isExpectedError(err))
          this.logger.error(`release on '${this.store.path}' failed: ${String(err)}`);
      }
    }
    this.store.detachConsumer(this);
    const stuck = retractUntransferred(this.link, unseen);
    if (stuck.length > 0) {
      // Only when other links' deliveries were queued behind them on the same session.
      this.logger.warn(`link '${this.linkName}' closed with ${stuck.length} deliveries rhea still queues`);
      forgetDeliveries(stuck);
    }
    forgetDeliveries(this.unsettled.keys());
    this.unsettled.clear();
    this.untransferred = [];
  }
}
