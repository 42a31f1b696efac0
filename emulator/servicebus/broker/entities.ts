/** The broker's entities: queues, topics and subscriptions, each owning its message stores. */
import type { QueueOptions, RuleDescription, SubscriptionOptions, TopicOptions } from "../model.js";
import { DuplicateDetector } from "./dedup.js";
import type { CompiledRule } from "./rules.js";
import { MessageStore, type StoreHost, type StoreOwner } from "./store.js";

/** Lower-case key under which entities are looked up (names are case-insensitive). */
export function entityKey(name: string): string {
  return name.toLowerCase();
}

export class QueueEntity implements StoreOwner {
  seq = 0;
  readonly dedup = new DuplicateDetector();
  readonly store: MessageStore;
  readonly dlq: MessageStore;
  createdAt = new Date();
  updatedAt = new Date();
  deleted = false;

  constructor(
    host: StoreHost,
    readonly name: string,
    public options: QueueOptions,
  ) {
    const key = entityKey(name);
    this.dlq = new MessageStore(host, this, `${key}/$deadletterqueue`, true, undefined);
    this.store = new MessageStore(host, this, key, false, this.dlq);
  }

  get path(): string {
    return this.name;
  }
}

export class SubscriptionEntity implements StoreOwner {
  readonly store: MessageStore;
  readonly dlq: MessageStore;
  /** Rules by lower-case name, in creation order. */
  readonly rules = new Map<string, CompiledRule>();
  createdAt = new Date();
  updatedAt = new Date();
  deleted = false;

  constructor(
    host: StoreHost,
    readonly topic: TopicEntity,
    readonly name: string,
    public options: SubscriptionOptions,
  ) {
    const key = `${entityKey(topic.name)}/subscriptions/${entityKey(name)}`;
    this.dlq = new MessageStore(host, this, `${key}/$deadletterqueue`, true, undefined);
    this.store = new MessageStore(host, this, key, false, this.dlq);
  }

  get path(): string {
    return `${this.topic.name}/Subscriptions/${this.name}`;
  }

  ruleDescriptions(): RuleDescription[] {
    return [...this.rules.values()].map((r) => r.description);
  }
}

/** Store options for a topic's scheduled messages (they are never locked or received). */
const SCHEDULED_STORE_OPTIONS = Object.freeze({
  lockDurationMs: 60_000,
  maxDeliveryCount: Number.MAX_SAFE_INTEGER,
  deadLetteringOnMessageExpiration: false,
  requiresSession: false,
});

export class TopicEntity {
  seq = 0;
  readonly dedup = new DuplicateDetector();
  readonly subscriptions = new Map<string, SubscriptionEntity>();
  /** Messages scheduled on the topic; fanned out when they come due. */
  readonly scheduled: MessageStore;
  createdAt = new Date();
  updatedAt = new Date();
  deleted = false;

  constructor(
    host: StoreHost,
    readonly name: string,
    public options: TopicOptions,
  ) {
    const owner: StoreOwner = { options: SCHEDULED_STORE_OPTIONS, path: name };
    this.scheduled = new MessageStore(host, owner, `${entityKey(name)}/$scheduled`, false, undefined);
  }

  get path(): string {
    return this.name;
  }
}

export type SendTarget = QueueEntity | TopicEntity;
export type ReceiveOwner = QueueEntity | SubscriptionEntity;
