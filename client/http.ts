/** Gateway answers to errors: the one place HTTP failures become `HeraldError`s for the client. */
import { ERROR_CODES, HeraldError, type HeraldErrorCode } from "../core/errors.js";
import type { ResponseLike } from "./types.js";

function isCode(value: unknown): value is HeraldErrorCode {
  return typeof value === "string" && Object.prototype.hasOwnProperty.call(ERROR_CODES, value);
}

function codeForStatus(status: number): HeraldErrorCode {
  if (status === 401) return "HERALD_UNAUTHORIZED";
  if (status === 403) return "HERALD_FORBIDDEN";
  if (status === 404) return "HERALD_NOT_FOUND";
  if (status === 409) return "HERALD_CONFLICT";
  if (status === 429) return "HERALD_TOO_MANY_CONNECTIONS";
  if (status >= 500) return "HERALD_CONNECT_FAILED";
  return "HERALD_BAD_REQUEST";
}

/** The gateway's `{ code, message }` body as a `HeraldError` (or one made from the status). */
export async function responseError(res: ResponseLike, what: string): Promise<HeraldError> {
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const record = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  const code = isCode(record.code) ? record.code : codeForStatus(res.status);
  const message = typeof record.message === "string" ? record.message : `HTTP ${res.status}`;
  return new HeraldError(code, `${what}: ${message}`);
}

/** Any thrown value as a `HeraldError` (network failures become HERALD_CONNECT_FAILED). */
export function asHeraldError(err: unknown, what: string): HeraldError {
  if (err instanceof HeraldError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new HeraldError("HERALD_CONNECT_FAILED", `${what}: ${message}`, { cause: err });
}

/** Whether an error means the credentials will not work as they are (negotiate again or give up). */
export function isAuthError(err: HeraldError): boolean {
  return (
    err.code === "HERALD_UNAUTHORIZED" ||
    err.code === "HERALD_FORBIDDEN" ||
    err.code === "HERALD_ORIGIN_NOT_ALLOWED"
  );
}
