/**
 * The Service Bus emulator's entity model: what the Config.json reader, the broker and the
 * management endpoint share. Durations are milliseconds; names are as the user wrote them
 * (entity lookups are case-insensitive, as in Service Bus).
 */

export type EntityStatus = "Active" | "Disabled" | "SendDisabled" | "ReceiveDisabled";

export interface QueueOptions {
  /** @default 60_000 (PT1M) */
  lockDurationMs: number;
  /** @default 10 */
  maxDeliveryCount: number;
  /** @default 14 days (the emulator's cap is none) */
  defaultMessageTimeToLiveMs: number;
  /** @default false */
  deadLetteringOnMessageExpiration: boolean;
  /** @default false */
  requiresSession: boolean;
  /** @default false */
  requiresDuplicateDetection: boolean;
  /** @default 600_000 (PT10M) */
  duplicateDetectionHistoryTimeWindowMs: number;
  /** Entity that receives every message sent here. */
  forwardTo?: string | undefined;
  /** Entity that receives every message dead-lettered here. */
  forwardDeadLetteredMessagesTo?: string | undefined;
  /** @default 1024 */
  maxSizeInMegabytes: number;
  /** @default 262_144 (256 KB, the Standard tier's limit) */
  maxMessageSizeInKilobytes: number;
  /** @default "Active" */
  status: EntityStatus;
  /** @default false */
  enableBatchedOperations: boolean;
  userMetadata?: string | undefined;
  /** @default PT... "infinite" (the SDK's maximum TimeSpan) */
  autoDeleteOnIdleMs: number;
}

export interface TopicOptions {
  defaultMessageTimeToLiveMs: number;
  requiresDuplicateDetection: boolean;
  duplicateDetectionHistoryTimeWindowMs: number;
  maxSizeInMegabytes: number;
  maxMessageSizeInKilobytes: number;
  status: EntityStatus;
  supportOrdering: boolean;
  enableBatchedOperations: boolean;
  userMetadata?: string | undefined;
  autoDeleteOnIdleMs: number;
}

export interface SubscriptionOptions {
  lockDurationMs: number;
  maxDeliveryCount: number;
  defaultMessageTimeToLiveMs: number;
  deadLetteringOnMessageExpiration: boolean;
  deadLetteringOnFilterEvaluationExceptions: boolean;
  requiresSession: boolean;
  forwardTo?: string | undefined;
  forwardDeadLetteredMessagesTo?: string | undefined;
  status: EntityStatus;
  enableBatchedOperations: boolean;
  userMetadata?: string | undefined;
  autoDeleteOnIdleMs: number;
}

/** A correlation filter: every property given must equal the message's (AND). */
export interface CorrelationFilter {
  kind: "correlation";
  correlationId?: string;
  messageId?: string;
  to?: string;
  replyTo?: string;
  /** Called `Label` in Config.json and the ATOM API. */
  subject?: string;
  sessionId?: string;
  replyToSessionId?: string;
  contentType?: string;
  /** Application properties that must match exactly. */
  applicationProperties?: Record<string, string | number | boolean | Date>;
}

export interface SqlFilter {
  kind: "sql";
  /** e.g. `user.priority > 5 AND sys.Label = 'x'`; `1=1` is the TrueFilter, `1=0` the FalseFilter. */
  sqlExpression: string;
  /** `@name` parameters referenced by the expression. */
  sqlParameters?: Record<string, string | number | boolean | Date>;
}

export type RuleFilter = CorrelationFilter | SqlFilter;

export interface SqlRuleAction {
  /** e.g. `SET user.routed = 'yes'; REMOVE user.secret` */
  sqlExpression: string;
  sqlParameters?: Record<string, string | number | boolean | Date>;
}

export interface RuleDescription {
  name: string;
  filter: RuleFilter;
  action?: SqlRuleAction | undefined;
}

/** The default rule every new subscription gets: `$Default` with `1=1`. */
export const DEFAULT_RULE: RuleDescription = Object.freeze({
  name: "$Default",
  filter: Object.freeze({ kind: "sql", sqlExpression: "1=1" }) as SqlFilter,
});

export interface SubscriptionDescription {
  name: string;
  options: SubscriptionOptions;
  rules: RuleDescription[];
}

export interface TopicDescription {
  name: string;
  options: TopicOptions;
  subscriptions: SubscriptionDescription[];
}

export interface QueueDescription {
  name: string;
  options: QueueOptions;
}

/** What a Config.json describes (one namespace) and what the broker starts from. */
export interface NamespaceDescription {
  name: string;
  queues: QueueDescription[];
  topics: TopicDescription[];
}

