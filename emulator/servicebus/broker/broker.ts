/**
 * The broker: one namespace of queues, topics and subscriptions. It routes sends (TTL,
 * scheduling, duplicate detection, topic fan-out through rules, auto-forwarding), moves
 * dead-lettered messages, and implements the `EntityManager` surface the management endpoint uses.
 * Protocol-free: the AMQP layer calls it, and it reports failures as `BrokerError`/`EntityError`.
 */
import type { AmqpValue, ParsedMessage } from "../amqp/codec.js";
import {
  DEFAULT_QUEUE_OPTIONS,
  DEFAULT_RULE,
  DEFAULT_SUBSCRIPTION_OPTIONS,
  DEFAULT_TOPIC_OPTIONS,
  EntityError,
  MAX_TIMESPAN_MS,
  type EntityManager,
  type EntityRuntimeCounts,
  type NamespaceDescription,
  type QueueDescription,
  type QueueOptions,
  type RuleDescription,
  type SubscriptionDescription,
  type SubscriptionOptions,
  type TopicDescription,
  type TopicOptions,
} from "../model.js";
import { BrokerError } from "./errors.js";
import {
  QueueEntity,
  SubscriptionEntity,
  TopicEntity,
  entityKey,
  type ReceiveOwner,
  type SendTarget,
} from "./entities.js";
import {
  MessageState,
  idToString,
  readProperties,
  requestedTtl,
  rewriteBare,
  scheduledTime,
  storedFromParsed,
  type StoredMessage,
} from "./message.js";
import { FilterEvaluationError, MessageView, compileRule } from "./rules.js";
import type { MessageStore, StoreHost, StoreJournal } from "./store.js";
import { TimerWheel } from "./timers.js";
import type { SqlValue } from "../sql/index.js";

/** Everything the broker writes to its journal (see `journal.ts`); a no-op when memory-only. */
export interface BrokerJournal extends StoreJournal {
  putQueue(q: QueueDescription): void;
  putTopic(t: Omit<TopicDescription, "subscriptions">): void;
  putSubscription(topic: string, s: SubscriptionDescription): void;
  deleteEntity(path: string): void;
  sequence(entity: string, seq: number): void;
  dedup(entity: string, messageId: string, at: number): void;
  /** Runs `fn` once everything journaled so far is written (at once when memory-only). */
  afterCommit(fn: (err?: Error) => void): void;
}

export const NULL_JOURNAL: BrokerJournal = Object.freeze({
  putMessage() {},
  updateMessage() {},
  removeMessage() {},
  sessionState() {},
  putQueue() {},
  putTopic() {},
  putSubscription() {},
  deleteEntity() {},
  sequence() {},
  dedup() {},
  afterCommit(fn: (err?: Error) => void) {
    fn();
  },
});

/** Service Bus allows a message to be auto-forwarded through at most this many entities. */
const MAX_FORWARD_HOPS = 4;

const ENTITY_NAME = /^[A-Za-z0-9]$|^[A-Za-z0-9][\w\-./]*[A-Za-z0-9]$/;
const SUBSCRIPTION_NAME = /^[A-Za-z0-9]$|^[A-Za-z0-9][\w\-.]*[A-Za-z0-9]$/;
const RULE_NAME = /^\$?[A-Za-z0-9_][\w\-.]*$/;

export interface BrokerLogger {
  warn(message: string): void;
}

/** What an address on an AMQP link names. */
export type ResolvedAddress =
  | { kind: "queue"; queue: QueueEntity; store: MessageStore }
  | { kind: "topic"; topic: TopicEntity }
  | { kind: "subscription"; subscription: SubscriptionEntity; store: MessageStore }
  | { kind: "deadletter"; owner: ReceiveOwner; store: MessageStore };

export class Broker implements EntityManager, StoreHost {
  readonly timers: TimerWheel;
  journal: BrokerJournal = NULL_JOURNAL;
  private readonly queues = new Map<string, QueueEntity>();
  private readonly topics = new Map<string, TopicEntity>();
  private dedupSweep: NodeJS.Timeout | undefined;

  constructor(
    readonly namespace: string,
    private readonly logger: BrokerLogger = { warn: () => {} },
  ) {
    this.timers = new TimerWheel((err) => this.logger.warn(`timer callback failed: ${String(err)}`));
    // Duplicate-detection history is also pruned on every send; this bounds idle entities.
    this.dedupSweep = setInterval(() => this.pruneDedup(), 60_000);
    this.dedupSweep.unref();
  }

