/**
 * Stable error codes for every entry point Herald exposes. One registry: each code has an HTTP
 * status and a one-line meaning, and `docs/errors.md` lists every code (a test checks it).
 */
export const ERROR_CODES = {
  HERALD_BAD_REQUEST: { status: 400, meaning: "The request is malformed." },
  HERALD_INVALID_CONFIG: { status: 500, meaning: "A configuration value or file is invalid." },
  HERALD_USAGE: { status: 400, meaning: "A command-line argument is missing or invalid." },
  HERALD_PORT_IN_USE: { status: 500, meaning: "A server could not listen because its port is taken." },
  HERALD_UNAUTHORIZED: { status: 401, meaning: "No credential, or one that is invalid or expired." },
  HERALD_FORBIDDEN: { status: 403, meaning: "The credential is valid but does not allow this operation." },
  HERALD_NOT_FOUND: { status: 404, meaning: "No such route or resource." },
  HERALD_METHOD_NOT_ALLOWED: { status: 405, meaning: "The route exists but not for this HTTP method." },
  HERALD_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    meaning: "The body's content type is not one the endpoint accepts.",
  },
  HERALD_NOT_READY: { status: 503, meaning: "The gateway cannot reach Service Bus or its stream store yet." },
  HERALD_INTERNAL: {
    status: 500,
    meaning: "An unexpected failure inside Herald; the logs carry the details.",
  },
  HERALD_MALFORMED_JSON: { status: 400, meaning: "The body is not valid JSON." },
  HERALD_INVALID_FIELD: {
    status: 400,
    meaning: "A field has a value of the wrong type or out of range; `target` names it.",
  },
  HERALD_UNKNOWN_FIELD: {
    status: 400,
    meaning: "The body has a field the contract does not define; `target` names it.",
  },
  HERALD_MISSING_TARGET: {
    status: 400,
    meaning: "A notification names no user, group or broadcast in `to`.",
  },
  HERALD_INVALID_TYPE: {
    status: 400,
    meaning: "A notification `type` is not 1..128 letters, digits or `. _ : -`.",
  },
  HERALD_BUS_UNAVAILABLE: {
    status: 503,
    meaning: "Service Bus did not accept the notification; retry after the `Retry-After` seconds.",
  },
  HERALD_PAYLOAD_TOO_LARGE: {
    status: 413,
    meaning: "The body or the notification's `data` is over the configured limit.",
  },
  HERALD_BAD_CURSOR: {
    status: 400,
    meaning:
      "A cursor (`cursor`, `Last-Event-ID` or `lastEventId`) is malformed; the message names the problem.",
  },
  HERALD_CONFLICT: {
    status: 409,
    meaning: "A long-poll is already open for this connection; wait for it to return before polling again.",
  },
  HERALD_TOO_MANY_CONNECTIONS: {
    status: 429,
    meaning: "The user or this gateway process holds as many live connections as allowed.",
  },
  HERALD_STORE_UNAVAILABLE: {
    status: 503,
    meaning: "The stream store did not answer; retry after the `Retry-After` seconds.",
  },
  HERALD_ORIGIN_NOT_ALLOWED: {
    status: 403,
    meaning: "The request's `Origin` is not one the gateway allows (setting HERALD_ALLOWED_ORIGINS).",
  },
  HERALD_CONNECT_FAILED: {
    status: 503,
    meaning: "The client could not reach the gateway or open any transport; it keeps retrying with backoff.",
  },
  HERALD_SHUTTING_DOWN: {
    status: 503,
    meaning: "This gateway process is shutting down; reconnect (another replica answers).",
  },
} as const satisfies Record<string, { status: number; meaning: string }>;

export type HeraldErrorCode = keyof typeof ERROR_CODES;

export class HeraldError extends Error {
  override readonly name = "HeraldError";
  readonly code: HeraldErrorCode;
  readonly status: number;
  /** The field, argument, setting or file position the error is about, when there is one. */
  readonly target: string | undefined;

  constructor(code: HeraldErrorCode, message: string, options: { target?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.target = options.target;
  }

  toJSON(): { code: HeraldErrorCode; message: string; target?: string } {
    return this.target === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, target: this.target };
  }
}

export function isHeraldError(value: unknown): value is HeraldError {
  return value instanceof HeraldError;
}
