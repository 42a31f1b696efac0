/**
 * Subscription rules: correlation filters are matched here; SQL filters and actions are compiled
 * by the SQL engine (`../sql`). A message view is built lazily, once per message per topic send.
 */
import { EntityError, type CorrelationFilter, type RuleDescription } from "../model.js";
import {
  compileAction,
  compileFilter,
  evaluateFilter,
  type CompiledAction,
  type SqlMessageView,
  type SqlValue,
} from "../sql/index.js";
import { AmqpSymbol, AmqpUuid, type AmqpValue, type MessageProperties } from "../amqp/codec.js";
import { idToString, readApplicationProperties, readProperties, type StoredMessage } from "./message.js";

export interface CompiledRule {
  readonly description: RuleDescription;
  /** True when the filter matches; throws `FilterEvaluationError` when it cannot be evaluated. */
  matches(view: MessageView): boolean;
  readonly action: CompiledAction | undefined;
}

/** A SQL filter failed on a message (e.g. compared a string with a number). */
export class FilterEvaluationError extends Error {
  override readonly name = "FilterEvaluationError";
}

/** What filters read of a message, decoded on first use. */
export class MessageView {
  private props: MessageProperties | undefined;
  private app: Map<string, AmqpValue> | undefined;
  private sql: SqlMessageView | undefined;

  constructor(readonly msg: StoredMessage) {}

  get properties(): MessageProperties {
    return (this.props ??= readProperties(this.msg.bare));
  }

  get applicationProperties(): Map<string, AmqpValue> {
    if (!this.app) {
      this.app = new Map();
      for (const e of readApplicationProperties(this.msg.bare)) this.app.set(e.key, e.value);
    }
    return this.app;
  }

  /** A fresh SQL view (actions mutate it, so each action gets its own copy). */
  sqlView(): SqlMessageView {
    if (!this.sql) this.sql = buildSqlView(this.msg, this.properties, this.applicationProperties);
    return { system: new Map(this.sql.system), user: new Map(this.sql.user) };
  }

  /** The shared read-only SQL view for filters. */
  sqlFilterView(): SqlMessageView {
    if (!this.sql) this.sql = buildSqlView(this.msg, this.properties, this.applicationProperties);
    return this.sql;
  }
}

/** An AMQP value as the SQL engine sees it (null for what SQL cannot represent). */
export function toSqlValue(v: AmqpValue | undefined): SqlValue {
  if (v === undefined || v === null) return null;
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
  if (typeof v === "bigint") return Number(v);
  if (v instanceof Date) return v;
  if (v instanceof AmqpSymbol || v instanceof AmqpUuid) return v.toString();
  return null;
}

function buildSqlView(msg: StoredMessage, p: MessageProperties, app: Map<string, AmqpValue>): SqlMessageView {
  const system = new Map<string, SqlValue>();
  const set = (k: string, v: SqlValue | undefined): void => {
    if (v !== undefined && v !== null) system.set(k, v);
  };
  set("MessageId", idToString(p.messageId));
  set("CorrelationId", idToString(p.correlationId));
  set("Label", p.subject);
  set("To", p.to);
  set("ReplyTo", p.replyTo);
  set("SessionId", p.groupId);
  set("ReplyToSessionId", p.replyToGroupId);
  set("ContentType", p.contentType);
  set("DeliveryCount", msg.deliveryCount);
  set("SequenceNumber", msg.seq);
  set("EnqueuedTimeUtc", new Date(msg.enqueuedAt));
  if (msg.scheduledAt > 0) set("ScheduledEnqueueTimeUtc", new Date(msg.scheduledAt));
  set("Size", msg.size);
  if (msg.ttl > 0) set("TimeToLive", msg.ttl);
  if (msg.expiresAt !== Infinity) set("ExpiresAtUtc", new Date(msg.expiresAt));
  const user = new Map<string, SqlValue>();
  for (const [k, v] of app) user.set(k, toSqlValue(v));
  return { system, user };
}

function sameValue(expected: string | number | boolean | Date, actual: AmqpValue | undefined): boolean {
  if (actual === undefined || actual === null) return false;
  if (expected instanceof Date) return actual instanceof Date && actual.getTime() === expected.getTime();
  if (typeof expected === "number") {
    return (typeof actual === "number" || typeof actual === "bigint") && Number(actual) === expected;
  }
  if (typeof expected === "string") {
    return (
      (typeof actual === "string" && actual === expected) ||
      ((actual instanceof AmqpSymbol || actual instanceof AmqpUuid) && actual.toString() === expected)
    );
  }
  return actual === expected;
}

function correlationMatcher(f: CorrelationFilter): (view: MessageView) => boolean {
  const checks: Array<(view: MessageView) => boolean> = [];
  const sys = (expected: string | undefined, read: (p: MessageProperties) => string | undefined): void => {
    if (expected !== undefined) checks.push((v) => read(v.properties) === expected);
  };
  sys(f.correlationId, (p) => idToString(p.correlationId));
  sys(f.messageId, (p) => idToString(p.messageId));
  sys(f.to, (p) => p.to);
  sys(f.replyTo, (p) => p.replyTo);
  sys(f.subject, (p) => p.subject);
  sys(f.sessionId, (p) => p.groupId);
  sys(f.replyToSessionId, (p) => p.replyToGroupId);
  sys(f.contentType, (p) => p.contentType);
  for (const [name, expected] of Object.entries(f.applicationProperties ?? {})) {
    checks.push((v) => sameValue(expected, v.applicationProperties.get(name)));
  }
  return (view) => checks.every((c) => c(view));
}

/** Compiles a rule; a bad SQL expression is an `EntityError("BadRequest")`. */
export function compileRule(rule: RuleDescription): CompiledRule {
  let matches: (view: MessageView) => boolean;
  try {
    if (rule.filter.kind === "correlation") {
      matches = correlationMatcher(rule.filter);
    } else {
      const compiled = compileFilter(rule.filter.sqlExpression, rule.filter.sqlParameters);
      matches = (view) => {
        const r = evaluateFilter(compiled, view.sqlFilterView());
        if (r.error) throw new FilterEvaluationError(r.error.message);
        return r.value === true;
      };
    }
    const action =
      rule.action === undefined || rule.action.sqlExpression.trim() === ""
        ? undefined
        : compileAction(rule.action.sqlExpression, rule.action.sqlParameters);
    return { description: rule, matches, action };
  } catch (err) {
    if (err instanceof EntityError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new EntityError("BadRequest", `Rule '${rule.name}' is invalid: ${message}`);
  }
}
