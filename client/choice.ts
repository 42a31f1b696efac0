/**
 * Transport choice: the configured order, and the fallback that worked, remembered per gateway for a
 * while so the next page load goes straight to it (WebSocket is tried again once it expires).
 */
import { HeraldError } from "../core/errors.js";
import type { TransportName } from "../core/live.js";
import type { StorageLike } from "./types.js";

const NAMES: readonly TransportName[] = ["websocket", "sse", "long-polling"];

/** Checks and de-duplicates the `transports` option. */
export function transportOrder(transports: readonly TransportName[]): TransportName[] {
  if (!Array.isArray(transports) || transports.length === 0) {
    throw new HeraldError("HERALD_INVALID_FIELD", "connect: `transports` must name at least one transport", {
      target: "transports",
    });
  }
  const out: TransportName[] = [];
  for (const name of transports) {
    if (!NAMES.includes(name)) {
      throw new HeraldError(
        "HERALD_INVALID_FIELD",
        `connect: unknown transport ${JSON.stringify(name)}; use ${NAMES.join(", ")}`,
        { target: "transports" },
      );
    }
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

export function storageKey(gateway: string): string {
  return `herald.transport ${gateway}`;
}

/** The remembered transport for `gateway`, when there is one that has not expired. */
export function recalledTransport(
  storage: StorageLike | undefined,
  gateway: string,
  now: number,
): { name: TransportName; until: number } | undefined {
  try {
    const text = storage?.getItem(storageKey(gateway));
    if (!text) return undefined;
    const value = JSON.parse(text) as { name?: unknown; until?: unknown };
    if (!NAMES.includes(value.name as TransportName) || typeof value.until !== "number") return undefined;
    if (value.until <= now) return undefined;
    return { name: value.name as TransportName, until: value.until };
  } catch {
    return undefined;
  }
}

/** Remembers (or, with `undefined`, forgets) the working transport for `gateway`. */
export function rememberTransport(
  storage: StorageLike | undefined,
  gateway: string,
  choice: { name: TransportName; until: number } | undefined,
): void {
  try {
    if (choice) storage?.setItem(storageKey(gateway), JSON.stringify(choice));
    else storage?.removeItem(storageKey(gateway));
  } catch {
    // Storage full or forbidden: the choice is still kept for this session.
  }
}
