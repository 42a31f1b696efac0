/**
 * Reads a Config.json in the format of Microsoft's Service Bus emulator and maps it onto the
 * entity model. Every problem is reported with the file, the JSON path and what is wrong.
 *
 * Properties a file leaves out take Azure Service Bus defaults (see `model.ts`), not the
 * Microsoft emulator's (which caps TTL at one hour and delivery count at 10).
 */
import { readFileSync } from "node:fs";
import { HeraldError } from "../../core/errors.js";
import {
  MAX_TIMESPAN_MS,
  type CorrelationFilter,
  type NamespaceDescription,
  type QueueDescription,
  type QueueOptions,
  type RuleDescription,
  type SubscriptionDescription,
  type SubscriptionOptions,
  type TopicDescription,
  type TopicOptions,
} from "./model.js";
import { compileAction, compileFilter } from "./sql/index.js";

export const DEFAULT_NAMESPACE = "sbemulatorns";

const ENTITY_NAME = /^[A-Za-z0-9]$|^[A-Za-z0-9][\w\-./]*[A-Za-z0-9]$/;
const CHILD_NAME = /^[A-Za-z0-9$]$|^[A-Za-z0-9$][\w\-.]*[A-Za-z0-9]$/;

class ConfigError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

const MS_PER = { Y: 365 * 86_400_000, M: 30 * 86_400_000, W: 7 * 86_400_000, D: 86_400_000 };

/**
 * Parses an ISO 8601 duration (`PT1M`, `P14D`, `PT0.5S`, `P1DT2H`) to milliseconds. Years and
 * months count as 365 and 30 days, as .NET's XmlConvert does. Returns undefined if malformed.
 */
