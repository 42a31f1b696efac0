/**
 * An in-memory `EntityManager` for tests of the management endpoint while the broker's own
 * lands: it keeps descriptions, validates names the way Service Bus does, rejects duplicates
 * and unknown parents, and reports zero message counts.
 */
import {
  DEFAULT_QUEUE_OPTIONS,
  DEFAULT_RULE,
  DEFAULT_SUBSCRIPTION_OPTIONS,
  DEFAULT_TOPIC_OPTIONS,
  EntityError,
  type EntityManager,
  type EntityRuntimeCounts,
  type QueueDescription,
  type QueueOptions,
  type RuleDescription,
  type SubscriptionDescription,
  type SubscriptionOptions,
  type TopicDescription,
  type TopicOptions,
} from "../../emulator/servicebus/model.js";

const ENTITY_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._\-/]*[A-Za-z0-9])?$/;
const CHILD_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const MAX_LOCK_MS = 5 * 60_000;

interface Times {
  createdAt: Date;
  updatedAt: Date;
}

export interface MemoryEntityManagerOptions {
  /** Queues plus topics allowed before create answers QuotaExceeded. @default 1000 */
  maxEntities?: number;
}

export class MemoryEntityManager implements EntityManager {
  private readonly queues = new Map<string, QueueDescription & Times>();
  private readonly topics = new Map<string, TopicDescription & Times>();
  private readonly subscriptionTimes = new Map<string, Times>();
  private readonly countOverrides = new Map<string, Partial<EntityRuntimeCounts>>();
  private readonly maxEntities: number;

  constructor(options: MemoryEntityManagerOptions = {}) {
    this.maxEntities = options.maxEntities ?? 1000;
  }

  /**
   * Makes `queueRuntime` / `topicRuntime` / `subscriptionRuntime` report these counts for an
   * entity path (`queue`, `topic` or `topic/Subscriptions/sub`), as a broker with messages would.
   */
  setRuntimeCounts(path: string, counts: Partial<EntityRuntimeCounts>): void {
    this.countOverrides.set(key(path), counts);
  }

  listQueues(): QueueDescription[] {
    return [...this.queues.values()].map(describeQueue);
  }

  getQueue(name: string): QueueDescription | undefined {
    const queue = this.queues.get(key(name));
    return queue && describeQueue(queue);
  }

  createQueue(name: string, options: Partial<QueueOptions>): QueueDescription {
    checkEntityName(name, "queue");
    this.checkFree(name);
    const queue = { name, options: validQueue({ ...DEFAULT_QUEUE_OPTIONS, ...options }), ...now() };
    this.queues.set(key(name), queue);
    return describeQueue(queue);
  }

  updateQueue(name: string, options: Partial<QueueOptions>): QueueDescription {
    const queue = this.queues.get(key(name));
    if (!queue) throw notFound(name);
    queue.options = validQueue({ ...queue.options, ...options });
    queue.updatedAt = new Date();
    return describeQueue(queue);
  }

  deleteQueue(name: string): void {
    if (!this.queues.delete(key(name))) throw notFound(name);
  }

  queueRuntime(name: string): EntityRuntimeCounts {
    const queue = this.queues.get(key(name));
    if (!queue) throw notFound(name);
    return { ...zeroCounts(queue), ...this.countOverrides.get(key(name)) };
  }

  listTopics(): TopicDescription[] {
    return [...this.topics.values()].map(describeTopic);
  }

  getTopic(name: string): TopicDescription | undefined {
    const topic = this.topics.get(key(name));
    return topic && describeTopic(topic);
  }

  createTopic(name: string, options: Partial<TopicOptions>): TopicDescription {
    checkEntityName(name, "topic");
    this.checkFree(name);
    const topic = { name, options: { ...DEFAULT_TOPIC_OPTIONS, ...options }, subscriptions: [], ...now() };
    this.topics.set(key(name), topic);
    return describeTopic(topic);
  }

