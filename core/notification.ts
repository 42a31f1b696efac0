/**
 * The notification contract: what producers send (`POST /api/notifications`, the publisher library,
 * or a raw Service Bus message) and how it is validated. Pure TypeScript: no Node, DOM or Azure.
 */
import { HeraldError } from "./errors.js";

/** Who a notification is for. At least one of the three must be present. */
export interface NotificationTarget {
  users?: string[];
  groups?: string[];
  broadcast?: true;
}

/** What a producer sends. */
export interface NotificationInput<Data = unknown> {
  /** Idempotency key; generated when absent. */
  id?: string;
  /** e.g. "order.shipped": letters, digits and `. _ : -`, 1..128 characters. */
  type: string;
  to: NotificationTarget;
  /** Any JSON value; 64 KB serialized by default. */
  data: Data;
  /** Time to live; an expired notification is never delivered. */
  ttlSeconds?: number;
  /** ISO-8601 time at which the notification is enqueued (scheduled delivery). */
  deliverAt?: string;
}

/** A validated notification: `id` is always set, targets are deduplicated. */
export interface Notification<Data = unknown> extends NotificationInput<Data> {
  id: string;
}

export interface ValidationOptions {
  /** Largest serialized `data` in bytes. @default 65536 */
  maxDataBytes?: number;
  /** Called for a notification without an id. @default crypto.randomUUID */
  generateId?: () => string;
}

export const DEFAULT_MAX_DATA_BYTES = 64 * 1024;
export const MAX_TARGETS = 1000;
export const MAX_TTL_SECONDS = 14 * 24 * 3600;

const TYPE_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
/** Ids, user ids and group names: 1..128 printable characters (no control characters). */
// eslint-disable-next-line no-control-regex
const NAME_PATTERN = /^[^\u0000-\u001f\u007f]{1,128}$/;
const FIELDS = new Set(["id", "type", "to", "data", "ttlSeconds", "deliverAt"]);
const TARGET_FIELDS = new Set(["users", "groups", "broadcast"]);

function invalid(
  code: "HERALD_INVALID_FIELD" | "HERALD_UNKNOWN_FIELD" | "HERALD_MISSING_TARGET" | "HERALD_INVALID_TYPE",
  target: string,
  message: string,
): never {
  throw new HeraldError(code, message, { target });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function names(value: unknown, field: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) invalid("HERALD_INVALID_FIELD", field, `${field} must be an array of strings`);
  if (value.length > MAX_TARGETS)
    invalid("HERALD_INVALID_FIELD", field, `${field} may name at most ${MAX_TARGETS} entries`);
  const seen = new Set<string>();
  value.forEach((name: unknown, i) => {
    if (typeof name !== "string" || !NAME_PATTERN.test(name)) {
      invalid(
        "HERALD_INVALID_FIELD",
        `${field}[${i}]`,
        `${field}[${i}] must be a string of 1 to 128 printable characters`,
      );
    }
    seen.add(name);
  });
  return [...seen];
}

function validateTarget(value: unknown): NotificationTarget {
  if (value === undefined)
    invalid("HERALD_MISSING_TARGET", "to", "to is required: name users, groups or broadcast");
  if (!isRecord(value))
    invalid("HERALD_INVALID_FIELD", "to", "to must be an object with users, groups or broadcast");
  for (const key of Object.keys(value)) {
    if (!TARGET_FIELDS.has(key))
      invalid("HERALD_UNKNOWN_FIELD", `to.${key}`, `to.${key} is not a known field`);
  }
  const users = names(value.users, "to.users");
  const groups = names(value.groups, "to.groups");
  if (value.broadcast !== undefined && value.broadcast !== true) {
    invalid("HERALD_INVALID_FIELD", "to.broadcast", "to.broadcast must be true when present");
  }
  const target: NotificationTarget = {};
  if (users && users.length > 0) target.users = users;
  if (groups && groups.length > 0) target.groups = groups;
  if (value.broadcast === true) target.broadcast = true;
  if (!target.users && !target.groups && !target.broadcast) {
    invalid("HERALD_MISSING_TARGET", "to", "to must name at least one user, group or broadcast");
  }
  return target;
}

/** Size of a JSON value serialized as UTF-8, without allocating a Buffer. */
export function jsonByteLength(value: unknown): number {
  const text = JSON.stringify(value) ?? "";
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Validates what a producer sent and returns the notification to publish. Throws a `HeraldError`
 * whose `target` names the offending field.
 */
export function validateNotification(input: unknown, options: ValidationOptions = {}): Notification {
  if (!isRecord(input)) invalid("HERALD_INVALID_FIELD", "", "a notification must be a JSON object");
  for (const key of Object.keys(input)) {
    if (!FIELDS.has(key)) invalid("HERALD_UNKNOWN_FIELD", key, `${key} is not a known field`);
  }
  let id = input.id;
  if (id === undefined) id = (options.generateId ?? (() => crypto.randomUUID()))();
  else if (typeof id !== "string" || !NAME_PATTERN.test(id)) {
    invalid("HERALD_INVALID_FIELD", "id", "id must be a string of 1 to 128 printable characters");
  }
  if (typeof input.type !== "string" || !TYPE_PATTERN.test(input.type)) {
    invalid("HERALD_INVALID_TYPE", "type", "type must be 1 to 128 characters of letters, digits and . _ : -");
  }
  const to = validateTarget(input.to);
  if (!("data" in input) || input.data === undefined)
    invalid("HERALD_INVALID_FIELD", "data", "data is required (any JSON value)");
  const maxDataBytes = options.maxDataBytes ?? DEFAULT_MAX_DATA_BYTES;
  const size = jsonByteLength(input.data);
  if (size > maxDataBytes) {
    throw new HeraldError(
      "HERALD_PAYLOAD_TOO_LARGE",
      `data is ${size} bytes serialized; the limit is ${maxDataBytes}`,
      { target: "data" },
    );
  }
  const notification: Notification = { id: id as string, type: input.type, to, data: input.data };
  if (input.ttlSeconds !== undefined) {
    const ttl = input.ttlSeconds;
    if (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
      invalid(
        "HERALD_INVALID_FIELD",
        "ttlSeconds",
        `ttlSeconds must be a whole number from 1 to ${MAX_TTL_SECONDS}`,
      );
    }
    notification.ttlSeconds = ttl;
  }
  if (input.deliverAt !== undefined) {
    const at = input.deliverAt;
    if (
      typeof at !== "string" ||
      !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(at) ||
      Number.isNaN(Date.parse(at))
    ) {
      invalid(
        "HERALD_INVALID_FIELD",
        "deliverAt",
        "deliverAt must be an ISO-8601 time with a zone, e.g. 2026-01-01T09:00:00Z",
      );
    }
    notification.deliverAt = at;
  }
  return notification;
}
