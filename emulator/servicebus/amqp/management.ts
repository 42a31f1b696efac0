/**
 * `<entity>/$management` request/response operations: lock renewal, scheduling, peek, deferred
 * receive, disposition by lock token, session lock/state, session listing and rules. Every
 * failure is answered with a status code, a description and an `errorCondition`.
 */
import type { Delivery } from "rhea";
import type { Broker } from "../broker/broker.js";
import { BrokerError } from "../broker/errors.js";
import { MessageState, encodeForDelivery, type StoredMessage } from "../broker/message.js";
import type { MessageStore } from "../broker/store.js";
import { EntityError, type CorrelationFilter, type RuleDescription } from "../model.js";
import { parseMessage, uuidToBytes, uuidToString, type AmqpValue } from "./codec.js";
import { isExpectedError, toAmqpError } from "./errors.js";
import { acceptedOutcome, decodeRequest, encodeResponse, rhea, type AmqpRequest } from "./rhea.js";
import type { Logger } from "./server.js";

type Body = Record<string, unknown>;

/** A value rhea must encode with a specific AMQP type. */
function typed(t: unknown): { toRheaTyped(): unknown } {
  return { toRheaTyped: () => t };
}

const T = rhea.types as unknown as {
  wrap_array(items: unknown[], code: number, descriptors?: unknown): unknown;
  wrap_uuid(b: Buffer): unknown;
  wrap_string(s: string): unknown;
  wrap_int(n: number): unknown;
  wrap_ulong(n: number): unknown;
  wrap_timestamp(n: number): unknown;
  wrap_map(o: object): unknown;
  wrap(v: unknown): unknown;
  described(descriptor: unknown, value: unknown): unknown;
  List32(items: unknown[]): unknown;
  Null(): unknown;
};

const DESCRIPTOR = {
  ruleDescription: 0x0000013700000004,
  emptyRuleAction: 0x0000013700000005,
  sqlRuleAction: 0x0000013700000006,
  sqlFilter: 0x0000001370000006,
  trueFilter: 0x0000001370000007,
  falseFilter: 0x0000001370000008,
  correlationFilter: 0x0000001370000009,
} as const;

function str(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  return undefined;
}

/** A sequence number as the client sends it: a number, or 8 big-endian bytes. */
function toSeq(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (Buffer.isBuffer(v) && v.length === 8) return Number(v.readBigInt64BE(0));
  throw new BrokerError("BadRequest", "A sequence number must be a long.");
}

function toSeqBytes(seq: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(seq));
  return b;
}

/** A lock token as the client sends it: a uuid (16 bytes) or its text. */
function toLockToken(v: unknown): string {
  if (Buffer.isBuffer(v) && v.length === 16) return uuidToString(v);
  if (typeof v === "string") return uuidToString(uuidToBytes(v));
  throw new BrokerError("BadRequest", "A lock token must be a uuid.");
}

function list(v: unknown, field: string): unknown[] {
  if (Array.isArray(v)) return v;
  throw new BrokerError("BadRequest", `Request field '${field}' must be a list.`);
}

function required<T>(v: T | undefined, field: string): T {
  if (v === undefined || v === null)
    throw new BrokerError("BadRequest", `Request field '${field}' is missing.`);
  return v;
}

/** Application properties from a `properties-to-modify` map. */
function propsToModify(v: unknown): Map<string, AmqpValue | undefined> | undefined {
  if (!v || typeof v !== "object" || Buffer.isBuffer(v)) return undefined;
  const out = new Map<string, AmqpValue | undefined>();
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) out.set(k, toAmqpValue(val));
  return out;
}

function toAmqpValue(v: unknown): AmqpValue | undefined {
  if (v === undefined) return undefined;
  if (
    v === null ||
    typeof v === "string" ||
    typeof v === "number" ||
    typeof v === "boolean" ||
    typeof v === "bigint" ||
    v instanceof Date ||
    Buffer.isBuffer(v)
  ) {
    return v;
  }
  return String(v);
}

export class ManagementHandler {
  constructor(
    private readonly broker: Broker,
    private readonly logger: Logger,
  ) {}

