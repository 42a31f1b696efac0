import { HeraldError } from "../../core/errors.js";
import type { NotificationInput } from "../../core/notification.js";
import type { PublishOptions } from "../../publisher/publisher.js";
import type { Handler } from "../http/types.js";

/** What the publish handler needs of a publisher (`Publisher` fits). */
export interface NotificationSink {
  publishBatch(
    notifications: readonly NotificationInput[],
    options?: PublishOptions,
  ): Promise<{ ids: string[] }>;
}

export interface PublishHandlerOptions {
  /** Checks the caller's credential; resolves to a label for logs. */
  authorize(headers: Headers): Promise<string>;
  publisher: NotificationSink;
  /** Largest request body. @default 1 MiB */
  maxBodyBytes?: number;
  /** Most notifications in one request. @default 100 */
  maxBatch?: number;
  /** Called after Service Bus accepted the notifications (ids only, for logs and metrics). */
  onPublished?(ids: string[], caller: string): void;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_MAX_BATCH = 100;

function isJsonContentType(value: string | null): boolean {
  if (value === null) return true;
  const type = value.split(";")[0]!.trim().toLowerCase();
  return type === "application/json" || type.endsWith("+json");
}

/**
 * `POST /api/notifications`: one notification object, or an array sent as one Service Bus batch.
 * 202 `{ ids }` once Service Bus has accepted them.
 */
export function createPublishHandler(options: PublishHandlerOptions): Handler {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  return async (request) => {
    if (request.method !== "POST") {
      throw new HeraldError("HERALD_METHOD_NOT_ALLOWED", `${request.method} is not allowed here; use POST`);
    }
    const caller = await options.authorize(request.headers);
    if (!isJsonContentType(request.headers.get("content-type"))) {
      throw new HeraldError("HERALD_UNSUPPORTED_MEDIA_TYPE", "send the notification as application/json");
    }
    const raw = await request.readBody(maxBodyBytes);
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
    } catch (err) {
      throw new HeraldError("HERALD_MALFORMED_JSON", `the body is not valid JSON: ${(err as Error).message}`);
    }
    const batch = Array.isArray(body) ? body : [body];
    if (batch.length === 0)
      throw new HeraldError("HERALD_INVALID_FIELD", "the array holds no notification", { target: "" });
    if (batch.length > maxBatch) {
      throw new HeraldError(
        "HERALD_INVALID_FIELD",
        `at most ${maxBatch} notifications per request, got ${batch.length}`,
        {
          target: "",
        },
      );
    }
    // The publisher validates each notification (one validation point for HTTP and library callers).
    const { ids } = await options.publisher.publishBatch(batch as NotificationInput[]);
    options.onPublished?.(ids, caller);
    return { status: 202, json: { ids } };
  };
}
