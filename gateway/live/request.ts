/** What the live endpoints read from a request: the gateway token, the cursor, the caller's streams. */
import { parseCursor } from "../../core/cursor.js";
import { HeraldError } from "../../core/errors.js";
import { parseStreamId, streamsOfClient } from "../../core/streams.js";
import { bearerToken } from "../auth/tokens.js";
import type { HandlerRequest } from "../http/types.js";
import type { StartPosition } from "./connection.js";
import type { GatewayIdentity } from "./tokens.js";

/** The gateway token: `?token=` (EventSource cannot send headers) or `Authorization: Bearer`. */
export function gatewayToken(request: HandlerRequest): string | undefined {
  return request.url.searchParams.get("token") ?? bearerToken(request.headers);
}

/**
 * The cursor a request resumes from, and where it came from: `Last-Event-ID` (EventSource sends the
 * latest on its own reconnects, so it wins), then `lastEventId`, then `cursor`. Empty counts as absent.
 */
export function requestCursor(
  request: HandlerRequest,
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
  request: HandlerRequest,
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