  handle(
    entity: string,
    delivery: Delivery,
    payload: Buffer,
    reply: (payload: Buffer, to: string | undefined) => void,
  ): void {
    delivery.update(true, acceptedOutcome());
    let request: AmqpRequest;
    try {
      request = decodeRequest(payload);
    } catch {
      return; // nothing to correlate a reply with
    }
    const to = typeof request.reply_to === "string" ? request.reply_to : undefined;
    const ap = request.application_properties ?? {};
    const operation = String(ap["operation"] ?? "");
    const linkName = str(ap["associated-link-name"]);
    let status = 200;
    let body: Body | undefined;
    let error: { condition: string; description: string } | undefined;
    try {
      const b = request.body;
      const reqBody: Body =
        b && typeof b === "object" && !Buffer.isBuffer(b) && !Array.isArray(b) ? (b as Body) : {};
      body = this.dispatch(entity, operation, reqBody, linkName);
    } catch (err) {
      const e = toAmqpError(err);
      status = e.status;
      error = { condition: e.condition, description: e.description };
      if (!isExpectedError(err)) {
        this.logger.error(
          `$management ${operation} on '${entity}' failed: ${err instanceof Error ? err.stack : String(err)}`,
        );
      }
    }
    const props: Record<string, unknown> = {
      statusCode: status,
      statusDescription: error?.description ?? "OK",
    };
    if (error) props["errorCondition"] = error.condition;
    reply(
      encodeResponse({
        correlation_id: request.message_id,
        to,
        application_properties: props,
        ...(body !== undefined ? { body } : {}),
      }),
      to,
    );
  }

  private store(entity: string): MessageStore {
    return this.broker.resolveStore(entity);
  }

  private dispatch(
    entity: string,
    operation: string,
    body: Body,
    linkName: string | undefined,
  ): Body | undefined {
    switch (operation) {
      case "com.microsoft:renew-lock":
        return this.renewLock(entity, body);
      case "com.microsoft:schedule-message":
        return this.scheduleMessages(entity, body);
      case "com.microsoft:cancel-scheduled-message": {
        const target = this.broker.resolveSendTarget(entity);
        this.broker.cancelScheduled(target, list(body["sequence-numbers"], "sequence-numbers").map(toSeq));
        return undefined;
      }
      case "com.microsoft:peek-message":
        return this.peek(entity, body);
      case "com.microsoft:receive-by-sequence-number":
        return this.receiveDeferred(entity, body, linkName);
      case "com.microsoft:update-disposition":
        this.updateDisposition(entity, body);
        return undefined;
      case "com.microsoft:renew-session-lock": {
        const store = this.store(entity);
        const sessionId = required(str(body["session-id"]), "session-id");
        const until = store.renewSessionLock(sessionId, linkName);
        return { expiration: typed(T.wrap_timestamp(until)) };
      }
      case "com.microsoft:set-session-state": {
        const store = this.store(entity);
        const sessionId = required(str(body["session-id"]), "session-id");
        const state = body["session-state"];
        if (state !== undefined && state !== null && !Buffer.isBuffer(state)) {
          throw new BrokerError("BadRequest", "session-state must be binary or null.");
        }
        store.setSessionState(sessionId, state ?? undefined, linkName);
        return undefined;
      }
      case "com.microsoft:get-session-state": {
        const store = this.store(entity);
        const sessionId = required(str(body["session-id"]), "session-id");
        const state = store.getSessionState(sessionId, linkName);
        return { "session-state": state ?? null };
      }
      case "com.microsoft:get-message-sessions": {
        const store = this.store(entity);
        const since = body["last-updated-time"];
        const skip = typeof body["skip"] === "number" ? body["skip"] : 0;
        const top = typeof body["top"] === "number" ? body["top"] : 100;
        const ids = store.listSessions(since instanceof Date ? since.getTime() : 0).slice(skip, skip + top);
        return { skip: typed(T.wrap_int(skip + ids.length)), "sessions-ids": typed(T.wrap_array(ids, 0xb1)) };
      }
      case "com.microsoft:add-rule": {
        const [topic, sub] = this.subscriptionOf(entity);
        const name = required(str(body["rule-name"]), "rule-name");
        this.broker.createRule(topic, sub, parseRule(name, body["rule-description"]));
        return undefined;
      }
      case "com.microsoft:remove-rule": {
        const [topic, sub] = this.subscriptionOf(entity);
        this.broker.deleteRule(topic, sub, required(str(body["rule-name"]), "rule-name"));
        return undefined;
      }
      case "com.microsoft:enumerate-rules": {
        const [topic, sub] = this.subscriptionOf(entity);
        const skip = typeof body["skip"] === "number" ? body["skip"] : 0;
        const top = typeof body["top"] === "number" ? body["top"] : 100;
        const rules = this.broker.listRules(topic, sub).slice(skip, skip + top);
        return { rules: rules.map((r) => ({ "rule-description": typed(describeRule(r)) })) };
      }
      default:
        throw new BrokerError(
          "BadRequest",
          operation === ""
            ? "The request has no 'operation'."
            : `Unsupported $management operation '${operation}'.`,
        );
    }
  }

