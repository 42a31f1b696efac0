import type { TransportName } from "../../core/live.js";

/** Paths of the live endpoints. */
export const LIVE_PATHS = {
  negotiate: "/api/negotiate",
  sse: "/api/sse",
  poll: "/api/poll",
  streams: "/api/streams",
} as const;

/**
 * The gateway's own transports, in the order negotiate offers them after websocket. `routes.ts` maps
 * each to its handler; adding a transport means an entry here, a `LiveConnection` subclass and a handler.
 */
export const GATEWAY_TRANSPORTS: readonly { name: Exclude<TransportName, "websocket">; path: string }[] = [
  { name: "sse", path: LIVE_PATHS.sse },
  { name: "long-polling", path: LIVE_PATHS.poll },
];