  updateTopic(name: string, options: Partial<TopicOptions>): TopicDescription {
    const topic = this.topics.get(key(name));
    if (!topic) throw notFound(name);
    topic.options = { ...topic.options, ...options };
    topic.updatedAt = new Date();
    return describeTopic(topic);
  }

  deleteTopic(name: string): void {
    const topic = this.topics.get(key(name));
    if (!topic) throw notFound(name);
    for (const s of topic.subscriptions) this.subscriptionTimes.delete(subKey(topic.name, s.name));
    this.topics.delete(key(name));
  }

  topicRuntime(name: string): EntityRuntimeCounts & { subscriptionCount: number } {
    const topic = this.topics.get(key(name));
    if (!topic) throw notFound(name);
    return {
      ...zeroCounts(topic),
      ...this.countOverrides.get(key(name)),
      subscriptionCount: topic.subscriptions.length,
    };
  }

  listSubscriptions(topic: string): SubscriptionDescription[] {
    return this.topic(topic).subscriptions.map((s) => structuredClone(s));
  }

  getSubscription(topic: string, name: string): SubscriptionDescription | undefined {
    const s = this.topics.get(key(topic))?.subscriptions.find((x) => same(x.name, name));
    return s && structuredClone(s);
  }

  createSubscription(
    topic: string,
    name: string,
    options: Partial<SubscriptionOptions>,
    rule?: RuleDescription,
  ): SubscriptionDescription {
    const t = this.topic(topic);
    if (!CHILD_NAME.test(name) || name.length > 50)
      throw new EntityError("BadRequest", `The subscription name '${name}' is invalid.`);
    if (t.subscriptions.some((s) => same(s.name, name)))
      throw new EntityError(
        "AlreadyExists",
        `The messaging entity '${t.name}/Subscriptions/${name}' already exists.`,
      );
    if (rule) checkRuleName(rule.name);
    const subscription: SubscriptionDescription = {
      name,
      options: validSubscription({ ...DEFAULT_SUBSCRIPTION_OPTIONS, ...options }),
      rules: [structuredClone(rule ?? DEFAULT_RULE)],
    };
    t.subscriptions.push(subscription);
    this.subscriptionTimes.set(subKey(t.name, name), now());
    return structuredClone(subscription);
  }

  updateSubscription(
    topic: string,
    name: string,
    options: Partial<SubscriptionOptions>,
  ): SubscriptionDescription {
    const s = this.subscription(topic, name);
    s.options = validSubscription({ ...s.options, ...options });
    const times = this.subscriptionTimes.get(subKey(topic, s.name));
    if (times) times.updatedAt = new Date();
    return structuredClone(s);
  }

  deleteSubscription(topic: string, name: string): void {
    const t = this.topic(topic);
    const index = t.subscriptions.findIndex((s) => same(s.name, name));
    if (index < 0) throw notFound(`${topic}/Subscriptions/${name}`);
    t.subscriptions.splice(index, 1);
    this.subscriptionTimes.delete(subKey(t.name, name));
  }

  subscriptionRuntime(topic: string, name: string): EntityRuntimeCounts {
    const s = this.subscription(topic, name);
    return {
      ...zeroCounts(this.subscriptionTimes.get(subKey(topic, s.name)) ?? now()),
      ...this.countOverrides.get(key(`${topic}/Subscriptions/${name}`)),
    };
  }

  listRules(topic: string, subscription: string): RuleDescription[] {
    return this.subscription(topic, subscription).rules.map((r) => structuredClone(r));
  }

  getRule(topic: string, subscription: string, name: string): RuleDescription | undefined {
    const rule = this.subscription(topic, subscription).rules.find((r) => same(r.name, name));
    return rule && structuredClone(rule);
  }

  createRule(topic: string, subscription: string, rule: RuleDescription): RuleDescription {
    const s = this.subscription(topic, subscription);
    checkRuleName(rule.name);
    if (s.rules.some((r) => same(r.name, rule.name)))
      throw new EntityError(
        "AlreadyExists",
        `The messaging entity '${topic}/Subscriptions/${subscription}/Rules/${rule.name}' already exists.`,
      );
    s.rules.push(structuredClone(rule));
    return structuredClone(rule);
  }

