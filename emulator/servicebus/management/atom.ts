/**
 * The ATOM documents of the Service Bus management API: request bodies (an `<entry>` holding a
 * QueueDescription, TopicDescription, SubscriptionDescription or RuleDescription) into model
 * values, and model values into the entries, feeds and errors `ServiceBusAdministrationClient`
 * parses. Element names, order and value formats follow what the service returns.
 */
import type {
  CorrelationFilter,
  EntityRuntimeCounts,
  EntityStatus,
  QueueDescription,
  QueueOptions,
  RuleDescription,
  RuleFilter,
  SqlFilter,
  SqlRuleAction,
  SubscriptionDescription,
  SubscriptionOptions,
  TopicDescription,
  TopicOptions,
} from "../model.js";
import { DurationError, formatDuration, parseDuration } from "./duration.js";
import {
  attributeOf,
  childElements,
  el,
  parseXml,
  textOf,
  XmlSyntaxError,
  type XmlElement,
  type XmlFragment,
} from "./xml.js";

export const ATOM_NS = "http://www.w3.org/2005/Atom";
export const SB_NS = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect";
export const XSI_NS = "http://www.w3.org/2001/XMLSchema-instance";
export const XSD_NS = "http://www.w3.org/2001/XMLSchema";
const COUNT_NS = "http://schemas.microsoft.com/netservices/2011/06/servicebus";
export const API_VERSION = "2021-05";
/** The service's limit on UserMetadata. */
const MAX_USER_METADATA = 1024;
/** The SDK reads a typed value's `i:type` from the 6th character on, so the prefix has 4. */
const VALUE_TYPE_PREFIX = "d6p1";

/** A request body that is not a valid entity description; answered with 400. */
export class BodyError extends Error {
  override readonly name = "BodyError";
  constructor(message: string) {
    // Messages quote names and keys from the request; keep them short whatever it holds.
    super(message.length > 400 ? `${message.slice(0, 400)}…` : message);
  }
}

export type TypedValue = string | number | boolean | Date;

export type EntityBody =
  | { kind: "queue"; options: Partial<QueueOptions> }
  | { kind: "topic"; options: Partial<TopicOptions> }
  | {
      kind: "subscription";
      options: Partial<SubscriptionOptions>;
      /** The DefaultRuleDescription, when the request has one. */
      defaultRule: RuleDescription | undefined;
    }
  | { kind: "rule"; name: string | undefined; filter: RuleFilter; action: SqlRuleAction | undefined };

// ---------------------------------------------------------------------------------------------
// Reading request bodies

/** Parses a PUT body: `<entry><content><XDescription>...`. Throws `BodyError`. */
export function parseEntityBody(xml: string): EntityBody {
  if (xml.trim() === "") throw new BodyError("the request body is empty; expected an ATOM entry");
  let root: XmlElement;
  try {
    root = parseXml(xml);
  } catch (err) {
    if (err instanceof XmlSyntaxError)
      throw new BodyError(`the request body is not well-formed XML: ${err.message}`);
    throw err;
  }
  if (root.local !== "entry" || (root.ns !== ATOM_NS && root.ns !== ""))
    throw new BodyError(`expected an ATOM <entry> element, got <${root.name}>`);
  const content = childElements(root).find((c) => c.local === "content");
  if (!content) throw new BodyError("the ATOM entry has no <content> element");
  const [description, ...extra] = childElements(content);
  if (!description || extra.length > 0)
    throw new BodyError("the ATOM <content> must hold exactly one entity description");

  switch (description.local) {
    case "QueueDescription":
      return { kind: "queue", options: readQueue(new Fields(description)) };
    case "TopicDescription":
      return { kind: "topic", options: readTopic(new Fields(description)) };
    case "SubscriptionDescription": {
      const fields = new Fields(description);
      const ruleElement = fields.element("DefaultRuleDescription");
      const rule = ruleElement ? readRule(ruleElement) : undefined;
      return {
        kind: "subscription",
        options: readSubscription(fields),
        defaultRule: rule
          ? { name: rule.name ?? "$Default", filter: rule.filter, action: rule.action }
          : undefined,
      };
    }
    case "RuleDescription":
      return { kind: "rule", ...readRule(description) };
    default:
      throw new BodyError(`unsupported entity description <${description.name}>`);
  }
}