  close(): void {
    this.timers.close();
    if (this.dedupSweep) clearInterval(this.dedupSweep);
    this.dedupSweep = undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Address resolution

  private stripAddress(address: string): string {
    let a = address.trim();
    const m = /^[a-z][a-z0-9+.-]*:\/\/[^/]*\/(.*)$/i.exec(a);
    if (m) a = m[1]!;
    return a.replace(/^\/+/, "").replace(/\/+$/, "");
  }

  private notFound(address: string): BrokerError {
    return new BrokerError(
      "EntityNotFound",
      `The messaging entity 'sb://${this.namespace}/${address}' could not be found.`,
    );
  }

  /** Resolves a link address to the entity or store it names. */
  resolve(address: string): ResolvedAddress {
    const path = this.stripAddress(address);
    const dl = /\/\$deadletterqueue$/i.exec(path);
    const base = dl ? path.slice(0, dl.index) : path;
    const queue = this.queues.get(entityKey(base));
    if (queue) {
      return dl
        ? { kind: "deadletter", owner: queue, store: queue.dlq }
        : { kind: "queue", queue, store: queue.store };
    }
    const subMatch = /^(.+)\/subscriptions\/([^/]+)$/i.exec(base);
    if (subMatch) {
      const topic = this.topics.get(entityKey(subMatch[1]!));
      const sub = topic?.subscriptions.get(entityKey(subMatch[2]!));
      if (sub) {
        return dl
          ? { kind: "deadletter", owner: sub, store: sub.dlq }
          : { kind: "subscription", subscription: sub, store: sub.store };
      }
    }
    const topic = this.topics.get(entityKey(base));
    if (topic && !dl) return { kind: "topic", topic };
    throw this.notFound(path);
  }

  /** The queue or topic a sender link targets. */
  resolveSendTarget(address: string): SendTarget {
    const r = this.resolve(address);
    if (r.kind === "queue") return r.queue;
    if (r.kind === "topic") return r.topic;
    throw new BrokerError(
      "InvalidOperation",
      `Cannot send to '${this.stripAddress(address)}': messages can only be sent to a queue or a topic.`,
    );
  }

  /** The store a receiver link reads from. */
  resolveStore(address: string): MessageStore {
    const r = this.resolve(address);
    if (r.kind === "topic") {
      throw new BrokerError(
        "InvalidOperation",
        `Cannot receive from topic '${r.topic.name}': receive from one of its subscriptions.`,
      );
    }
    return r.store;
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  private checkSendable(target: SendTarget): void {
    if (target.deleted) throw this.notFound(target.name);
    const status = target.options.status;
    if (status === "Disabled" || status === "SendDisabled") {
      throw new BrokerError(
        "EntityDisabled",
        `Messaging entity '${target.name}' is currently disabled for sending.`,
      );
    }
  }

  /** Checks a receive is allowed now (entity status). */
  checkReceivable(store: MessageStore): void {
    if (store.deleted) throw this.notFound(store.path);
    const owner = store.owner as ReceiveOwner;
    const status = owner.options.status;
    if (status === "Disabled" || status === "ReceiveDisabled") {
      throw new BrokerError(
        "EntityDisabled",
        `Messaging entity '${owner.path}' is currently disabled for receiving.`,
      );
    }
  }

  maxMessageSize(target: SendTarget): number {
    return target.options.maxMessageSizeInKilobytes * 1024;
  }

  /** Accepts messages sent to a queue or topic (all or none are checked before any is stored). */
  send(target: SendTarget, messages: ParsedMessage[]): void {
    this.checkSendable(target);
    const limit = this.maxMessageSize(target);
    const now = Date.now();
    const prepared = messages.map((p) => this.prepare(target, p, now, limit));
    if (target instanceof QueueEntity && target.options.requiresSession) {
      for (const m of prepared) this.requireSessionId(target, m.msg);
    }
    for (const { msg, scheduleAt } of prepared) {
      if (this.isDuplicate(target, msg, now)) continue;
      msg.seq = ++target.seq;
      if (scheduleAt !== undefined) this.scheduleOne(target, msg, scheduleAt);
      else this.arrive(target, msg, 0);
    }
  }

  /** `schedule-message`: returns the sequence numbers, in order. */
  schedule(target: SendTarget, messages: ParsedMessage[]): number[] {
    this.checkSendable(target);
    const limit = this.maxMessageSize(target);
    const now = Date.now();
    const prepared = messages.map((p) => this.prepare(target, p, now, limit));
    if (target instanceof QueueEntity && target.options.requiresSession) {
      for (const m of prepared) this.requireSessionId(target, m.msg);
    }
    return prepared.map(({ msg, scheduleAt }) => {
      msg.seq = ++target.seq;
      this.scheduleOne(target, msg, scheduleAt ?? now);
      return msg.seq;
    });
  }

  cancelScheduled(target: SendTarget, seqs: number[]): void {
    this.checkSendable(target);
    const store = target instanceof QueueEntity ? target.store : target.scheduled;
    for (const seq of seqs) store.cancelScheduled(seq);
  }

  private requireSessionId(target: ReceiveOwner, msg: StoredMessage): void {
    if (msg.sessionId === undefined || msg.sessionId === "") {
      throw new BrokerError(
        "InvalidOperation",
        `The SessionId was not set on a message, and it cannot be sent to the entity '${target.path}'. ` +
          "Entities that have session support enabled can only receive messages that have the SessionId set to a valid value.",
      );
    }
  }

  private prepare(
    target: SendTarget,
    p: ParsedMessage,
    now: number,
    limit: number,
  ): { msg: StoredMessage; scheduleAt: number | undefined } {
    const msg = storedFromParsed(p);
    if (msg.size > limit) {
      throw new BrokerError(
        "MessageSizeExceeded",
        `The received message (size ${msg.size} bytes) exceeds the limit (${limit} bytes) of entity '${target.name}'.`,
      );
    }
    const ttl = Math.min(requestedTtl(p) ?? Infinity, target.options.defaultMessageTimeToLiveMs);
    msg.ttl = ttl < MAX_TIMESPAN_MS ? ttl : 0;
    const at = scheduledTime(p);
    return { msg, scheduleAt: at !== undefined && at > now ? at : undefined };
  }

  private isDuplicate(target: SendTarget, msg: StoredMessage, now: number): boolean {
    if (!target.options.requiresDuplicateDetection || msg.messageId === undefined) return false;
    const window = target.options.duplicateDetectionHistoryTimeWindowMs;
    if (target.dedup.check(msg.messageId, now, window)) return true;
    this.journal.dedup(entityKey(target.name), msg.messageId, now);
    return false;
  }

  private pruneDedup(): void {
    const now = Date.now();
    for (const q of this.queues.values()) q.dedup.prune(now, q.options.duplicateDetectionHistoryTimeWindowMs);
    for (const t of this.topics.values()) t.dedup.prune(now, t.options.duplicateDetectionHistoryTimeWindowMs);
  }

  private scheduleOne(target: SendTarget, msg: StoredMessage, at: number): void {
    msg.scheduledAt = at;
    msg.state = MessageState.Scheduled;
    msg.enqueuedAt = Date.now();
    msg.expiresAt = Infinity;
    if (target instanceof QueueEntity) target.store.add(msg);
    else target.scheduled.add(msg);
  }

  /** A message (seq assigned) arrives at a queue or topic now. */
  private arrive(target: SendTarget, msg: StoredMessage, hops: number): void {
    const now = Date.now();
    msg.enqueuedAt = now;
    msg.expiresAt = msg.ttl > 0 ? now + msg.ttl : Infinity;
    msg.state = MessageState.Available;
    if (target instanceof QueueEntity) this.intoStore(target, target.store, msg, hops);
    else this.fanOut(target, msg, hops);
  }

  /** Puts a message into a queue's or subscription's store, or forwards it on. */
  private intoStore(owner: ReceiveOwner, store: MessageStore, msg: StoredMessage, hops: number): void {
    const forwardTo = owner.options.forwardTo;
    if (forwardTo) {
      if (hops >= MAX_FORWARD_HOPS) {
        msg.state = MessageState.Available;
        this.deadLetter(
          store,
          msg,
          "MaxTransferHopCountExceeded",
          `The maximum number of allowed hops when forwarding between queues. Value is set to ${MAX_FORWARD_HOPS}.`,
        );
        return;
      }
      if (this.forward(forwardTo, msg, hops + 1)) return;
    }
    if (store.sessionful && (msg.sessionId === undefined || msg.sessionId === "")) {
      this.deadLetter(
        store,
        msg,
        "SessionIdIsMissing",
        "The message has no SessionId but the entity requires sessions.",
      );
      return;
    }
    store.add(msg);
  }

  /** Re-sends `msg` to the entity named `to` (new sequence number there); false if it is gone. */
  private forward(to: string, msg: StoredMessage, hops: number): boolean {
    const target = this.queues.get(entityKey(to)) ?? this.topics.get(entityKey(to));
    if (!target || target.deleted) {
      this.logger.warn(`auto-forward target '${to}' does not exist; message kept where it was`);
      return false;
    }
    const copy = msg.copy();
    copy.seq = ++target.seq;
    copy.deliveryCount = 0;
    const ttl = Math.min(msg.ttl > 0 ? msg.ttl : Infinity, target.options.defaultMessageTimeToLiveMs);
    copy.ttl = ttl < MAX_TIMESPAN_MS ? ttl : 0;
    this.arrive(target, copy, hops);
    return true;
  }

  private fanOut(topic: TopicEntity, msg: StoredMessage, hops: number): void {
    if (topic.subscriptions.size === 0) return;
    const view = new MessageView(msg);
    for (const sub of topic.subscriptions.values()) {
      if (sub.options.status === "Disabled" || sub.options.status === "ReceiveDisabled") continue;
      for (const copy of this.applyRules(sub, msg, view)) this.intoStore(sub, sub.store, copy, hops);
    }
  }

  /**
   * The copies a subscription gets: one for any matching rule without an action, plus one per
   * matching rule with an action (its action applied), as in Service Bus. A filter that fails to
   * evaluate dead-letters the message in that subscription when the subscription asks for it.
   */
  private applyRules(sub: SubscriptionEntity, msg: StoredMessage, view: MessageView): StoredMessage[] {
    let plain = false;
    const out: StoredMessage[] = [];
    for (const rule of sub.rules.values()) {
      let matched: boolean;
      try {
        matched = rule.matches(view);
      } catch (err) {
        if (err instanceof FilterEvaluationError && sub.options.deadLetteringOnFilterEvaluationExceptions) {
          this.deadLetter(
            sub.store,
            msg.copy(),
            "FilterEvaluationException",
            `Rule '${rule.description.name}': ${err.message}`.slice(0, 1024),
          );
          return [];
        }
        matched = false;
      }
      if (!matched) continue;
      if (!rule.action) {
        plain = true;
        continue;
      }
      const copy = msg.copy();
      const sqlView = view.sqlView();
      rule.action.apply(sqlView);
      copy.bare = applySqlChanges(msg, view, sqlView);
      if (copy.bare !== msg.bare) {
        const p = readProperties(copy.bare);
        copy.sessionId = p.groupId;
        copy.messageId = idToString(p.messageId);
      }
      out.push(copy);
    }
    if (plain) out.unshift(msg.copy());
    const topic = sub.topic;
    for (let i = 1; i < out.length; i++) out[i]!.seq = ++topic.seq;
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // StoreHost

  deadLetter(
    from: MessageStore,
    msg: StoredMessage,
    reason: string | undefined,
    description: string | undefined,
    props?: Map<string, AmqpValue | undefined>,
  ): void {
    const set = new Map<string, AmqpValue | undefined>(props ?? []);
    if (reason !== undefined) set.set("DeadLetterReason", reason);
    if (description !== undefined) set.set("DeadLetterErrorDescription", description);
    const copy = msg.copy();
    copy.state = MessageState.Available;
    copy.expiresAt = Infinity; // dead-lettered messages never expire
    if (set.size > 0) copy.bare = rewriteBare(copy.bare, { set });
    const owner = from.owner as ReceiveOwner;
    const target = from.isDeadLetter ? undefined : owner.options.forwardDeadLetteredMessagesTo;
    if (target) {
      copy.deadLetterSource = owner.path;
      if (this.forward(target, copy, 1)) return;
    }
    const dlq = from.isDeadLetter ? from : from.deadLetterStore;
    if (!dlq) {
      this.logger.warn(`no dead-letter queue for '${from.path}'; message ${msg.seq} dropped`);
      return;
    }
    dlq.add(copy);
  }

  forwardActivated(from: MessageStore, msg: StoredMessage): boolean {
    const topic = this.topics.get(entityKey(from.owner.path));
    if (topic && from === topic.scheduled) {
      const copy = msg.copy();
      copy.state = MessageState.Available;
      copy.enqueuedAt = msg.enqueuedAt;
      copy.expiresAt = msg.expiresAt;
      this.fanOut(topic, copy, 0);
      return true;
    }
    const queue = this.queues.get(entityKey(from.owner.path));
    if (queue && from === queue.store && queue.options.forwardTo) {
      return this.forward(queue.options.forwardTo, msg, 1);
    }
    return false;
  }

  // -------------------------------------------------------------------------------------------
  // EntityManager: queues

  private checkName(name: string, kind: string, pattern: RegExp, max: number): void {
    if (typeof name !== "string" || name.length === 0 || name.length > max || !pattern.test(name)) {
      throw new EntityError(
        "BadRequest",
        `Invalid ${kind} name '${String(name)}': use 1-${max} letters, digits, periods, hyphens and underscores` +
          (kind === "queue" || kind === "topic" ? " (and slashes)" : "") +
          ", starting and ending with a letter or digit.",
      );
    }
  }

  private checkForward(self: string, to: string | undefined, field: string): void {
    if (to === undefined || to === "") return;
    if (entityKey(to) === entityKey(self)) {
      throw new EntityError("BadRequest", `${field} cannot point to the entity itself ('${self}').`);
    }
    if (!this.queues.has(entityKey(to)) && !this.topics.has(entityKey(to))) {
      throw new EntityError("BadRequest", `${field} names '${to}', which is not an existing queue or topic.`);
    }
  }

  private checkQueueOptions(name: string, o: QueueOptions): void {
    checkDuration(o.lockDurationMs, "lockDuration", 5 * 60_000);
    checkCount(o.maxDeliveryCount, "maxDeliveryCount");
    checkDuration(o.defaultMessageTimeToLiveMs, "defaultMessageTimeToLive");
    checkDuration(o.duplicateDetectionHistoryTimeWindowMs, "duplicateDetectionHistoryTimeWindow");
    checkCount(o.maxSizeInMegabytes, "maxSizeInMegabytes");
    checkCount(o.maxMessageSizeInKilobytes, "maxMessageSizeInKilobytes");
    checkStatus(o.status);
    this.checkForward(name, o.forwardTo, "forwardTo");
    this.checkForward(name, o.forwardDeadLetteredMessagesTo, "forwardDeadLetteredMessagesTo");
  }

  private requireAbsent(name: string): void {
    if (this.queues.has(entityKey(name)) || this.topics.has(entityKey(name))) {
      throw new EntityError("AlreadyExists", `The messaging entity '${name}' already exists.`);
    }
  }

  private queueOrThrow(name: string): QueueEntity {
    const q = this.queues.get(entityKey(name));
    if (!q) throw new EntityError("NotFound", `Queue '${name}' does not exist.`);
    return q;
  }

  private describeQueue(q: QueueEntity): QueueDescription {
    return { name: q.name, options: { ...q.options } };
  }

  listQueues(): QueueDescription[] {
    return [...this.queues.values()].map((q) => this.describeQueue(q));
  }

  getQueue(name: string): QueueDescription | undefined {
    const q = this.queues.get(entityKey(name));
    return q && this.describeQueue(q);
  }

  createQueue(name: string, options: Partial<QueueOptions>): QueueDescription {
    this.checkName(name, "queue", ENTITY_NAME, 260);
    this.requireAbsent(name);
    const merged = cleanOptions({ ...DEFAULT_QUEUE_OPTIONS, ...defined(options) });
    this.checkQueueOptions(name, merged);
    const q = new QueueEntity(this, name, merged);
    this.queues.set(entityKey(name), q);
    this.journal.putQueue(this.describeQueue(q));
    return this.describeQueue(q);
  }

  updateQueue(name: string, options: Partial<QueueOptions>): QueueDescription {
    const q = this.queueOrThrow(name);
    const merged = cleanOptions({ ...q.options, ...defined(options) });
    if (merged.requiresSession !== q.options.requiresSession) {
      throw new EntityError("BadRequest", "requiresSession cannot be changed on an existing queue.");
    }
    this.checkQueueOptions(q.name, merged);
    q.options = merged;
    q.updatedAt = new Date();
    this.journal.putQueue(this.describeQueue(q));
    return this.describeQueue(q);
  }

  deleteQueue(name: string): void {
    const q = this.queueOrThrow(name);
    this.queues.delete(entityKey(name));
    q.deleted = true;
    this.dropStore(q.store);
    this.dropStore(q.dlq);
    this.journal.deleteEntity(entityKey(q.name));
  }

  private dropStore(store: MessageStore): void {
    const consumers = store.consumers();
    store.clear();
    for (const c of consumers) {
      c.terminate(
        "EntityNotFound",
        `The messaging entity 'sb://${this.namespace}/${store.path}' could not be found.`,
      );
    }
  }

  queueRuntime(name: string): EntityRuntimeCounts {
    const q = this.queueOrThrow(name);
    return this.runtime(q.store, q.dlq, q.createdAt, q.updatedAt);
  }

  private runtime(
    store: MessageStore,
    dlq: MessageStore,
    createdAt: Date,
    updatedAt: Date,
  ): EntityRuntimeCounts {
    return {
      activeMessageCount: store.activeCount,
      deadLetterMessageCount: dlq.messages.size,
      scheduledMessageCount: store.scheduledCount,
      transferMessageCount: 0,
      transferDeadLetterMessageCount: 0,
      totalMessageCount: store.messages.size + dlq.messages.size,
      sizeInBytes: store.sizeBytes + dlq.sizeBytes,
      createdAt,
      updatedAt: new Date(Math.max(updatedAt.getTime(), store.updatedAt, dlq.updatedAt)),
      accessedAt: new Date(Math.max(store.accessedAt, dlq.accessedAt)),
    };
  }

  // -------------------------------------------------------------------------------------------
  // EntityManager: topics

  private topicOrThrow(name: string): TopicEntity {
    const t = this.topics.get(entityKey(name));
    if (!t) throw new EntityError("NotFound", `Topic '${name}' does not exist.`);
    return t;
  }

  private describeTopic(t: TopicEntity): TopicDescription {
    return {
      name: t.name,
      options: { ...t.options },
      subscriptions: [...t.subscriptions.values()].map((s) => this.describeSubscription(s)),
    };
  }

  private checkTopicOptions(o: TopicOptions): void {
    checkDuration(o.defaultMessageTimeToLiveMs, "defaultMessageTimeToLive");
    checkDuration(o.duplicateDetectionHistoryTimeWindowMs, "duplicateDetectionHistoryTimeWindow");
    checkCount(o.maxSizeInMegabytes, "maxSizeInMegabytes");
    checkCount(o.maxMessageSizeInKilobytes, "maxMessageSizeInKilobytes");
    checkStatus(o.status);
  }

  listTopics(): TopicDescription[] {
    return [...this.topics.values()].map((t) => this.describeTopic(t));
  }

  getTopic(name: string): TopicDescription | undefined {
    const t = this.topics.get(entityKey(name));
    return t && this.describeTopic(t);
  }

  createTopic(name: string, options: Partial<TopicOptions>): TopicDescription {
    this.checkName(name, "topic", ENTITY_NAME, 260);
    this.requireAbsent(name);
    const merged = cleanOptions({ ...DEFAULT_TOPIC_OPTIONS, ...defined(options) });
    this.checkTopicOptions(merged);
    const t = new TopicEntity(this, name, merged);
    this.topics.set(entityKey(name), t);
    this.journal.putTopic({ name: t.name, options: { ...t.options } });
    return this.describeTopic(t);
  }

  updateTopic(name: string, options: Partial<TopicOptions>): TopicDescription {
    const t = this.topicOrThrow(name);
    const merged = cleanOptions({ ...t.options, ...defined(options) });
    this.checkTopicOptions(merged);
    t.options = merged;
    t.updatedAt = new Date();
    this.journal.putTopic({ name: t.name, options: { ...t.options } });
    return this.describeTopic(t);
  }

  deleteTopic(name: string): void {
    const t = this.topicOrThrow(name);
    this.topics.delete(entityKey(name));
    t.deleted = true;
    for (const s of t.subscriptions.values()) {
      s.deleted = true;
      this.dropStore(s.store);
      this.dropStore(s.dlq);
    }
    this.dropStore(t.scheduled);
    this.journal.deleteEntity(entityKey(t.name));
  }

  topicRuntime(name: string): EntityRuntimeCounts & { subscriptionCount: number } {
    const t = this.topicOrThrow(name);
    let size = t.scheduled.sizeBytes;
    let updated = Math.max(t.updatedAt.getTime(), t.scheduled.updatedAt);
    let accessed = t.scheduled.accessedAt;
    for (const s of t.subscriptions.values()) {
      size += s.store.sizeBytes + s.dlq.sizeBytes;
      updated = Math.max(updated, s.store.updatedAt);
      accessed = Math.max(accessed, s.store.accessedAt);
    }
    return {
      activeMessageCount: 0,
      deadLetterMessageCount: 0,
      scheduledMessageCount: t.scheduled.scheduledCount,
      transferMessageCount: 0,
      transferDeadLetterMessageCount: 0,
      totalMessageCount: t.scheduled.messages.size,
      sizeInBytes: size,
      createdAt: t.createdAt,
      updatedAt: new Date(updated),
      accessedAt: new Date(accessed),
      subscriptionCount: t.subscriptions.size,
    };
  }

  // -------------------------------------------------------------------------------------------
  // EntityManager: subscriptions

  private subscriptionOrThrow(topic: string, name: string): SubscriptionEntity {
    const s = this.topicOrThrow(topic).subscriptions.get(entityKey(name));
    if (!s)
      throw new EntityError("NotFound", `Subscription '${topic}/Subscriptions/${name}' does not exist.`);
    return s;
  }

  private describeSubscription(s: SubscriptionEntity): SubscriptionDescription {
    return { name: s.name, options: { ...s.options }, rules: s.ruleDescriptions().map(cloneRule) };
  }

  private checkSubscriptionOptions(path: string, o: SubscriptionOptions): void {
    checkDuration(o.lockDurationMs, "lockDuration", 5 * 60_000);
    checkCount(o.maxDeliveryCount, "maxDeliveryCount");
    checkDuration(o.defaultMessageTimeToLiveMs, "defaultMessageTimeToLive");
    checkStatus(o.status);
    this.checkForward(path, o.forwardTo, "forwardTo");
    this.checkForward(path, o.forwardDeadLetteredMessagesTo, "forwardDeadLetteredMessagesTo");
  }

  listSubscriptions(topic: string): SubscriptionDescription[] {
    return [...this.topicOrThrow(topic).subscriptions.values()].map((s) => this.describeSubscription(s));
  }

  getSubscription(topic: string, name: string): SubscriptionDescription | undefined {
    const s = this.topics.get(entityKey(topic))?.subscriptions.get(entityKey(name));
    return s && this.describeSubscription(s);
  }

  createSubscription(
    topic: string,
    name: string,
    options: Partial<SubscriptionOptions>,
    rule?: RuleDescription,
  ): SubscriptionDescription {
    const t = this.topicOrThrow(topic);
    this.checkName(name, "subscription", SUBSCRIPTION_NAME, 50);
    if (t.subscriptions.has(entityKey(name))) {
      throw new EntityError(
        "AlreadyExists",
        `Subscription '${t.name}/Subscriptions/${name}' already exists.`,
      );
    }
    const merged = cleanOptions({ ...DEFAULT_SUBSCRIPTION_OPTIONS, ...defined(options) });
    this.checkSubscriptionOptions(`${t.name}/Subscriptions/${name}`, merged);
    const first = rule ?? DEFAULT_RULE;
    this.checkRuleName(first.name);
    const compiled = compileRule(cloneRule(first));
    const s = new SubscriptionEntity(this, t, name, merged);
    s.rules.set(entityKey(first.name), compiled);
    t.subscriptions.set(entityKey(name), s);
    this.journal.putSubscription(t.name, this.describeSubscription(s));
    return this.describeSubscription(s);
  }

  updateSubscription(
    topic: string,
    name: string,
    options: Partial<SubscriptionOptions>,
  ): SubscriptionDescription {
    const s = this.subscriptionOrThrow(topic, name);
    const merged = cleanOptions({ ...s.options, ...defined(options) });
    if (merged.requiresSession !== s.options.requiresSession) {
      throw new EntityError("BadRequest", "requiresSession cannot be changed on an existing subscription.");
    }
    this.checkSubscriptionOptions(s.path, merged);
    s.options = merged;
    s.updatedAt = new Date();
    this.journal.putSubscription(s.topic.name, this.describeSubscription(s));
    return this.describeSubscription(s);
  }

  deleteSubscription(topic: string, name: string): void {
    const s = this.subscriptionOrThrow(topic, name);
    s.topic.subscriptions.delete(entityKey(name));
    s.deleted = true;
    this.dropStore(s.store);
    this.dropStore(s.dlq);
    this.journal.deleteEntity(`${entityKey(s.topic.name)}/subscriptions/${entityKey(s.name)}`);
  }

  subscriptionRuntime(topic: string, name: string): EntityRuntimeCounts {
    const s = this.subscriptionOrThrow(topic, name);
    return this.runtime(s.store, s.dlq, s.createdAt, s.updatedAt);
  }

  // -------------------------------------------------------------------------------------------
  // EntityManager: rules

  private checkRuleName(name: string): void {
    if (typeof name !== "string" || name.length === 0 || name.length > 50 || !RULE_NAME.test(name)) {
      throw new EntityError(
        "BadRequest",
        `Invalid rule name '${String(name)}': use 1-50 letters, digits, periods, hyphens and underscores.`,
      );
    }
  }

  listRules(topic: string, subscription: string): RuleDescription[] {
    return this.subscriptionOrThrow(topic, subscription).ruleDescriptions().map(cloneRule);
  }

  getRule(topic: string, subscription: string, name: string): RuleDescription | undefined {
    const r = this.subscriptionOrThrow(topic, subscription).rules.get(entityKey(name));
    return r && cloneRule(r.description);
  }

  createRule(topic: string, subscription: string, rule: RuleDescription): RuleDescription {
    const s = this.subscriptionOrThrow(topic, subscription);
    this.checkRuleName(rule.name);
    if (s.rules.has(entityKey(rule.name))) {
      throw new EntityError("AlreadyExists", `Rule '${rule.name}' already exists on '${s.path}'.`);
    }
    const compiled = compileRule(cloneRule(rule));
    s.rules.set(entityKey(rule.name), compiled);
    s.updatedAt = new Date();
    this.journal.putSubscription(s.topic.name, this.describeSubscription(s));
    return cloneRule(compiled.description);
  }

  updateRule(topic: string, subscription: string, rule: RuleDescription): RuleDescription {
    const s = this.subscriptionOrThrow(topic, subscription);
    if (!s.rules.has(entityKey(rule.name))) {
      throw new EntityError("NotFound", `Rule '${rule.name}' does not exist on '${s.path}'.`);
    }
    const compiled = compileRule(cloneRule(rule));
    s.rules.set(entityKey(rule.name), compiled);
    s.updatedAt = new Date();
    this.journal.putSubscription(s.topic.name, this.describeSubscription(s));
    return cloneRule(compiled.description);
  }

  deleteRule(topic: string, subscription: string, name: string): void {
    const s = this.subscriptionOrThrow(topic, subscription);
    if (!s.rules.delete(entityKey(name))) {
      throw new EntityError("NotFound", `Rule '${name}' does not exist on '${s.path}'.`);
    }
    s.updatedAt = new Date();
    this.journal.putSubscription(s.topic.name, this.describeSubscription(s));
  }

  // -------------------------------------------------------------------------------------------
  // Bulk loading and restore

  /**
   * Creates the entities a Config.json describes that do not exist yet; entities restored from a
   * data directory keep their persisted definition (runtime changes included). Forwarding is
   * applied last, so entities may forward to ones defined later in the file. Returns how many
   * entities were created and how many already existed.
   */
  applyNamespace(ns: NamespaceDescription): { created: number; existing: number } {
    const forwards: Array<() => void> = [];
    let created = 0;
    let existing = 0;
    for (const q of ns.queues) {
      if (this.queues.has(entityKey(q.name)) || this.topics.has(entityKey(q.name))) {
        existing++;
        continue;
      }
      const { forwardTo, forwardDeadLetteredMessagesTo, ...rest } = q.options;
      this.createQueue(q.name, rest);
      created++;
      if (forwardTo || forwardDeadLetteredMessagesTo) {
        forwards.push(() =>
          this.updateQueue(q.name, {
            forwardTo: forwardTo ?? "",
            forwardDeadLetteredMessagesTo: forwardDeadLetteredMessagesTo ?? "",
          }),
        );
      }
    }
    for (const t of ns.topics) {
      if (this.queues.has(entityKey(t.name))) {
        existing++;
        continue;
      }
      if (this.topics.has(entityKey(t.name))) existing++;
      else {
        this.createTopic(t.name, t.options);
        created++;
      }
      for (const s of t.subscriptions) {
        if (this.getSubscription(t.name, s.name)) {
          existing++;
          continue;
        }
        const { forwardTo, forwardDeadLetteredMessagesTo, ...rest } = s.options;
        const [first, ...others] = s.rules;
        this.createSubscription(t.name, s.name, rest, first);
        for (const r of others) this.createRule(t.name, s.name, r);
        created++;
        if (forwardTo || forwardDeadLetteredMessagesTo) {
          forwards.push(() =>
            this.updateSubscription(t.name, s.name, {
              forwardTo: forwardTo ?? "",
              forwardDeadLetteredMessagesTo: forwardDeadLetteredMessagesTo ?? "",
            }),
          );
        }
      }
    }
    for (const f of forwards) f();
    return { created, existing };
  }

  /** Journal replay: entity records. */
  restoreQueue(d: QueueDescription): void {
    const existing = this.queues.get(entityKey(d.name));
    if (existing) existing.options = cleanOptions({ ...DEFAULT_QUEUE_OPTIONS, ...d.options });
    else
      this.queues.set(
        entityKey(d.name),
        new QueueEntity(this, d.name, cleanOptions({ ...DEFAULT_QUEUE_OPTIONS, ...d.options })),
      );
  }

  restoreTopic(d: Omit<TopicDescription, "subscriptions">): void {
    const existing = this.topics.get(entityKey(d.name));
    if (existing) existing.options = cleanOptions({ ...DEFAULT_TOPIC_OPTIONS, ...d.options });
    else
      this.topics.set(
        entityKey(d.name),
        new TopicEntity(this, d.name, cleanOptions({ ...DEFAULT_TOPIC_OPTIONS, ...d.options })),
      );
  }

  restoreSubscription(topic: string, d: SubscriptionDescription): void {
    const t = this.topics.get(entityKey(topic));
    if (!t) return;
    let s = t.subscriptions.get(entityKey(d.name));
    const options = cleanOptions({ ...DEFAULT_SUBSCRIPTION_OPTIONS, ...d.options });
    if (s) s.options = options;
    else {
      s = new SubscriptionEntity(this, t, d.name, options);
      t.subscriptions.set(entityKey(d.name), s);
    }
    s.rules.clear();
    for (const r of d.rules) {
      try {
        s.rules.set(entityKey(r.name), compileRule(r));
      } catch (err) {
        this.logger.warn(`rule '${r.name}' on '${s.path}' could not be restored: ${String(err)}`);
      }
    }
  }

  restoreDelete(path: string): void {
    const key = entityKey(path);
    const sub = /^(.+)\/subscriptions\/([^/]+)$/.exec(key);
    if (this.queues.delete(key) || this.topics.delete(key)) return;
    if (sub) this.topics.get(sub[1]!)?.subscriptions.delete(sub[2]!);
  }

  restoreSequence(entity: string, seq: number): void {
    const e = this.queues.get(entity) ?? this.topics.get(entity);
    if (e && seq > e.seq) e.seq = seq;
  }

  restoreDedup(entity: string, id: string, at: number): void {
    (this.queues.get(entity) ?? this.topics.get(entity))?.dedup.restore(id, at);
  }

  /** Fast journal-key lookup map, built once for a replay. */
  storeIndex(): Map<string, MessageStore> {
    const m = new Map<string, MessageStore>();
    for (const s of this.allStores()) m.set(s.key, s);
    return m;
  }

  *allStores(): Generator<MessageStore> {
    for (const q of this.queues.values()) {
      yield q.store;
      yield q.dlq;
    }
    for (const t of this.topics.values()) {
      yield t.scheduled;
      for (const s of t.subscriptions.values()) {
        yield s.store;
        yield s.dlq;
      }
    }
  }

  /** After a replay: sequence counters cover every stored message; queues and timers rebuilt. */
  afterRestore(): void {
    const now = Date.now();
    for (const q of this.queues.values()) {
      for (const m of q.store.messages.keys()) if (m > q.seq) q.seq = m;
      for (const m of q.dlq.messages.keys()) if (m > q.seq) q.seq = m;
    }
    for (const t of this.topics.values()) {
      for (const m of t.scheduled.messages.keys()) if (m > t.seq) t.seq = m;
      for (const s of t.subscriptions.values()) {
        for (const m of s.store.messages.keys()) if (m > t.seq) t.seq = m;
        for (const m of s.dlq.messages.keys()) if (m > t.seq) t.seq = m;
      }
    }
    for (const store of this.allStores()) store.afterRestore(now);
  }

  /** Every entity with its sequence counter and duplicate-detection history (for compaction). */
  *sequenceCounters(): Generator<{ key: string; seq: number; dedup: IterableIterator<[string, number]> }> {
    for (const q of this.queues.values())
      yield { key: entityKey(q.name), seq: q.seq, dedup: q.dedup.entries() };
    for (const t of this.topics.values())
      yield { key: entityKey(t.name), seq: t.seq, dedup: t.dedup.entries() };
  }

  get queueCount(): number {
    return this.queues.size;
  }

  get topicCount(): number {
    return this.topics.size;
  }
}

// ---------------------------------------------------------------------------------------------

function defined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** Empty forward targets mean "none" (Config.json writes them as ""). */
function cleanOptions<T extends object>(o: T): T {
  const out = { ...o } as T & { forwardTo?: string; forwardDeadLetteredMessagesTo?: string };
  if (out.forwardTo === "") delete out.forwardTo;
  if (out.forwardDeadLetteredMessagesTo === "") delete out.forwardDeadLetteredMessagesTo;
  return out;
}

function checkDuration(ms: number, field: string, max = Infinity): void {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms <= 0 || ms > Math.max(max, 0)) {
    throw new EntityError(
      "BadRequest",
      `${field} must be a positive duration${max !== Infinity ? ` of at most ${max / 1000} s` : ""}, got ${String(ms)} ms.`,
    );
  }
}

function checkCount(n: number, field: string): void {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1) {
    throw new EntityError("BadRequest", `${field} must be a positive integer, got ${String(n)}.`);
  }
}

function checkStatus(s: string): void {
  if (!["Active", "Disabled", "SendDisabled", "ReceiveDisabled"].includes(s)) {
    throw new EntityError(
      "BadRequest",
      `status must be Active, Disabled, SendDisabled or ReceiveDisabled, got '${s}'.`,
    );
  }
}

function cloneRule(r: RuleDescription): RuleDescription {
  return structuredClone(r);
}

/** The system properties a rule action may set, mapped to AMQP properties fields. */
const SETTABLE_SYSTEM = [
  "MessageId",
  "CorrelationId",
  "Label",
  "To",
  "ReplyTo",
  "SessionId",
  "ReplyToSessionId",
  "ContentType",
];

function sqlToAmqp(v: SqlValue | undefined): AmqpValue | undefined {
  if (v === undefined) return undefined;
  return v;
}

/** Re-encodes a message's bare part after a rule action changed its view. */
function applySqlChanges(
  msg: StoredMessage,
  before: MessageView,
  after: { system: Map<string, SqlValue>; user: Map<string, SqlValue> },
): Buffer {
  const original = before.sqlFilterView();
  const set = new Map<string, AmqpValue | undefined>();
  for (const [k, v] of after.user) {
    const old = original.user.get(k);
    if (!original.user.has(k) || !sqlEqual(old, v)) set.set(k, sqlToAmqp(v));
  }
  for (const k of original.user.keys()) if (!after.user.has(k)) set.set(k, undefined);
  let propertiesChanged = false;
  const props = { ...before.properties };
  for (const name of SETTABLE_SYSTEM) {
    const key = [...after.system.keys()].find(
      (k) => k.toLowerCase() === name.toLowerCase() || (name === "Label" && k.toLowerCase() === "subject"),
    );
    const nv = key === undefined ? undefined : after.system.get(key);
    const ov = original.system.get(name);
    if (sqlEqual(nv ?? null, ov ?? null)) continue;
    propertiesChanged = true;
    const s =
      nv === undefined || nv === null ? undefined : String(nv instanceof Date ? nv.toISOString() : nv);
    switch (name) {
      case "MessageId":
        props.messageId = s;
        break;
      case "CorrelationId":
        props.correlationId = s;
        break;
      case "Label":
        props.subject = s;
        break;
      case "To":
        props.to = s;
        break;
      case "ReplyTo":
        props.replyTo = s;
        break;
      case "SessionId":
        props.groupId = s;
        break;
      case "ReplyToSessionId":
        props.replyToGroupId = s;
        break;
      case "ContentType":
        props.contentType = s;
        break;
    }
  }
  if (set.size === 0 && !propertiesChanged) return msg.bare;
  const cleaned = Object.fromEntries(Object.entries(props).filter(([, v]) => v !== undefined));
  return rewriteBare(msg.bare, propertiesChanged ? { properties: cleaned, set } : { set });
}

function sqlEqual(a: SqlValue | undefined, b: SqlValue | undefined): boolean {
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  return a === b;
}