/** Runtime counters the management endpoint reports. */
export interface EntityRuntimeCounts {
  activeMessageCount: number;
  deadLetterMessageCount: number;
  scheduledMessageCount: number;
  transferMessageCount: number;
  transferDeadLetterMessageCount: number;
  /** Total messages, including dead-lettered and scheduled. */
  totalMessageCount: number;
  sizeInBytes: number;
  createdAt: Date;
  updatedAt: Date;
  accessedAt: Date;
}

export const MAX_TIMESPAN_MS = 10_675_199 * 24 * 3600 * 1000; // TimeSpan.MaxValue in days, as the SDK prints it

export const DEFAULT_QUEUE_OPTIONS: Readonly<QueueOptions> = Object.freeze({
  lockDurationMs: 60_000,
  maxDeliveryCount: 10,
  defaultMessageTimeToLiveMs: MAX_TIMESPAN_MS,
  deadLetteringOnMessageExpiration: false,
  requiresSession: false,
  requiresDuplicateDetection: false,
  duplicateDetectionHistoryTimeWindowMs: 600_000,
  maxSizeInMegabytes: 1024,
  maxMessageSizeInKilobytes: 256,
  status: "Active",
  enableBatchedOperations: true,
  autoDeleteOnIdleMs: MAX_TIMESPAN_MS,
});

export const DEFAULT_TOPIC_OPTIONS: Readonly<TopicOptions> = Object.freeze({
  defaultMessageTimeToLiveMs: MAX_TIMESPAN_MS,
  requiresDuplicateDetection: false,
  duplicateDetectionHistoryTimeWindowMs: 600_000,
  maxSizeInMegabytes: 1024,
  maxMessageSizeInKilobytes: 256,
  status: "Active",
  supportOrdering: true,
  enableBatchedOperations: true,
  autoDeleteOnIdleMs: MAX_TIMESPAN_MS,
});

export const DEFAULT_SUBSCRIPTION_OPTIONS: Readonly<SubscriptionOptions> = Object.freeze({
  lockDurationMs: 60_000,
  maxDeliveryCount: 10,
  defaultMessageTimeToLiveMs: MAX_TIMESPAN_MS,
  deadLetteringOnMessageExpiration: false,
  deadLetteringOnFilterEvaluationExceptions: true,
  requiresSession: false,
  status: "Active",
  enableBatchedOperations: true,
  autoDeleteOnIdleMs: MAX_TIMESPAN_MS,
});

/**
 * The entity-management surface of the broker: what the HTTP management endpoint (the one
 * ServiceBusAdministrationClient talks to) calls. Names are case-insensitive. Errors are thrown
 * as `EntityError`.
 */
export interface EntityManager {
  listQueues(): QueueDescription[];
  getQueue(name: string): QueueDescription | undefined;
  createQueue(name: string, options: Partial<QueueOptions>): QueueDescription;
  updateQueue(name: string, options: Partial<QueueOptions>): QueueDescription;
  deleteQueue(name: string): void;
  queueRuntime(name: string): EntityRuntimeCounts;

  listTopics(): TopicDescription[];
  getTopic(name: string): TopicDescription | undefined;
  createTopic(name: string, options: Partial<TopicOptions>): TopicDescription;
  updateTopic(name: string, options: Partial<TopicOptions>): TopicDescription;
  deleteTopic(name: string): void;
  topicRuntime(name: string): EntityRuntimeCounts & { subscriptionCount: number };

  listSubscriptions(topic: string): SubscriptionDescription[];
  getSubscription(topic: string, name: string): SubscriptionDescription | undefined;
  /** A new subscription gets `rule` when given, else the `$Default` rule. */
  createSubscription(
    topic: string,
    name: string,
    options: Partial<SubscriptionOptions>,
    rule?: RuleDescription,
  ): SubscriptionDescription;
  updateSubscription(
    topic: string,
    name: string,
    options: Partial<SubscriptionOptions>,
  ): SubscriptionDescription;
  deleteSubscription(topic: string, name: string): void;
  subscriptionRuntime(topic: string, name: string): EntityRuntimeCounts;

  listRules(topic: string, subscription: string): RuleDescription[];
  getRule(topic: string, subscription: string, name: string): RuleDescription | undefined;
  createRule(topic: string, subscription: string, rule: RuleDescription): RuleDescription;
  updateRule(topic: string, subscription: string, rule: RuleDescription): RuleDescription;
  deleteRule(topic: string, subscription: string, name: string): void;
}

export type EntityErrorCode = "NotFound" | "AlreadyExists" | "BadRequest" | "QuotaExceeded";

/** Thrown by the broker's management operations; translated once at each protocol boundary. */
export class EntityError extends Error {
  override readonly name = "EntityError";
  constructor(
    readonly code: EntityErrorCode,
    message: string,
  ) {
    super(message);
  }
}