export function parseDuration(text: string): number | undefined {
  const m =
    /^P(?!$)(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?=\d)(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(
      text,
    );
  if (!m) return undefined;
  const [, y, mo, w, d, h, mi, s] = m.map((v) => (v === undefined ? 0 : Number(v)));
  const ms =
    y! * MS_PER.Y +
    mo! * MS_PER.M +
    w! * MS_PER.W +
    d! * MS_PER.D +
    h! * 3_600_000 +
    mi! * 60_000 +
    s! * 1000;
  return Math.round(ms);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function objectAt(v: unknown, path: string): Record<string, unknown> {
  if (!isObject(v)) throw new ConfigError(path, `must be an object, got ${describe(v)}`);
  return v;
}

function arrayAt(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ConfigError(path, `must be an array, got ${describe(v)}`);
  return v;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `"${v.length > 60 ? v.slice(0, 60) + "…" : v}"`;
  if (typeof v === "object") return "an object";
  return String(v);
}

function nameAt(obj: Record<string, unknown>, path: string, pattern: RegExp, max: number): string {
  const v = obj["Name"];
  if (typeof v !== "string" || v === "")
    throw new ConfigError(`${path}.Name`, "is required and must be a non-empty string");
  if (v.length > max || !pattern.test(v)) {
    throw new ConfigError(
      `${path}.Name`,
      `"${v}" is not a valid name (letters, digits, '.', '-', '_'${pattern === ENTITY_NAME ? ", '/'" : ""}; start and end with a letter or digit; at most ${max} characters)`,
    );
  }
  return v;
}

type Reader<T> = (v: unknown, path: string) => T;

const bool: Reader<boolean> = (v, path) => {
  if (typeof v !== "boolean") throw new ConfigError(path, `must be true or false, got ${describe(v)}`);
  return v;
};

const positiveInt: Reader<number> = (v, path) => {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new ConfigError(path, `must be a positive integer, got ${describe(v)}`);
  }
  return v;
};

function duration(max = MAX_TIMESPAN_MS): Reader<number> {
  return (v, path) => {
    const ms = typeof v === "string" ? parseDuration(v) : undefined;
    if (ms === undefined) {
      throw new ConfigError(
        path,
        `must be an ISO 8601 duration such as "PT1M" or "P14D", got ${describe(v)}`,
      );
    }
    if (ms <= 0) throw new ConfigError(path, `must be longer than zero, got ${describe(v)}`);
    if (ms > max) throw new ConfigError(path, `must be at most ${max / 1000} seconds, got ${describe(v)}`);
    return ms;
  };
}

const entityRef: Reader<string> = (v, path) => {
  if (typeof v !== "string") throw new ConfigError(path, `must be an entity name or "", got ${describe(v)}`);
  if (v !== "" && !ENTITY_NAME.test(v)) throw new ConfigError(path, `"${v}" is not a valid entity name`);
  return v;
};

const text: Reader<string> = (v, path) => {
  if (typeof v !== "string") throw new ConfigError(path, `must be a string, got ${describe(v)}`);
  return v;
};

const status: Reader<QueueOptions["status"]> = (v, path) => {
  if (v === "Active" || v === "Disabled" || v === "SendDisabled" || v === "ReceiveDisabled") return v;
  throw new ConfigError(
    path,
    `must be Active, Disabled, SendDisabled or ReceiveDisabled, got ${describe(v)}`,
  );
};

/** Config.json property name -> [model field, reader]. */
type PropertyTable<T> = Record<string, readonly [keyof T, Reader<unknown>]>;

const COMMON = {
  DefaultMessageTimeToLive: ["defaultMessageTimeToLiveMs", duration()],
  Status: ["status", status],
  EnableBatchedOperations: ["enableBatchedOperations", bool],
  UserMetadata: ["userMetadata", text],
  AutoDeleteOnIdle: ["autoDeleteOnIdleMs", duration()],
} as const;

const QUEUE_PROPERTIES: PropertyTable<QueueOptions> = {
  ...COMMON,
  MaxSizeInMegabytes: ["maxSizeInMegabytes", positiveInt],
  LockDuration: ["lockDurationMs", duration(5 * 60_000)],
  MaxDeliveryCount: ["maxDeliveryCount", positiveInt],
  DeadLetteringOnMessageExpiration: ["deadLetteringOnMessageExpiration", bool],
  RequiresSession: ["requiresSession", bool],
  RequiresDuplicateDetection: ["requiresDuplicateDetection", bool],
  DuplicateDetectionHistoryTimeWindow: ["duplicateDetectionHistoryTimeWindowMs", duration()],
  ForwardTo: ["forwardTo", entityRef],
  ForwardDeadLetteredMessagesTo: ["forwardDeadLetteredMessagesTo", entityRef],
  MaxMessageSizeInKilobytes: ["maxMessageSizeInKilobytes", positiveInt],
};

const TOPIC_PROPERTIES: PropertyTable<TopicOptions> = {
  ...COMMON,
  MaxSizeInMegabytes: ["maxSizeInMegabytes", positiveInt],
  RequiresDuplicateDetection: ["requiresDuplicateDetection", bool],
  DuplicateDetectionHistoryTimeWindow: ["duplicateDetectionHistoryTimeWindowMs", duration()],
  MaxMessageSizeInKilobytes: ["maxMessageSizeInKilobytes", positiveInt],
  SupportOrdering: ["supportOrdering", bool],
};

const SUBSCRIPTION_PROPERTIES: PropertyTable<SubscriptionOptions> = {
  ...COMMON,
  LockDuration: ["lockDurationMs", duration(5 * 60_000)],
  MaxDeliveryCount: ["maxDeliveryCount", positiveInt],
  DeadLetteringOnMessageExpiration: ["deadLetteringOnMessageExpiration", bool],
  DeadLetteringOnFilterEvaluationExceptions: ["deadLetteringOnFilterEvaluationExceptions", bool],
  RequiresSession: ["requiresSession", bool],
  ForwardTo: ["forwardTo", entityRef],
  ForwardDeadLetteredMessagesTo: ["forwardDeadLetteredMessagesTo", entityRef],
};

function readProperties<T>(v: unknown, path: string, table: PropertyTable<T>): Partial<T> {
  if (v === undefined || v === null) return {};
  const obj = objectAt(v, path);
  const out: Partial<T> = {};
  for (const [key, value] of Object.entries(obj)) {
    const entry = table[key];
    if (!entry) {
      throw new ConfigError(
        `${path}.${key}`,
        `is not a known property; known: ${Object.keys(table).join(", ")}`,
      );
    }
    const [field, read] = entry;
    (out as Record<string, unknown>)[field as string] = read(value, `${path}.${key}`);
  }
  return out;
}

function checkUnique(names: string[], paths: string[], what: string): void {
  const seen = new Map<string, number>();
  names.forEach((n, i) => {
    const k = n.toLowerCase();
    const first = seen.get(k);
    if (first !== undefined)
      throw new ConfigError(`${paths[i]}.Name`, `duplicates the ${what} at ${paths[first]} ("${n}")`);
    seen.set(k, i);
  });
}

function sqlCheck(kind: "filter" | "action", expression: string, path: string): void {
  try {
    if (kind === "filter") compileFilter(expression);
    else compileAction(expression);
  } catch (err) {
    const position = (err as { position?: unknown }).position;
    const at = typeof position === "number" ? ` at character ${position}` : "";
    throw new ConfigError(
      path,
      `is not a valid SQL ${kind}${at}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

const CORRELATION_FIELDS: Record<string, keyof CorrelationFilter> = {
  ContentType: "contentType",
  CorrelationId: "correlationId",
  Label: "subject",
  MessageId: "messageId",
  ReplyTo: "replyTo",
  ReplyToSessionId: "replyToSessionId",
  SessionId: "sessionId",
  To: "to",
};

function readRule(v: unknown, path: string): RuleDescription {
  const obj = objectAt(v, path);
  const name = nameAt(obj, path, CHILD_NAME, 50);
  const props = objectAt(obj["Properties"], `${path}.Properties`);
  const pp = `${path}.Properties`;
  for (const key of Object.keys(props)) {
    if (!["FilterType", "CorrelationFilter", "SqlFilter", "Action"].includes(key)) {
      throw new ConfigError(
        `${pp}.${key}`,
        "is not a known rule property; known: FilterType, CorrelationFilter, SqlFilter, Action",
      );
    }
  }
  const type = props["FilterType"];
  let rule: RuleDescription;
  if (type === "Correlation") {
    const cf = objectAt(props["CorrelationFilter"], `${pp}.CorrelationFilter`);
    const filter: CorrelationFilter = { kind: "correlation" };
    for (const [key, value] of Object.entries(cf)) {
      const fp = `${pp}.CorrelationFilter.${key}`;
      if (key === "Properties") {
        const ap = objectAt(value, fp);
        const out: Record<string, string | number | boolean> = {};
        for (const [pk, pv] of Object.entries(ap)) {
          if (typeof pv !== "string" && typeof pv !== "number" && typeof pv !== "boolean") {
            throw new ConfigError(`${fp}.${pk}`, `must be a string, number or boolean, got ${describe(pv)}`);
          }
          out[pk] = pv;
        }
        filter.applicationProperties = out;
        continue;
      }
      const field = CORRELATION_FIELDS[key];
      if (!field) {
        throw new ConfigError(
          fp,
          `is not a correlation filter property; known: ${[...Object.keys(CORRELATION_FIELDS), "Properties"].join(", ")}`,
        );
      }
      (filter as unknown as Record<string, string>)[field] = text(value, fp);
    }
    if (Object.keys(filter).length === 1)
      throw new ConfigError(`${pp}.CorrelationFilter`, "must set at least one property");
    rule = { name, filter };
  } else if (type === "Sql") {
    const sf = objectAt(props["SqlFilter"], `${pp}.SqlFilter`);
    const expression = text(sf["SqlExpression"], `${pp}.SqlFilter.SqlExpression`);
    sqlCheck("filter", expression, `${pp}.SqlFilter.SqlExpression`);
    rule = { name, filter: { kind: "sql", sqlExpression: expression } };
  } else {
    throw new ConfigError(`${pp}.FilterType`, `must be "Correlation" or "Sql", got ${describe(type)}`);
  }
  if (props["Action"] !== undefined && props["Action"] !== null) {
    const action = objectAt(props["Action"], `${pp}.Action`);
    const expression = text(action["SqlExpression"], `${pp}.Action.SqlExpression`);
    if (expression.trim() !== "") {
      sqlCheck("action", expression, `${pp}.Action.SqlExpression`);
      rule.action = { sqlExpression: expression };
    }
  }
  return rule;
}

/** Maps parsed Config.json content onto a namespace description (throws `ConfigError`). */
function readNamespace(root: unknown): NamespaceDescription {
  const rootObj = objectAt(root, "(root)");
  const user = objectAt(rootObj["UserConfig"], "UserConfig");
  const namespaces = arrayAt(user["Namespaces"], "UserConfig.Namespaces");
  if (namespaces.length === 0) throw new ConfigError("UserConfig.Namespaces", "must hold one namespace");
  if (namespaces.length > 1) {
    throw new ConfigError(
      "UserConfig.Namespaces[1]",
      "only one namespace is supported (as in Microsoft's emulator)",
    );
  }
  if (user["Logging"] !== undefined) objectAt(user["Logging"], "UserConfig.Logging");
  const np = "UserConfig.Namespaces[0]";
  const ns = objectAt(namespaces[0], np);
  const nsName = ns["Name"] === undefined ? DEFAULT_NAMESPACE : nameAt(ns, np, ENTITY_NAME, 50);

  const queues: QueueDescription[] = arrayAt(ns["Queues"], `${np}.Queues`).map((q, i) => {
    const p = `${np}.Queues[${i}]`;
    const obj = objectAt(q, p);
    return {
      name: nameAt(obj, p, ENTITY_NAME, 260),
      options: readProperties(obj["Properties"], `${p}.Properties`, QUEUE_PROPERTIES) as QueueOptions,
    };
  });
  const topics: TopicDescription[] = arrayAt(ns["Topics"], `${np}.Topics`).map((t, i) => {
    const p = `${np}.Topics[${i}]`;
    const obj = objectAt(t, p);
    const name = nameAt(obj, p, ENTITY_NAME, 260);
    const subscriptions: SubscriptionDescription[] = arrayAt(obj["Subscriptions"], `${p}.Subscriptions`).map(
      (s, j) => {
        const sp = `${p}.Subscriptions[${j}]`;
        const so = objectAt(s, sp);
        const rules = arrayAt(so["Rules"], `${sp}.Rules`).map((r, k) => readRule(r, `${sp}.Rules[${k}]`));
        checkUnique(
          rules.map((r) => r.name),
          rules.map((_, k) => `${sp}.Rules[${k}]`),
          "rule",
        );
        return {
          name: nameAt(so, sp, CHILD_NAME, 50),
          options: readProperties(
            so["Properties"],
            `${sp}.Properties`,
            SUBSCRIPTION_PROPERTIES,
          ) as SubscriptionOptions,
          rules,
        };
      },
    );
    checkUnique(
      subscriptions.map((s) => s.name),
      subscriptions.map((_, j) => `${p}.Subscriptions[${j}]`),
      "subscription",
    );
    return {
      name,
      options: readProperties(obj["Properties"], `${p}.Properties`, TOPIC_PROPERTIES) as TopicOptions,
      subscriptions,
    };
  });
  checkUnique(
    [...queues.map((q) => q.name), ...topics.map((t) => t.name)],
    [...queues.map((_, i) => `${np}.Queues[${i}]`), ...topics.map((_, i) => `${np}.Topics[${i}]`)],
    "entity",
  );
  const known = new Set([
    ...queues.map((q) => q.name.toLowerCase()),
    ...topics.map((t) => t.name.toLowerCase()),
  ]);
  const checkTarget = (to: string | undefined, path: string, self: string): void => {
    if (!to) return;
    if (to.toLowerCase() === self.toLowerCase())
      throw new ConfigError(path, `cannot forward "${self}" to itself`);
    if (!known.has(to.toLowerCase()))
      throw new ConfigError(path, `names "${to}", which is not a queue or topic in this file`);
  };
  queues.forEach((q, i) => {
    checkTarget(q.options.forwardTo, `${np}.Queues[${i}].Properties.ForwardTo`, q.name);
    checkTarget(
      q.options.forwardDeadLetteredMessagesTo,
      `${np}.Queues[${i}].Properties.ForwardDeadLetteredMessagesTo`,
      q.name,
    );
  });
  topics.forEach((t, i) =>
    t.subscriptions.forEach((s, j) => {
      const sp = `${np}.Topics[${i}].Subscriptions[${j}].Properties`;
      checkTarget(s.options.forwardTo, `${sp}.ForwardTo`, `${t.name}/Subscriptions/${s.name}`);
      checkTarget(
        s.options.forwardDeadLetteredMessagesTo,
        `${sp}.ForwardDeadLetteredMessagesTo`,
        `${t.name}/Subscriptions/${s.name}`,
      );
    }),
  );
  return { name: nsName, queues, topics };
}

/** Parses Config.json text; `file` names it in errors. */
export function parseConfig(textContent: string, file: string): NamespaceDescription {
  let json: unknown;
  try {
    json = JSON.parse(textContent);
  } catch (err) {
    throw new HeraldError(
      "HERALD_INVALID_CONFIG",
      `${file}: not valid JSON: ${err instanceof Error ? err.message : String(err)}`,
      {
        target: file,
      },
    );
  }
  try {
    return readNamespace(json);
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new HeraldError("HERALD_INVALID_CONFIG", `${file}: ${err.path}: ${err.message}`, {
        target: err.path,
      });
    }
    throw err;
  }
}

/** Reads and parses a Config.json file. */
export function readConfigFile(file: string): NamespaceDescription {
  let content: string;
  try {
    content = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new HeraldError(
      "HERALD_INVALID_CONFIG",
      `${file}: cannot read the config file (${code ?? (err instanceof Error ? err.message : String(err))})`,
      { target: file },
    );
  }
  return parseConfig(content.replace(/^\uFEFF/, ""), file);
}