  updateRule(topic: string, subscription: string, rule: RuleDescription): RuleDescription {
    const s = this.subscription(topic, subscription);
    const index = s.rules.findIndex((r) => same(r.name, rule.name));
    if (index < 0) throw notFound(`${topic}/Subscriptions/${subscription}/Rules/${rule.name}`);
    const updated = { ...structuredClone(rule), name: s.rules[index]?.name ?? rule.name };
    s.rules[index] = updated;
    return structuredClone(updated);
  }

  deleteRule(topic: string, subscription: string, name: string): void {
    const s = this.subscription(topic, subscription);
    const index = s.rules.findIndex((r) => same(r.name, name));
    if (index < 0) throw notFound(`${topic}/Subscriptions/${subscription}/Rules/${name}`);
    s.rules.splice(index, 1);
  }

  private checkFree(name: string): void {
    if (this.queues.has(key(name)) || this.topics.has(key(name)))
      throw new EntityError("AlreadyExists", `The messaging entity '${name}' already exists.`);
    if (this.queues.size + this.topics.size >= this.maxEntities)
      throw new EntityError(
        "QuotaExceeded",
        `The namespace already holds ${this.maxEntities} queues and topics.`,
      );
  }

  private topic(name: string): TopicDescription & Times {
    const topic = this.topics.get(key(name));
    if (!topic) throw notFound(name);
    return topic;
  }

  private subscription(topic: string, name: string): SubscriptionDescription {
    const s = this.topic(topic).subscriptions.find((x) => same(x.name, name));
    if (!s) throw notFound(`${topic}/Subscriptions/${name}`);
    return s;
  }
}

const key = (name: string): string => name.toLowerCase();
const subKey = (topic: string, name: string): string => `${key(topic)}\n${key(name)}`;
const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();
const now = (): Times => {
  const at = new Date();
  return { createdAt: at, updatedAt: at };
};
const notFound = (path: string): EntityError =>
  new EntityError("NotFound", `The messaging entity '${path}' could not be found.`);

function checkEntityName(name: string, kind: string): void {
  if (!ENTITY_NAME.test(name) || name.length > 260 || name.includes("//"))
    throw new EntityError(
      "BadRequest",
      `The ${kind} name '${name}' is invalid: use 1-260 letters, digits, '.', '-', '_' and '/', starting and ending with a letter or digit.`,
    );
}

function checkRuleName(name: string): void {
  if (name !== "$Default" && (!CHILD_NAME.test(name) || name.length > 50))
    throw new EntityError("BadRequest", `The rule name '${name}' is invalid.`);
}

function validQueue(options: QueueOptions): QueueOptions {
  if (options.lockDurationMs > MAX_LOCK_MS)
    throw new EntityError("BadRequest", "The lock duration of a queue cannot exceed 5 minutes.");
  return options;
}

function validSubscription(options: SubscriptionOptions): SubscriptionOptions {
  if (options.lockDurationMs > MAX_LOCK_MS)
    throw new EntityError("BadRequest", "The lock duration of a subscription cannot exceed 5 minutes.");
  return options;
}

function describeQueue(queue: QueueDescription): QueueDescription {
  return { name: queue.name, options: structuredClone(queue.options) };
}

function describeTopic(topic: TopicDescription): TopicDescription {
  return {
    name: topic.name,
    options: structuredClone(topic.options),
    subscriptions: structuredClone(topic.subscriptions),
  };
}

function zeroCounts(times: Times): EntityRuntimeCounts {
  return {
    activeMessageCount: 0,
    deadLetterMessageCount: 0,
    scheduledMessageCount: 0,
    transferMessageCount: 0,
    transferDeadLetterMessageCount: 0,
    totalMessageCount: 0,
    sizeInBytes: 0,
    createdAt: times.createdAt,
    updatedAt: times.updatedAt,
    accessedAt: times.updatedAt,
  };
}
