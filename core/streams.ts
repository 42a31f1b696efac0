/**
 * Streams: every notification is appended to one stream per target and gets a contiguous offset
 * there. Stream ids are `user:<userId>`, `group:<group>` and `broadcast`. This module names streams,
 * parses them, and defines the frame every transport carries. Pure TypeScript: no Node, DOM or Azure.
 */
import { HeraldError } from "./errors.js";
import type { NotificationTarget } from "./notification.js";

/** The one stream every client reads. */
export const BROADCAST_STREAM = "broadcast";

/** A parsed stream id. */
export type StreamRef =
  { kind: "user"; name: string } | { kind: "group"; name: string } | { kind: "broadcast"; name?: undefined };

/**
 * What every transport (Web PubSub, SSE, long-poll, gap-fill reads) carries for one notification in one
 * stream.
 */
export interface Frame {
  /** The notification id; the same in every stream the notification went to. */
  id: string;
  /** The notification type, e.g. `order.shipped`. */
  type: string;
  /** The notification's data, any JSON value. */
  data: unknown;
  /** The stream this frame belongs to, e.g. `user:alice`. */
  stream: string;
  /** Position in `stream`: 1 for the first notification, then contiguous. */
  offset: number;
  /** When the notification was enqueued (Service Bus enqueue time), ms since the epoch. */
  ts: number;
}

/** Same rule as user ids, group names and notification ids: 1..128 printable characters. */
// eslint-disable-next-line no-control-regex
const NAME_PATTERN = /^[^\u0000-\u001f\u007f]{1,128}$/;

export function userStream(userId: string): string {
  return `user:${userId}`;
}

export function groupStream(group: string): string {
  return `group:${group}`;
}

/** Parses a stream id; `undefined` when it is not one. */
export function parseStreamId(value: unknown): StreamRef | undefined {
  if (typeof value !== "string") return undefined;
  if (value === BROADCAST_STREAM) return { kind: "broadcast" };
  const colon = value.indexOf(":");
  if (colon < 0) return undefined;
  const kind = value.slice(0, colon);
  const name = value.slice(colon + 1);
  if ((kind !== "user" && kind !== "group") || !NAME_PATTERN.test(name)) return undefined;
  return { kind, name };
}

export function isStreamId(value: unknown): value is string {
  return parseStreamId(value) !== undefined;
}

/**
 * Parses a stream id or throws `HERALD_INVALID_FIELD` naming `target` (e.g. the query parameter it
 * came from).
 */
export function validateStreamId(value: unknown, target = "stream"): StreamRef {
  const ref = parseStreamId(value);
  if (!ref) {
    throw new HeraldError(
      "HERALD_INVALID_FIELD",
      `${target} must be "broadcast", "user:<id>" or "group:<name>" with 1 to 128 printable characters after the colon`,
      { target },
    );
  }
  return ref;
}

/** The stream id of a parsed reference. */
export function formatStreamId(ref: StreamRef): string {
  return ref.kind === "broadcast" ? BROADCAST_STREAM : `${ref.kind}:${ref.name}`;
}

/**
 * The streams a notification is appended to: users first, then groups, then broadcast, each once.
 *
 * @example
 * streamsFor({ users: ["alice"], groups: ["ops"] }) // ["user:alice", "group:ops"]
 */
export function streamsFor(target: NotificationTarget): string[] {
  const streams = new Set<string>();
  for (const user of target.users ?? []) streams.add(userStream(user));
  for (const group of target.groups ?? []) streams.add(groupStream(group));
  if (target.broadcast === true) streams.add(BROADCAST_STREAM);
  return [...streams];
}

/** The streams a connected client reads: its own, its groups', and broadcast. */
export function streamsOfClient(userId: string | undefined, groups: readonly string[] = []): string[] {
  return streamsFor(
    userId === undefined
      ? { groups: [...groups], broadcast: true }
      : {
          users: [userId],
          groups: [...groups],
          broadcast: true,
        },
  );
}