  private subscriptionOf(entity: string): [string, string] {
    const r = this.broker.resolve(entity);
    if (r.kind !== "subscription") {
      throw new BrokerError("InvalidOperation", `Rules exist only on subscriptions; '${entity}' is not one.`);
    }
    return [r.subscription.topic.name, r.subscription.name];
  }

  private renewLock(entity: string, body: Body): Body {
    const store = this.store(entity);
    const tokens = list(body["lock-tokens"], "lock-tokens").map(toLockToken);
    const expirations = tokens.map((t) => store.renewLock(t));
    return { expirations: typed(T.wrap_array(expirations, 0x83)) };
  }

  private scheduleMessages(entity: string, body: Body): Body {
    const target = this.broker.resolveSendTarget(entity);
    const entries = list(body["messages"], "messages");
    const parsed = entries.map((e) => {
      const raw = (e as Body | null)?.["message"];
      if (!Buffer.isBuffer(raw))
        throw new BrokerError("BadRequest", "Each scheduled message needs a 'message' (binary).");
      return parseMessage(raw);
    });
    const seqs = this.broker.schedule(target, parsed);
    return { "sequence-numbers": typed(T.wrap_array(seqs.map(toSeqBytes), 0x81)) };
  }

  private peek(entity: string, body: Body): Body {
    const store = this.store(entity);
    const from = toSeq(required(body["from-sequence-number"], "from-sequence-number"));
    const count = body["message-count"];
    if (typeof count !== "number" || count < 1)
      throw new BrokerError("BadRequest", "message-count must be a positive int.");
    const sessionId = str(body["session-id"]);
    const msgs = store.peek(from, Math.min(count, 10_000), sessionId);
    return {
      messages: msgs.map((m) => ({ message: encodeForDelivery(m, m.deliveryCount, peekAnnotations(m)) })),
    };
  }

  private receiveDeferred(entity: string, body: Body, linkName: string | undefined): Body {
    const store = this.store(entity);
    const seqs = list(body["sequence-numbers"], "sequence-numbers").map(toSeq);
    const mode = body["receiver-settle-mode"];
    const receiveAndDelete = mode === 0;
    const out = store.receiveDeferred(seqs, receiveAndDelete, str(body["session-id"]), linkName);
    return {
      messages: out.map(({ msg, headerDeliveryCount, lockToken }) => {
        const entry: Body = {
          message: encodeForDelivery(msg, headerDeliveryCount, {
            messageState: 1,
            ...(lockToken ? { lockedUntil: msg.lockedUntil } : {}),
          }),
        };
        if (lockToken) entry["lock-token"] = typed(T.wrap_uuid(uuidToBytes(lockToken)));
        return entry;
      }),
    };
  }

  private updateDisposition(entity: string, body: Body): void {
    const store = this.store(entity);
    const tokens = list(body["lock-tokens"], "lock-tokens").map(toLockToken);
    const status = str(body["disposition-status"]);
    const props = propsToModify(body["properties-to-modify"]);
    for (const token of tokens) {
      switch (status) {
        case "completed":
          store.complete(token);
          break;
        case "abandoned":
          store.abandon(token, props);
          break;
        case "defered":
        case "deferred":
          store.defer(token, props);
          break;
        case "suspended":
          store.deadLetter(token, str(body["deadletter-reason"]), str(body["deadletter-description"]), props);
          break;
        default:
          throw new BrokerError("BadRequest", `Unknown disposition-status '${String(status)}'.`);
      }
    }
  }
}

