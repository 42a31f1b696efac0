import type { SqlMessageView, SqlValue } from "./types.js";

/** A broker property addressable as `sys.<name>`. */
export interface SystemProperty {
  /** The canonical name, as the broker keys it in `SqlMessageView.system`. */
  readonly name: string;
  /** Other names accepted in expressions (case-insensitive), e.g. `Subject` for `Label`. */
  readonly aliases: readonly string[];
  /** Whether `SET sys.<name> = ...` is allowed in a rule action. All settable ones are strings. */
  readonly settable: boolean;
}

function prop(name: string, settable: boolean, aliases: readonly string[] = []): SystemProperty {
  return Object.freeze({ name, aliases: Object.freeze([...aliases]), settable });
}

/**
 * The system properties of a Service Bus message (the public properties of BrokeredMessage /
 * ServiceBusReceivedMessage). Referring to any other `sys.` name is an error at compile time, as
 * in Service Bus. Settable ones are the string headers a rule action may rewrite.
 */
export const SYSTEM_PROPERTIES: readonly SystemProperty[] = Object.freeze([
  prop("MessageId", true),
  prop("CorrelationId", true),
  // The AMQP `subject`; the old SDKs call it Label, the new ones Subject.
  prop("Label", true, ["Subject"]),
  prop("To", true),
  prop("ReplyTo", true),
  prop("SessionId", true),
  prop("ReplyToSessionId", true),
  prop("ContentType", true),
  prop("PartitionKey", false),
  prop("DeliveryCount", false),
  prop("SequenceNumber", false),
  prop("EnqueuedSequenceNumber", false),
  prop("EnqueuedTimeUtc", false),
  prop("ScheduledEnqueueTimeUtc", false),
  prop("Size", false),
  prop("TimeToLive", false),
  prop("ExpiresAtUtc", false),
  prop("LockedUntilUtc", false),
  prop("LockToken", false),
  prop("DeadLetterSource", false),
]);

const BY_LOWER_NAME = new Map<string, SystemProperty>();
for (const p of SYSTEM_PROPERTIES) {
  BY_LOWER_NAME.set(p.name.toLowerCase(), p);
  for (const alias of p.aliases) BY_LOWER_NAME.set(alias.toLowerCase(), p);
}

/** The system property called `name` (case-insensitive), or undefined. */
export function findSystemProperty(name: string): SystemProperty | undefined {
  return BY_LOWER_NAME.get(name.toLowerCase());
}

/** Every name (canonical and aliases) that refers to `p`, lower-cased. */
function lowerNames(p: SystemProperty): string[] {
  return [p.name, ...p.aliases].map((n) => n.toLowerCase());
}

/**
 * The key under which `view.system` holds `p`, matched case-insensitively, or undefined. The
 * canonical spelling is tried first so that a broker using it pays one Map lookup.
 */
export function systemKeyOf(p: SystemProperty, system: Map<string, SqlValue>): string | undefined {
  if (system.has(p.name)) return p.name;
  for (const alias of p.aliases) if (system.has(alias)) return alias;
  const wanted = lowerNames(p);
  for (const key of system.keys()) {
    if (typeof key === "string" && wanted.includes(key.toLowerCase())) return key;
  }
  return undefined;
}

/** A fast reader for `sys.<p>`: undefined when the message does not carry the property. */
export function systemReader(p: SystemProperty): (view: SqlMessageView) => SqlValue | undefined {
  const canonical = p.name;
  const aliases = p.aliases;
  const wanted = lowerNames(p);
  const lengths = new Set(wanted.map((n) => n.length));
  return (view) => {
    const system = view.system;
    const direct = system.get(canonical);
    if (direct !== undefined) return direct;
    for (const alias of aliases) {
      const v = system.get(alias);
      if (v !== undefined) return v;
    }
    // Case-insensitive fallback; the length check keeps it cheap for absent properties.
    for (const [key, value] of system) {
      if (typeof key === "string" && lengths.has(key.length) && wanted.includes(key.toLowerCase())) {
        return value;
      }
    }
    return undefined;
  };
}