/** The child elements of a description, by local name (the service ignores their order). */
class Fields {
  private readonly byName = new Map<string, XmlElement>();

  constructor(owner: XmlElement) {
    for (const child of childElements(owner)) {
      if (this.byName.has(child.local)) throw new BodyError(`<${owner.local}> has <${child.local}> twice`);
      this.byName.set(child.local, child);
    }
  }

  /** The child element, or undefined when absent or `i:nil="true"`. */
  element(name: string): XmlElement | undefined {
    const child = this.byName.get(name);
    if (!child || attributeOf(child, XSI_NS, "nil")?.trim() === "true") return undefined;
    return child;
  }

  string(name: string): string | undefined {
    const child = this.element(name);
    if (!child) return undefined;
    if (childElements(child).length > 0) throw new BodyError(`<${name}> must hold text, not elements`);
    return textOf(child);
  }

  bool(name: string): boolean | undefined {
    const text = this.string(name)?.trim().toLowerCase();
    if (text === undefined) return undefined;
    if (text === "true") return true;
    if (text === "false") return false;
    throw new BodyError(`<${name}> must be true or false`);
  }

  int(name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const text = this.string(name)?.trim();
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!/^[-+]?\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max)
      throw new BodyError(`<${name}> must be an integer from ${min} to ${max}, got "${text.slice(0, 40)}"`);
    return value;
  }

  duration(name: string, minMs = 0): number | undefined {
    const text = this.string(name);
    if (text === undefined) return undefined;
    let ms: number;
    try {
      ms = parseDuration(text);
    } catch (err) {
      if (err instanceof DurationError) throw new BodyError(`<${name}>: ${err.message}`);
      throw err;
    }
    if (ms < minMs) throw new BodyError(`<${name}> must be at least ${formatDuration(minMs)}`);
    return ms;
  }

  status(name: string): EntityStatus | undefined {
    const text = this.string(name)?.trim();
    if (text === undefined) return undefined;
    const status = STATUSES.find((s) => s.toLowerCase() === text.toLowerCase());
    if (!status) throw new BodyError(`<${name}> must be one of ${STATUSES.join(", ")}`);
    return status;
  }

  userMetadata(): string | undefined {
    const text = this.string("UserMetadata");
    if (text !== undefined && text.length > MAX_USER_METADATA)
      throw new BodyError(`<UserMetadata> is longer than ${MAX_USER_METADATA} characters`);
    return text;
  }

  /** ForwardTo and ForwardDeadLetteredMessagesTo: an entity name or `sb://<namespace>/<name>`. */
  entityRef(name: string): string | undefined {
    const text = this.string(name)?.trim();
    if (text === undefined || text === "") return undefined;
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return text;
    let path: string;
    try {
      path = decodeURIComponent(new URL(text).pathname).replace(/^\/+/, "");
    } catch {
      throw new BodyError(`<${name}> is not a valid entity URL`);
    }
    if (path === "") throw new BodyError(`<${name}> names no entity`);
    return path;
  }
}

const STATUSES: readonly EntityStatus[] = ["Active", "Disabled", "SendDisabled", "ReceiveDisabled"];

