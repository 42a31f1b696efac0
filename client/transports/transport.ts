/**
 * The one contract the three client transports share. A transport opens one connection from the
 * negotiate answer, reports frames, markers and positions to the client, and says when it is up
 * (`ready`) and when it ended (`closed`). The client owns reconnects, fallback and timers for them.
 */
import type { NotRecovered } from "../../core/cursor.js";
import type { HeraldError } from "../../core/errors.js";
import type { NegotiateResponse, TransportName } from "../../core/live.js";
import type { Frame } from "../../core/streams.js";
import type { Clock, EventSourceFactory, FetchLike, WebSocketFactory } from "../types.js";

export interface TransportEvents {
  /** Frames; `trusted` when the transport resumed from our cursor and keeps offset order. */
  frames(frames: readonly Frame[], trusted: boolean): void;
  lost(markers: readonly NotRecovered[]): void;
  /** Positions for streams without frames yet (SSE `ready`, a poll's cursor). */
  positions(cursor: ReadonlyMap<string, number>): void;
  /** The connection proved it works. */
  ready(): void;
  /** A new connection that cannot resume by itself: fill from the streams endpoint. */
  catchUp(): void;
  /** The connection is recovering by itself (WebSocket reliable reconnect); `recovered` follows or `closed`. */
  recovering(): void;
  recovered(): void;
  /** The connection ended without `close()`; `error` says why when known. */
  closed(error: HeraldError | undefined): void;
}

export interface TransportContext {
  negotiated: NegotiateResponse;
  url: string;
  /** Our cursor's text now. */
  cursor(): string;
  clock: Clock;
  fetch: FetchLike;
  WebSocket: WebSocketFactory | undefined;
  EventSource: EventSourceFactory | undefined;
  pingIntervalMs: number;
  pollWaitSeconds: number;
  events: TransportEvents;
}

export interface Transport {
  readonly name: TransportName;
  open(): void;
  /** A newer negotiate answer (fresh tokens) for the requests still to come. */
  refresh(negotiated: NegotiateResponse): void;
  /** Ends the connection; no event follows. */
  close(): void;
}

/** Appends query parameters to a URL that may already have some. */
export function withQuery(url: string, params: Record<string, string | undefined>): string {
  let out = url;
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === "") continue;
    out += `${out.includes("?") ? "&" : "?"}${key}=${encodeURIComponent(value)}`;
  }
  return out;
}
