import { isHeraldError } from "../core/errors.js";
import { streamsFor } from "../core/streams.js";
import { fromServiceBusMessage, type ReceivedNotificationMessage } from "../publisher/message.js";
import type { GatewayMetrics } from "./metrics.js";
import type { Sink } from "./sinks/types.js";
import type { StreamStore } from "./store/types.js";

/** Dead-letter reason of a message that is not a valid notification. */
export const INVALID_NOTIFICATION_REASON = "InvalidNotification";

/**
 * What became of one message; the caller settles it the way its host can:
 * - `delivered`: stored and pushed to every sink -> complete;
 * - `expired`: its TTL had passed, nothing delivered -> complete;
 * - `invalid`: never deliverable -> dead-letter with `reason` and `description`;
 * - `failed`: the store or a sink failed (transient) -> abandon, Service Bus redelivers.
 */
export type DeliveryOutcome =
  | { kind: "delivered"; streams: number; duplicate: boolean }
  | { kind: "expired" }
  | { kind: "invalid"; reason: typeof INVALID_NOTIFICATION_REASON; description: string }
  | { kind: "failed"; stage: string; error: unknown };

/**
 * The message fields delivery reads: the SDK's `ServiceBusReceivedMessage` has them, and the Functions
 * trigger's body and metadata provide them.
 */
export type DeliverableMessage = ReceivedNotificationMessage;

export interface DeliveryContext {
  store: StreamStore;
  sinks: readonly Sink[];
  maxDataBytes: number;
  metrics?: GatewayMetrics | undefined;
  /** @default Date.now */
  now?: () => number;
}

/**
 * The per-message work shared by the gateway's consumer and the Functions fan-out: validate ->
 * append to every target stream -> push the frames to the sinks. Never throws; the outcome says how
 * to settle. Redelivery is idempotent: the store returns the original frames for an id it holds.
 */
export async function deliverNotification(
  message: DeliverableMessage,
  context: DeliveryContext,
): Promise<DeliveryOutcome> {
  const { store, sinks, metrics } = context;
  const now = context.now ?? Date.now;
  if (message.expiresAtUtc && message.expiresAtUtc.getTime() <= now()) {
    metrics?.expired.inc();
    return { kind: "expired" };
  }
  let notification;
  try {
    notification = fromServiceBusMessage(message, { maxDataBytes: context.maxDataBytes });
  } catch (err) {
    const description = isHeraldError(err) ? `${err.code}: ${err.message}` : String(err);
    return { kind: "invalid", reason: INVALID_NOTIFICATION_REASON, description: description.slice(0, 1024) };
  }
  const enqueuedAt = message.enqueuedTimeUtc?.getTime() ?? now();
  // expiresAtUtc alone is the entity's default TTL too; only a TTL the producer set ends the notification.
  const expiresAt =
    message.expiresAtUtc && message.timeToLive !== undefined ? message.expiresAtUtc.getTime() : undefined;
  let result;
  try {
    const stopTimer = metrics?.storeAppendSeconds.startTimer();
    result = await store.append(
      {
        id: notification.id,
        type: notification.type,
        data: notification.data,
        ts: enqueuedAt,
        ...(expiresAt ? { expiresAt } : {}),
      },
      streamsFor(notification.to),
    );
    stopTimer?.();
  } catch (err) {
    return { kind: "failed", stage: "store", error: err };
  }
  const { frames } = result;
  const duplicate = result.duplicate.length > 0 && result.duplicate.every(Boolean);
  if (duplicate) metrics?.duplicates.inc();
  const failed = (await Promise.allSettled(sinks.map((sink) => sink.push(frames)))).flatMap((r, i) =>
    r.status === "rejected" ? [{ sink: sinks[i]!.name, err: r.reason as unknown }] : [],
  );
  if (failed.length > 0) {
    for (const f of failed) metrics?.sinkErrors.inc({ sink: f.sink });
    return { kind: "failed", stage: failed.map((f) => f.sink).join(","), error: failed[0]!.err };
  }
  metrics?.endToEndSeconds.observe(Math.max(0, now() - enqueuedAt) / 1000);
  return { kind: "delivered", streams: frames.length, duplicate };
}

/** Short description of an error for logs: its code, or the start of its message. */
export function errorName(err: unknown): string {
  if (isHeraldError(err)) return err.code;
  if (err instanceof Error)
    return "code" in err && typeof err.code === "string" ? err.code : err.message.slice(0, 200);
  return String(err);
}
