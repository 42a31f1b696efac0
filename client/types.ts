/**
 * The client library's public types and the shapes of the browser APIs it uses. Every browser API is
 * injectable (WebSocket, EventSource, fetch, timers, storage, online/visibility), so the same code runs
 * under Node in tests and in the `herald tail` command.
 */
import type { HeraldError } from "../core/errors.js";
import type { NotRecovered } from "../core/cursor.js";
import type { TransportName } from "../core/live.js";

export type { NotRecovered, TransportName };

/** `connecting` until the first transport is up; `reconnecting` after a drop; `closed` after `close()`. */
export type HeraldState = "connecting" | "connected" | "reconnecting" | "closed";

/** What the application receives, once per notification id. */
export interface Notification<T = unknown, K extends string = string> {
  id: string;
  type: K;
  data: T;
  /** When Service Bus accepted it, ms since the epoch. */
  ts: number;
}

/** Notification type -> data type, e.g. `{ "order.shipped": { orderId: number } }`. */
export type EventMap = object;

/** Any notification of `E`, discriminated by `type`. */
export type AnyNotification<E extends EventMap> = string extends keyof E
  ? Notification<unknown, string>
  : { [K in keyof E & string]: Notification<E[K], K> }[keyof E & string];

/** The client's own events; these names are therefore not delivered to per-type listeners. */
export const CLIENT_EVENTS = ["*", "state", "transport", "not-recovered", "error"] as const;

/** A listener parameter checked bivariantly, so DOM, `ws` and `eventsource` classes all fit. */
type Listener<E> = { bivarianceHack(event: E): void }["bivarianceHack"];

/** The part of the WHATWG `WebSocket` the client uses (the browser's, or `ws` under Node). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: Listener<unknown> | null;
  onmessage: Listener<{ data: unknown }> | null;
  onclose: Listener<{ code: number; reason: string }> | null;
  onerror: Listener<unknown> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketFactory = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** The part of the WHATWG `EventSource` the client uses (the browser's, or the `eventsource` package). */
export interface EventSourceLike {
  readonly readyState: number;
  onerror: Listener<unknown> | null;
  addEventListener(type: string, listener: Listener<{ data: string }>): void;
  close(): void;
}
export type EventSourceFactory = new (url: string) => EventSourceLike;

export interface ResponseLike {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  json(): Promise<unknown>;
}
export type FetchLike = (
  url: string,
  init?: { method?: string; headers?: Record<string, string>; signal?: AbortSignal },
) => Promise<ResponseLike>;

/** Web Storage's `localStorage` subset: where the working transport per gateway is remembered. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Time and randomness, injectable for tests. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** A number in [0, 1), for backoff jitter. */
  random(): number;
}

/** Network and page visibility: in a browser `navigator.onLine`, `online`/`offline`, `visibilitychange`. */
export interface Environment {
  isOnline(): boolean;
  /** Calls `onChange` on each change; returns a function that stops watching. */
  watch(onChange: (change: "online" | "offline" | "visible" | "hidden") => void): () => void;
}

export interface ConnectOptions {
  /** The gateway's base URL, where `/api/negotiate` lives, e.g. `https://gw.example.com`. */
  gateway: string;
  /** The application JWT, or a function returning it; called again whenever the client negotiates. */
  token: string | (() => string | Promise<string>);
  /**
   * Transports to use, in order of preference.
   * @default ["websocket", "sse", "long-polling"]
   */
  transports?: readonly TransportName[];
  /** A cursor to resume from (a `herald.cursor` saved earlier); default: from now. */
  cursor?: string;
  /**
   * Reconnect delays: full jitter between `minMs` and `min(maxMs, minMs * 2^attempt)`.
   * @default { minMs: 500, maxMs: 30000 }
   */
  backoff?: { minMs?: number; maxMs?: number };
  /**
   * How long a transport may take to prove it works (WebSocket `connected` frame, SSE `ready` event,
   * first poll answer) before the next one is tried.
   * @default 10000
   */
  openTimeoutMs?: number;
  /**
   * WebSocket ping interval; a WebSocket that receives nothing for 2.5 intervals is dropped.
   * @default 20000
   */
  pingIntervalMs?: number;
  /**
   * Long-poll `wait` in seconds (0 to 60).
   * @default 25
   */
  pollWaitSeconds?: number;
  /**
   * How long a fallback that worked is remembered per gateway (in `storage` and in memory) before
   * the preferred transports are tried again.
   * @default 600000 (10 minutes)
   */
  rememberMs?: number;
  /**
   * How long an offset gap may stay open (frames can overtake each other) before it is filled from
   * the streams endpoint.
   * @default 300
   */
  gapHoldMs?: number;
  /**
   * How many notification ids are remembered to drop duplicates.
   * @default 10000
   */
  dedupSize?: number;
  /** Default: `globalThis.WebSocket` (Node 20 has none: pass `ws`). */
  WebSocket?: WebSocketFactory;
  /** Default: `globalThis.EventSource` (Node has none: pass the `eventsource` package's). */
  EventSource?: EventSourceFactory;
  /** Default: `globalThis.fetch`. */
  fetch?: FetchLike;
  /** Default: `globalThis.localStorage` when usable; `null` remembers nothing across loads. */
  storage?: StorageLike | null;
  /** Default: `Date.now`, global timers and `Math.random`. */
  clock?: Partial<Clock>;
  /** Default: the browser's `navigator.onLine` and `window`/`document` events; `null`: always online. */
  environment?: Environment | null;
}

/** A connected client. Listeners return a function that removes them. */
export interface Herald<E extends EventMap = Record<string, unknown>> {
  /** The connection state. */
  readonly state: HeraldState;
  /** The transport in use, or undefined while none is up. */
  readonly transport: TransportName | undefined;
  /** The position reached in every stream (opaque text); pass it as `cursor` to resume there later. */
  readonly cursor: string;
  /** The user id the gateway derived from the token, once negotiated. */
  readonly userId: string | undefined;

  on(type: "state", fn: (state: HeraldState) => void): () => void;
  on(type: "transport", fn: (transport: TransportName | undefined) => void): () => void;
  /** Frames the gateway no longer has (retention, or a store that lost its data): reload your list. */
  on(type: "not-recovered", fn: (event: NotRecovered) => void): () => void;
  /** A failure the client is handling (it retries), or the one that closed it (state `closed`). */
  on(type: "error", fn: (error: HeraldError) => void): () => void;
  /** Every notification. */
  on(type: "*", fn: (notification: AnyNotification<E>) => void): () => void;
  /** Notifications of one type. */
  on<K extends keyof E & string>(type: K, fn: (notification: Notification<E[K], K>) => void): () => void;

  off(type: string, fn: (...args: never[]) => void): void;
  /** Closes the connection for good; state becomes `closed`. */
  close(): void;
}
