/** What the live endpoints read from a request: the gateway token, the cursor, the caller's streams. */
import type { IncomingMessage } from "node:http";
import { parseCursor } from "../../core/cursor.js";
import { HeraldError } from "../../core/errors.js";
import { parseStreamId, streamsOfClient } from "../../core/streams.js";
import type { StartPosition } from "./connection.js";
import type { GatewayIdentity } from "./tokens.js";

/** The part of `Headers` the live endpoints use (a fetch `Headers` fits). */
export interface HeaderReader {
  get(name: string): string | null;
}

/** The part of a request the live endpoints read (a neutral `HandlerRequest` fits). */
export interface LiveRequest {
  readonly url: URL;
  readonly headers: HeaderReader;
}

/**
 * A node:http request as a `LiveRequest`, reading headers in place: SSE and long-poll requests are
 * many and long-lived, and a fetch `Headers` copy per request is garbage for nothing.
 */
export function nodeLiveRequest(req: IncomingMessage): LiveRequest {
  const raw = req.headers;
  return {
    url: new URL(req.url ?? "/", "http://localhost"),
    headers: {
      get(name) {
        const value = raw[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
      },
    },
  };
}

/** The gateway token: `?token=` (EventSource cannot send headers) or `Authorization: Bearer`. */
export function gatewayToken(request: LiveRequest): string | undefined {
  const query = request.url.searchParams.get("token");
  if (query !== null) return query;
  return /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "")?.[1];
}

/**
 * The cursor a request resumes from, and where it came from: `Last-Event-ID` (EventSource sends the
 * latest on its own reconnects, so it wins), then `lastEventId`, then `cursor`. Empty counts as absent.
 */
export function requestCursor(
  request: LiveRequest,
  sources: readonly ("Last-Event-ID" | "lastEventId" | "cursor")[],
): Map<string, number> | undefined {
  for (const source of sources) {
    const text =
      source === "Last-Event-ID"
        ? request.headers.get("last-event-id")
        : request.url.searchParams.get(source);
    if (text) return parseCursor(text.trim(), source);
  }
  return undefined;
}

/**
 * The caller's streams (its user stream, its groups, broadcast) and where each starts. A cursor may name
 * only the caller's streams: another user's stream is HERALD_FORBIDDEN; a group the caller has left is
 * dropped (membership changes between sessions); a stream of the caller's that the cursor does not
 * name starts at its head. Without a cursor every stream starts at its head.
 */
export function startPositions(
  identity: GatewayIdentity,
  cursor: ReadonlyMap<string, number> | undefined,
): StartPosition[] {
  const streams = streamsOfClient(identity.userId, identity.groups);
  if (cursor) {
    for (const stream of cursor.keys()) {
      if (streams.includes(stream)) continue;
      const ref = parseStreamId(stream);
      if (ref?.kind === "user") {
        throw new HeraldError(
          "HERALD_FORBIDDEN",
          "the cursor names another user's stream; a token reads only its own user's streams",
          { target: "cursor" },
        );
      }
    }
  }
  return streams.map((stream) => ({ stream, after: cursor?.get(stream) }));
}

/** A whole-number query parameter within bounds, or `fallback` when absent. */
export function intParam(
  request: LiveRequest,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  const raw = request.url.searchParams.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new HeraldError("HERALD_INVALID_FIELD", `${name} must be a whole number from ${min} to ${max}`, {
      target: name,
    });
  }
  return Number(raw);
}