function peekAnnotations(m: StoredMessage): { messageState?: number; lockedUntil?: number } {
  if (m.state === MessageState.Deferred) return { messageState: 1 };
  if (m.state === MessageState.Scheduled) return { messageState: 2 };
  if (m.state === MessageState.Locked) return { lockedUntil: m.lockedUntil };
  return {};
}

/** A rule from an add-rule request's `rule-description` map. */
export function parseRule(name: string, v: unknown): RuleDescription {
  if (!v || typeof v !== "object")
    throw new EntityError("BadRequest", "add-rule needs a rule-description map.");
  const d = v as Body;
  const sql = d["sql-filter"] as Body | undefined;
  const corr = d["correlation-filter"] as Body | undefined;
  const action = d["sql-rule-action"] as Body | undefined;
  let rule: RuleDescription;
  if (sql && typeof sql === "object") {
    const expression = str(sql["expression"]);
    if (expression === undefined) throw new EntityError("BadRequest", "sql-filter needs an expression.");
    rule = { name, filter: { kind: "sql", sqlExpression: expression } };
  } else if (corr && typeof corr === "object") {
    const f: CorrelationFilter = { kind: "correlation" };
    const fields: Array<[keyof CorrelationFilter, string]> = [
      ["correlationId", "correlation-id"],
      ["messageId", "message-id"],
      ["to", "to"],
      ["replyTo", "reply-to"],
      ["subject", "label"],
      ["sessionId", "session-id"],
      ["replyToSessionId", "reply-to-session-id"],
      ["contentType", "content-type"],
    ];
    for (const [key, wire] of fields) {
      const s = str(corr[wire]);
      if (s !== undefined) (f as unknown as Record<string, string>)[key] = s;
    }
    const props = corr["properties"];
    if (props && typeof props === "object" && !Buffer.isBuffer(props)) {
      const ap: Record<string, string | number | boolean | Date> = {};
      for (const [k, val] of Object.entries(props as Body)) {
        if (
          typeof val === "string" ||
          typeof val === "number" ||
          typeof val === "boolean" ||
          val instanceof Date
        )
          ap[k] = val;
      }
      f.applicationProperties = ap;
    }
    rule = { name, filter: f };
  } else {
    throw new EntityError("BadRequest", "rule-description needs a sql-filter or a correlation-filter.");
  }
  const actionExpr = action && typeof action === "object" ? str(action["expression"]) : undefined;
  if (actionExpr !== undefined && actionExpr.trim() !== "") rule.action = { sqlExpression: actionExpr };
  return rule;
}

function nullable(s: string | undefined): unknown {
  return s === undefined ? T.Null() : T.wrap_string(s);
}

/** A rule as enumerate-rules returns it: described list [filter, action, name, created-at]. */
export function describeRule(r: RuleDescription): unknown {
  let filter: unknown;
  if (r.filter.kind === "sql") {
    const expr = r.filter.sqlExpression.replace(/\s+/g, "");
    if (expr === "1=1") filter = T.described(T.wrap_ulong(DESCRIPTOR.trueFilter), T.List32([]));
    else if (expr === "1=0") filter = T.described(T.wrap_ulong(DESCRIPTOR.falseFilter), T.List32([]));
    else {
      filter = T.described(
        T.wrap_ulong(DESCRIPTOR.sqlFilter),
        T.List32([T.wrap_string(r.filter.sqlExpression), T.wrap_int(20)]),
      );
    }
  } else {
    const f = r.filter;
    filter = T.described(
      T.wrap_ulong(DESCRIPTOR.correlationFilter),
      T.List32([
        nullable(f.correlationId),
        nullable(f.messageId),
        nullable(f.to),
        nullable(f.replyTo),
        nullable(f.subject),
        nullable(f.sessionId),
        nullable(f.replyToSessionId),
        nullable(f.contentType),
        T.wrap_map(f.applicationProperties ?? {}),
      ]),
    );
  }
  const action = r.action
    ? T.described(
        T.wrap_ulong(DESCRIPTOR.sqlRuleAction),
        T.List32([T.wrap_string(r.action.sqlExpression), T.wrap_int(20)]),
      )
    : T.described(T.wrap_ulong(DESCRIPTOR.emptyRuleAction), T.List32([]));
  return T.described(
    T.wrap_ulong(DESCRIPTOR.ruleDescription),
    T.List32([filter, action, T.wrap_string(r.name), T.wrap_timestamp(Date.now())]),
  );
}