/** Sets `key` only when a value was given, so absent elements stay absent. */
function put<T, K extends keyof T>(target: Partial<T>, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

function readQueue(f: Fields): Partial<QueueOptions> {
  const o: Partial<QueueOptions> = {};
  put(o, "lockDurationMs", f.duration("LockDuration", 1));
  put(o, "maxSizeInMegabytes", f.int("MaxSizeInMegabytes", 1));
  put(o, "requiresDuplicateDetection", f.bool("RequiresDuplicateDetection"));
  put(o, "requiresSession", f.bool("RequiresSession"));
  put(o, "defaultMessageTimeToLiveMs", f.duration("DefaultMessageTimeToLive", 1));
  put(o, "deadLetteringOnMessageExpiration", f.bool("DeadLetteringOnMessageExpiration"));
  put(o, "duplicateDetectionHistoryTimeWindowMs", f.duration("DuplicateDetectionHistoryTimeWindow", 1));
  put(o, "maxDeliveryCount", f.int("MaxDeliveryCount", 1, 2_147_483_647));
  put(o, "enableBatchedOperations", f.bool("EnableBatchedOperations"));
  put(o, "status", f.status("Status"));
  put(o, "forwardTo", f.entityRef("ForwardTo"));
  put(o, "userMetadata", f.userMetadata());
  put(o, "autoDeleteOnIdleMs", f.duration("AutoDeleteOnIdle", 1));
  put(o, "forwardDeadLetteredMessagesTo", f.entityRef("ForwardDeadLetteredMessagesTo"));
  put(o, "maxMessageSizeInKilobytes", f.int("MaxMessageSizeInKilobytes", 1));
  // Validated but not modelled: the emulator has no partitions, express or per-entity SAS rules.
  f.bool("EnablePartitioning");
  f.bool("EnableExpress");
  return o;
}

function readTopic(f: Fields): Partial<TopicOptions> {
  const o: Partial<TopicOptions> = {};
  put(o, "defaultMessageTimeToLiveMs", f.duration("DefaultMessageTimeToLive", 1));
  put(o, "maxSizeInMegabytes", f.int("MaxSizeInMegabytes", 1));
  put(o, "requiresDuplicateDetection", f.bool("RequiresDuplicateDetection"));
  put(o, "duplicateDetectionHistoryTimeWindowMs", f.duration("DuplicateDetectionHistoryTimeWindow", 1));
  put(o, "enableBatchedOperations", f.bool("EnableBatchedOperations"));
  put(o, "status", f.status("Status"));
  put(o, "userMetadata", f.userMetadata());
  put(o, "supportOrdering", f.bool("SupportOrdering"));
  put(o, "autoDeleteOnIdleMs", f.duration("AutoDeleteOnIdle", 1));
  put(o, "maxMessageSizeInKilobytes", f.int("MaxMessageSizeInKilobytes", 1));
  f.bool("EnablePartitioning");
  f.bool("EnableExpress");
  return o;
}

function readSubscription(f: Fields): Partial<SubscriptionOptions> {
  const o: Partial<SubscriptionOptions> = {};
  put(o, "lockDurationMs", f.duration("LockDuration", 1));
  put(o, "requiresSession", f.bool("RequiresSession"));
  put(o, "defaultMessageTimeToLiveMs", f.duration("DefaultMessageTimeToLive", 1));
  put(o, "deadLetteringOnMessageExpiration", f.bool("DeadLetteringOnMessageExpiration"));
  put(o, "deadLetteringOnFilterEvaluationExceptions", f.bool("DeadLetteringOnFilterEvaluationExceptions"));
  put(o, "maxDeliveryCount", f.int("MaxDeliveryCount", 1, 2_147_483_647));
  put(o, "enableBatchedOperations", f.bool("EnableBatchedOperations"));
  put(o, "status", f.status("Status"));
  put(o, "forwardTo", f.entityRef("ForwardTo"));
  put(o, "userMetadata", f.userMetadata());
  put(o, "forwardDeadLetteredMessagesTo", f.entityRef("ForwardDeadLetteredMessagesTo"));
  put(o, "autoDeleteOnIdleMs", f.duration("AutoDeleteOnIdle", 1));
  return o;
}

/** The `i:type` of an element (prefix dropped), e.g. "SqlFilter". */
function xsiType(element: XmlElement): string | undefined {
  const value = attributeOf(element, XSI_NS, "type")?.trim();
  return value === undefined ? undefined : value.slice(value.indexOf(":") + 1);
}

function readRule(element: XmlElement): {
  name: string | undefined;
  filter: RuleFilter;
  action: SqlRuleAction | undefined;
} {
  const f = new Fields(element);
  const filterElement = f.element("Filter");
  if (!filterElement) throw new BodyError(`<${element.local}> has no <Filter>`);
  const actionElement = f.element("Action");
  const name = f.string("Name")?.trim();
  return {
    name: name === "" ? undefined : name,
    filter: readFilter(filterElement),
    action: actionElement ? readAction(actionElement) : undefined,
  };
}

function readFilter(element: XmlElement): RuleFilter {
  const f = new Fields(element);
  const type = xsiType(element) ?? (f.element("SqlExpression") ? "SqlFilter" : "CorrelationFilter");
  switch (type) {
    case "TrueFilter":
      return { kind: "sql", sqlExpression: "1=1" };
    case "FalseFilter":
      return { kind: "sql", sqlExpression: "1=0" };
    case "SqlFilter": {
      const filter: SqlFilter = { kind: "sql", sqlExpression: requiredExpression(f, "Filter") };
      const parameters = readParameters(f.element("Parameters"));
      if (parameters) filter.sqlParameters = parameters;
      return filter;
    }
    case "CorrelationFilter": {
      const filter: CorrelationFilter = { kind: "correlation" };
      const set = (
        key: Exclude<keyof CorrelationFilter, "kind" | "applicationProperties">,
        name: string,
      ): void => {
        const value = f.string(name);
        if (value !== undefined) filter[key] = value;
      };
      set("correlationId", "CorrelationId");
      set("messageId", "MessageId");
      set("to", "To");
      set("replyTo", "ReplyTo");
      set("subject", "Label");
      set("sessionId", "SessionId");
      set("replyToSessionId", "ReplyToSessionId");
      set("contentType", "ContentType");
      const properties = readParameters(f.element("Properties"));
      if (properties) filter.applicationProperties = properties;
      return filter;
    }
    default:
      throw new BodyError(
        `unsupported filter type "${type}"; use SqlFilter, CorrelationFilter, TrueFilter or FalseFilter`,
      );
  }
}

function readAction(element: XmlElement): SqlRuleAction | undefined {
  const f = new Fields(element);
  const type = xsiType(element) ?? (f.element("SqlExpression") ? "SqlRuleAction" : "EmptyRuleAction");
  if (type === "EmptyRuleAction") return undefined;
  if (type !== "SqlRuleAction")
    throw new BodyError(`unsupported action type "${type}"; use SqlRuleAction or EmptyRuleAction`);
  const action: SqlRuleAction = { sqlExpression: requiredExpression(f, "Action") };
  const parameters = readParameters(f.element("Parameters"));
  if (parameters) action.sqlParameters = parameters;
  return action;
}

function requiredExpression(f: Fields, owner: string): string {
  const expression = f.string("SqlExpression");
  if (expression === undefined || expression.trim() === "")
    throw new BodyError(`the ${owner} has an empty <SqlExpression>`);
  return expression;
}

const NUMBER_TYPES = new Set([
  "int",
  "long",
  "short",
  "byte",
  "unsignedInt",
  "unsignedLong",
  "unsignedShort",
  "unsignedByte",
  "double",
  "float",
  "decimal",
]);

/** `<KeyValueOfstringanyType><Key>k</Key><Value i:type="x:double">1</Value>...` pairs. */
function readParameters(element: XmlElement | undefined): Record<string, TypedValue> | undefined {
  if (!element) return undefined;
  const result: Record<string, TypedValue> = {};
  let count = 0;
  for (const pair of childElements(element)) {
    if (pair.local !== "KeyValueOfstringanyType")
      throw new BodyError(`<${element.local}> may hold only <KeyValueOfstringanyType> elements`);
    const f = new Fields(pair);
    const key = f.string("Key");
    const valueElement = f.element("Value");
    if (key === undefined || key === "") throw new BodyError(`a <${element.local}> entry has no <Key>`);
    if (!valueElement) throw new BodyError(`the <${element.local}> entry "${key}" has no value`);
    if (Object.hasOwn(result, key)) throw new BodyError(`<${element.local}> has the key "${key}" twice`);
    const text = f.string("Value") ?? "";
    const type = xsiType(valueElement) ?? "string";
    let value: TypedValue;
    if (type === "string") value = text;
    else if (type === "boolean") {
      const t = text.trim();
      if (t !== "true" && t !== "false" && t !== "1" && t !== "0")
        throw new BodyError(`the boolean "${key}" must be true or false`);
      value = t === "true" || t === "1";
    } else if (NUMBER_TYPES.has(type)) {
      value = Number(text.trim());
      if (text.trim() === "" || !Number.isFinite(value))
        throw new BodyError(`the ${type} "${key}" is not a number`);
    } else if (type === "dateTime") {
      value = new Date(text.trim());
      if (Number.isNaN(value.getTime())) throw new BodyError(`the dateTime "${key}" is not a date`);
    } else {
      throw new BodyError(`the value "${key}" has the unsupported type "${type}"`);
    }
    // defineProperty: a key such as "__proto__" must stay an ordinary own property.
    Object.defineProperty(result, key, { value, enumerable: true, writable: true, configurable: true });
    count++;
  }
  return count > 0 ? result : undefined;
}

// ---------------------------------------------------------------------------------------------
// Writing responses

export interface WriteContext {
  /** The namespace host as the client addressed it (its Host header), e.g. `localhost`. */
  host: string;
  now: Date;
}

/** Percent-encodes what a URL path cannot hold, keeping `/` and `$` as the SDK expects them. */
function pathOf(path: string): string {
  return path.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/]/g, (c) =>
    Array.from(new TextEncoder().encode(c), (b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join(
      "",
    ),
  );
}

/** The URL the SDK takes entity names from (the `<id>` of an entry). */
export function entityUrl(ctx: WriteContext, path: string, query = ""): string {
  return `https://${ctx.host}/${pathOf(path)}?${query}api-version=${API_VERSION}`;
}

function forwardUrl(ctx: WriteContext, name: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(name) ? name : `sb://${ctx.host}/${name}`;
}

const iso = (d: Date): string => d.toISOString();

function entry(
  ctx: WriteContext,
  path: string,
  title: string,
  times: { createdAt: Date; updatedAt: Date },
  description: XmlFragment,
): XmlFragment {
  const id = entityUrl(ctx, path);
  return el(
    "entry",
    { xmlns: ATOM_NS },
    el("id", null, id),
    el("title", { type: "text" }, title),
    el("published", null, iso(times.createdAt)),
    el("updated", null, iso(times.updatedAt)),
    el("author", null, el("name", null, namespaceName(ctx.host))),
    el("link", { rel: "self", href: id }),
    el("content", { type: "application/xml" }, description),
  );
}

/** The namespace's name: the first label of its host name, or the whole IP address. */
export function namespaceName(host: string): string {
  const bare = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.replace(/:\d+$/, "");
  return /^[\d.]+$/.test(bare) || bare.includes(":") ? bare : (bare.split(".")[0] ?? bare);
}

const DESCRIPTION_ATTRS = { xmlns: SB_NS, "xmlns:i": XSI_NS };

function countDetails(counts: EntityRuntimeCounts): XmlFragment {
  const c = (name: string, value: number): XmlFragment => el(`d2p1:${name}`, null, value);
  return el(
    "CountDetails",
    { "xmlns:d2p1": COUNT_NS },
    c("ActiveMessageCount", counts.activeMessageCount),
    c("DeadLetterMessageCount", counts.deadLetterMessageCount),
    c("ScheduledMessageCount", counts.scheduledMessageCount),
    c("TransferMessageCount", counts.transferMessageCount),
    c("TransferDeadLetterMessageCount", counts.transferDeadLetterMessageCount),
  );
}

function timestamps(counts: EntityRuntimeCounts): XmlFragment[] {
  return [
    el("CreatedAt", null, iso(counts.createdAt)),
    el("UpdatedAt", null, iso(counts.updatedAt)),
    el("AccessedAt", null, iso(counts.accessedAt)),
  ];
}

export function queueEntry(
  ctx: WriteContext,
  queue: QueueDescription,
  counts: EntityRuntimeCounts,
): XmlFragment {
  const o = queue.options;
  const description = el(
    "QueueDescription",
    DESCRIPTION_ATTRS,
    el("LockDuration", null, formatDuration(o.lockDurationMs)),
    el("MaxSizeInMegabytes", null, o.maxSizeInMegabytes),
    el("RequiresDuplicateDetection", null, o.requiresDuplicateDetection),
    el("RequiresSession", null, o.requiresSession),
    el("DefaultMessageTimeToLive", null, formatDuration(o.defaultMessageTimeToLiveMs)),
    el("DeadLetteringOnMessageExpiration", null, o.deadLetteringOnMessageExpiration),
    el("DuplicateDetectionHistoryTimeWindow", null, formatDuration(o.duplicateDetectionHistoryTimeWindowMs)),
    el("MaxDeliveryCount", null, o.maxDeliveryCount),
    el("EnableBatchedOperations", null, o.enableBatchedOperations),
    el("SizeInBytes", null, counts.sizeInBytes),
    el("MessageCount", null, counts.totalMessageCount),
    el("IsAnonymousAccessible", null, false),
    el("AuthorizationRules", null),
    el("Status", null, o.status),
    o.forwardTo ? el("ForwardTo", null, forwardUrl(ctx, o.forwardTo)) : undefined,
    o.userMetadata !== undefined ? el("UserMetadata", null, o.userMetadata) : undefined,
    ...timestamps(counts),
    el("SupportOrdering", null, true),
    countDetails(counts),
    el("AutoDeleteOnIdle", null, formatDuration(o.autoDeleteOnIdleMs)),
    el("EnablePartitioning", null, false),
    el("EntityAvailabilityStatus", null, "Available"),
    o.forwardDeadLetteredMessagesTo
      ? el("ForwardDeadLetteredMessagesTo", null, forwardUrl(ctx, o.forwardDeadLetteredMessagesTo))
      : undefined,
    el("EnableExpress", null, false),
    el("MaxMessageSizeInKilobytes", null, o.maxMessageSizeInKilobytes),
  );
  return entry(ctx, queue.name, queue.name, counts, description);
}

export function topicEntry(
  ctx: WriteContext,
  topic: TopicDescription,
  counts: EntityRuntimeCounts & { subscriptionCount: number },
): XmlFragment {
  const o = topic.options;
  const description = el(
    "TopicDescription",
    DESCRIPTION_ATTRS,
    el("DefaultMessageTimeToLive", null, formatDuration(o.defaultMessageTimeToLiveMs)),
    el("MaxSizeInMegabytes", null, o.maxSizeInMegabytes),
    el("RequiresDuplicateDetection", null, o.requiresDuplicateDetection),
    el("DuplicateDetectionHistoryTimeWindow", null, formatDuration(o.duplicateDetectionHistoryTimeWindowMs)),
    el("EnableBatchedOperations", null, o.enableBatchedOperations),
    el("SizeInBytes", null, counts.sizeInBytes),
    el("FilteringMessagesBeforePublishing", null, false),
    el("IsAnonymousAccessible", null, false),
    el("AuthorizationRules", null),
    el("Status", null, o.status),
    o.userMetadata !== undefined ? el("UserMetadata", null, o.userMetadata) : undefined,
    ...timestamps(counts),
    el("SupportOrdering", null, o.supportOrdering),
    countDetails(counts),
    el("SubscriptionCount", null, counts.subscriptionCount),
    el("AutoDeleteOnIdle", null, formatDuration(o.autoDeleteOnIdleMs)),
    el("EnablePartitioning", null, false),
    el("IsExpress", null, false),
    el("EntityAvailabilityStatus", null, "Available"),
    el("EnableSubscriptionPartitioning", null, false),
    el("EnableExpress", null, false),
    el("MaxMessageSizeInKilobytes", null, o.maxMessageSizeInKilobytes),
  );
  return entry(ctx, topic.name, topic.name, counts, description);
}

export function subscriptionEntry(
  ctx: WriteContext,
  topicName: string,
  subscription: SubscriptionDescription,
  counts: EntityRuntimeCounts,
): XmlFragment {
  const o = subscription.options;
  const description = el(
    "SubscriptionDescription",
    DESCRIPTION_ATTRS,
    el("LockDuration", null, formatDuration(o.lockDurationMs)),
    el("RequiresSession", null, o.requiresSession),
    el("DefaultMessageTimeToLive", null, formatDuration(o.defaultMessageTimeToLiveMs)),
    el("DeadLetteringOnMessageExpiration", null, o.deadLetteringOnMessageExpiration),
    el("DeadLetteringOnFilterEvaluationExceptions", null, o.deadLetteringOnFilterEvaluationExceptions),
    el("MessageCount", null, counts.totalMessageCount),
    el("MaxDeliveryCount", null, o.maxDeliveryCount),
    el("EnableBatchedOperations", null, o.enableBatchedOperations),
    el("Status", null, o.status),
    o.forwardTo ? el("ForwardTo", null, forwardUrl(ctx, o.forwardTo)) : undefined,
    ...timestamps(counts),
    countDetails(counts),
    o.userMetadata !== undefined ? el("UserMetadata", null, o.userMetadata) : undefined,
    o.forwardDeadLetteredMessagesTo
      ? el("ForwardDeadLetteredMessagesTo", null, forwardUrl(ctx, o.forwardDeadLetteredMessagesTo))
      : undefined,
    el("AutoDeleteOnIdle", null, formatDuration(o.autoDeleteOnIdleMs)),
    el("EntityAvailabilityStatus", null, "Available"),
  );
  const path = `${topicName}/Subscriptions/${subscription.name}`;
  return entry(ctx, path, subscription.name, counts, description);
}

export function ruleEntry(
  ctx: WriteContext,
  topicName: string,
  subscriptionName: string,
  rule: RuleDescription,
): XmlFragment {
  const description = el(
    "RuleDescription",
    DESCRIPTION_ATTRS,
    filterElement(rule.filter),
    actionElement(rule.action),
    el("Name", null, rule.name),
  );
  const path = `${topicName}/Subscriptions/${subscriptionName}/Rules/${rule.name}`;
  return entry(ctx, path, rule.name, { createdAt: ctx.now, updatedAt: ctx.now }, description);
}

function filterElement(filter: RuleFilter): XmlFragment {
  if (filter.kind === "sql") {
    const params = filter.sqlParameters && Object.keys(filter.sqlParameters).length > 0;
    const compact = filter.sqlExpression.replace(/\s+/g, "");
    // The service names the constant filters; the SDK reads SqlExpression either way.
    const type =
      !params && compact === "1=1"
        ? "TrueFilter"
        : !params && compact === "1=0"
          ? "FalseFilter"
          : "SqlFilter";
    return el(
      "Filter",
      { "i:type": type },
      el("SqlExpression", null, filter.sqlExpression),
      el("CompatibilityLevel", null, 20),
      params ? parametersElement("Parameters", filter.sqlParameters ?? {}) : undefined,
    );
  }
  const optional = (name: string, value: string | undefined): XmlFragment | undefined =>
    value === undefined ? undefined : el(name, null, value);
  const props = filter.applicationProperties && Object.keys(filter.applicationProperties).length > 0;
  return el(
    "Filter",
    { "i:type": "CorrelationFilter" },
    optional("CorrelationId", filter.correlationId),
    optional("MessageId", filter.messageId),
    optional("To", filter.to),
    optional("ReplyTo", filter.replyTo),
    optional("Label", filter.subject),
    optional("SessionId", filter.sessionId),
    optional("ReplyToSessionId", filter.replyToSessionId),
    optional("ContentType", filter.contentType),
    props ? parametersElement("Properties", filter.applicationProperties ?? {}) : undefined,
  );
}

function actionElement(action: SqlRuleAction | undefined): XmlFragment {
  if (!action) return el("Action", { "i:type": "EmptyRuleAction" });
  const params = action.sqlParameters && Object.keys(action.sqlParameters).length > 0;
  return el(
    "Action",
    { "i:type": "SqlRuleAction" },
    el("SqlExpression", null, action.sqlExpression),
    el("CompatibilityLevel", null, 20),
    params ? parametersElement("Parameters", action.sqlParameters ?? {}) : undefined,
  );
}

function parametersElement(name: string, values: Record<string, TypedValue>): XmlFragment {
  return el(
    name,
    null,
    ...Object.entries(values).map(([key, value]) => {
      const [type, text] =
        typeof value === "string"
          ? ["string", value]
          : typeof value === "boolean"
            ? ["boolean", String(value)]
            : typeof value === "number"
              ? [
                  Number.isInteger(value) && Math.abs(value) <= 2_147_483_647 ? "int" : "double",
                  String(value),
                ]
              : ["dateTime", value.toISOString()];
      return el(
        "KeyValueOfstringanyType",
        null,
        el("Key", null, key),
        el(
          "Value",
          { "i:type": `${VALUE_TYPE_PREFIX}:${type}`, [`xmlns:${VALUE_TYPE_PREFIX}`]: XSD_NS },
          text,
        ),
      );
    }),
  );
}

export function namespaceEntry(ctx: WriteContext, createdAt: Date): XmlFragment {
  const name = namespaceName(ctx.host);
  const description = el(
    "NamespaceInfo",
    DESCRIPTION_ATTRS,
    el("CreatedTime", null, iso(createdAt)),
    el("MessagingSKU", null, "Standard"),
    el("ModifiedTime", null, iso(createdAt)),
    el("Name", null, name),
    el("NamespaceType", null, "Messaging"),
  );
  return entry(ctx, "$namespaceinfo", name, { createdAt, updatedAt: createdAt }, description);
}

/**
 * A feed page. The SDK only looks for the `next` link when the feed has more than one link,
 * so the `self` link is always written.
 */
export function feed(
  ctx: WriteContext,
  title: string,
  path: string,
  page: { skip: number; top: number; total: number },
  entries: XmlFragment[],
): XmlFragment {
  const self = entityUrl(ctx, path, `%24skip=${page.skip}&%24top=${page.top}&`);
  const nextSkip = page.skip + entries.length;
  return el(
    "feed",
    { xmlns: ATOM_NS },
    el("title", { type: "text" }, title),
    el("id", null, self),
    el("updated", null, iso(ctx.now)),
    el("link", { rel: "self", href: self }),
    entries.length > 0 && nextSkip < page.total
      ? el("link", { rel: "next", href: entityUrl(ctx, path, `%24skip=${nextSkip}&%24top=${page.top}&`) })
      : undefined,
    ...entries,
  );
}

/** The error document the SDK reads `Error.Detail` from. */
export function errorElement(status: number, detail: string): XmlFragment {
  return el("Error", null, el("Code", null, status), el("Detail", null, detail));
}
