import type { Frame } from "../core/streams.js";

/** Whether a value received from a transport has the frame's shape (anything else is ignored). */
export function isFrame(value: unknown): value is Frame {
  if (typeof value !== "object" || value === null) return false;
  const f = value as Record<string, unknown>;
  return (
    typeof f.id === "string" &&
    typeof f.type === "string" &&
    typeof f.stream === "string" &&
    typeof f.offset === "number" &&
    Number.isSafeInteger(f.offset) &&
    f.offset >= 1 &&
    typeof f.ts === "number"
  );
}
