/**
 * The HTTP contract of the gateway's live endpoints (negotiate, SSE, long-poll, gap fill), shared by the
 * gateway and the client library. Pure TypeScript. `docs/transports.md` describes it in prose.
 */
import type { NotRecovered } from "./cursor.js";
import type { Frame } from "./streams.js";

export type TransportName = "websocket" | "sse" | "long-polling";

/** `POST /api/negotiate` answer. */
export interface NegotiateResponse {
  userId: string;
  groups: string[];
  /** When the transport URLs' tokens expire (ISO 8601); negotiate again before then. */
  expiresAt: string;
  /** In order of preference; `websocket` is left out when the gateway has no Web PubSub. */
  transports: { name: TransportName; url: string }[];
  /**
   * Gap fill: `GET <streamsUrl>&cursor=...` (the URL carries its token). Absent when the answer comes
   * from a host that knows no gateway (the Functions app without HERALD_PUBLIC_URL): websocket only.
   */
  streamsUrl?: string;
}

/** SSE event names (the `event:` field). */
export const SSE_EVENTS = {
  /** One frame; `id:` is the cursor after it. */
  notification: "notification",
  /** Frames a cursor asked for are gone; `data` is a `NotRecovered`, `id:` the cursor that skips them. */
  notRecovered: "not-recovered",
  /** The replay is done and live frames follow; `data` is a `ReadyEvent`, `id:` the cursor. */
  ready: "ready",
  /** The gateway is closing the stream; `data` is a `CloseEvent`. Reconnect with the last cursor. */
  close: "close",
  /**
   * Sent every `ReadyEvent.heartbeatMs` after a comment line (the comment keeps proxies from idling the
   * stream out; the event is what an EventSource can see). `data` is `{}`. A client that hears nothing
   * for a few intervals can treat the stream as dead.
   */
  heartbeat: "heartbeat",
} as const;

export interface ReadyEvent {
  cursor: string;
  /** The streams this connection reads. */
  streams: string[];
  /** How often a `heartbeat` event comes while nothing else does. */
  heartbeatMs?: number;
}

/** Why the gateway closed a live connection. */
export type CloseReason =
  /** The client did not read fast enough; its buffer passed the limit. */
  | "slow-consumer"
  /** New frames came faster than the replay could catch up with them. */
  | "cannot-catch-up"
  /** The stream store failed during a replay or gap fill. */
  | "store-unavailable"
  /** The gateway process is stopping. */
  | "shutdown";

export interface CloseEvent {
  reason: CloseReason;
}

/** `GET /api/poll` answer (200). */
export interface PollResponse {
  /** Oldest first within each stream. */
  frames: Frame[];
  /** Send this as `cursor` on the next poll. */
  cursor: string;
  /** Present when frames the cursor asked for are gone. */
  notRecovered?: NotRecovered[];
  /** Present when the gateway ended the poll early for a reason other than frames or `wait`. */
  closed?: CloseReason;
}

/** `GET /api/streams` answer (200). */
export interface StreamsResponse {
  frames: Frame[];
  cursor: string;
  /** True when a stream has more frames after `cursor`: call again with it. */
  more: boolean;
  notRecovered?: NotRecovered[];
}
