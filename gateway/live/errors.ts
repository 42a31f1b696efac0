import type { ServerResponse } from "node:http";
import { HeraldError, isHeraldError } from "../../core/errors.js";
import { errorResponse } from "../http/errors.js";
import { writeResponse } from "../http/node.js";
import type { HandlerResponse } from "../http/types.js";
import { isStreamStoreError } from "../store/types.js";

/** Seconds a client should wait before retrying a refused live connection. */
export const LIVE_RETRY_AFTER_SECONDS = 5;

/**
 * The one translation point for the live endpoints: stream store failures become
 * HERALD_STORE_UNAVAILABLE; refusals a client should retry carry `Retry-After`; CORS headers ride
 * along so a browser can read the answer.
 */
export function liveErrorResponse(err: unknown, cors: Record<string, string> = {}): HandlerResponse {
  const translated = isStreamStoreError(err)
    ? new HeraldError("HERALD_STORE_UNAVAILABLE", "the stream store did not answer; retry shortly", {
        cause: err,
      })
    : err;
  const response = errorResponse(translated);
  const headers: Record<string, string> = { ...response.headers, ...cors };
  if (
    isHeraldError(translated) &&
    (translated.code === "HERALD_STORE_UNAVAILABLE" ||
      translated.code === "HERALD_TOO_MANY_CONNECTIONS" ||
      translated.code === "HERALD_SHUTTING_DOWN")
  ) {
    headers["retry-after"] = String(LIVE_RETRY_AFTER_SECONDS);
  }
  return { ...response, headers };
}

/** Writes an error answer on a raw route, unless the response has already started. */
export function writeLiveError(res: ServerResponse, err: unknown, cors: Record<string, string>): void {
  if (res.headersSent || res.destroyed) return;
  writeResponse(res, liveErrorResponse(err, cors));
}
