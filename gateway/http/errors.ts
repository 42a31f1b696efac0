import { HeraldError, isHeraldError } from "../../core/errors.js";
import { BUS_RETRY_AFTER_SECONDS } from "../../publisher/publisher.js";
import type { HandlerResponse } from "./types.js";

/** The one place an error becomes an HTTP answer: status + `{ code, message, target? }`. */
export function errorResponse(err: unknown): HandlerResponse {
  const herald = isHeraldError(err)
    ? err
    : new HeraldError("HERALD_INTERNAL", "the gateway failed to handle the request", { cause: err });
  const headers: Record<string, string> = {};
  if (herald.code === "HERALD_BUS_UNAVAILABLE") headers["retry-after"] = String(BUS_RETRY_AFTER_SECONDS);
  if (herald.code === "HERALD_UNAUTHORIZED") headers["www-authenticate"] = 'Bearer realm="herald"';
  return { status: herald.status, headers, json: herald.toJSON() };
}

/** HERALD_PAYLOAD_TOO_LARGE for a body over `limit` bytes (every host's body reader). */
export function payloadTooLarge(limit: number): HeraldError {
  return new HeraldError("HERALD_PAYLOAD_TOO_LARGE", `the request body is over ${limit} bytes`);
}
