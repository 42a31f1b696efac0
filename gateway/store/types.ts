/**
 * The stream store contract: the gateway appends every notification it consumes to the streams of its
 * targets before it settles the Service Bus message, and clients fill gaps by reading ranges. Two
 * implementations: `MemoryStreamStore` (one process) and `TableStreamStore` (Azure Table Storage,
 * shared by replicas).
 */
import type { Frame } from "../../core/streams.js";

/** One notification to append. */
export interface AppendEntry {
  /** The notification id: the idempotency key. A repeat in the same stream is not appended again. */
  id: string;
  /** The notification type. */
  type: string;
  /** Any JSON value; serialized on append, so later changes to the object do not reach the store. */
  data: unknown;
  /** Enqueue time in ms since the epoch; copied to `Frame.ts`. */
  ts: number;
  /** When the notification expires (ms since the epoch); reads skip it from then on. */
  expiresAt?: number;
}

/** What `append` returns, aligned with the `streams` argument. */
export interface AppendResult {
  /** `frames[i]` is the notification's frame in `streams[i]`. */
  frames: Frame[];
  /**
   * `duplicate[i]` is true when `streams[i]` already held this notification id: `frames[i]` is then the
   * original frame (its original offset, type, data and ts), and nothing was appended.
   */
  duplicate: boolean[];
}

/** What `read` returns. */
export interface ReadResult {
  /** Frames with `after < offset <= cursor`, oldest first, at most `limit`; expired ones left out. */
  frames: Frame[];
  /**
   * The oldest offset still retained (`head + 1` when nothing is). When `after + 1 < first` the reader
   * lost frames `after + 1 .. first - 1` to retention: "not recovered". The frames returned then start
   * at `first`.
   */
  first: number;
  /** The newest offset assigned in this stream; 0 when nothing was ever appended. */
  head: number;
  /**
   * Where the next read should start (`after` of the next call): every retained offset up to here was
   * either returned or is expired. Equals `head` once the reader is caught up. Never less than `after`.
   */
  cursor: number;
}

/** Counters for metrics; monotonic since the store was opened. */
export interface StreamStoreStats {
  /** Frames written (one per stream per new notification). */
  appended: number;
  /** Appends answered from the dedup index instead. */
  duplicates: number;
  /** Transactions lost to another writer (Table store) and retried. */
  conflicts: number;
  /** Frames removed by retention (age or count) or by memory caps. */
  trimmed: number;
}

export interface StreamStore {
  /**
   * Appends one notification to each of `streams` (stream ids as in `core/streams.ts`; a stream named
   * twice is appended once). Idempotent per (stream, id) while the original frame is retained: a
   * repeat returns the original frame with `duplicate: true`. Streams are independent: a failure may
   * leave the notification appended to some streams; appending it again fills in the rest.
   *
   * @throws HeraldError `HERALD_INVALID_FIELD` for a bad entry or stream id, `HERALD_PAYLOAD_TOO_LARGE`
   *   when `data` is over `maxDataBytes`; `StreamStoreError` when the backend fails.
   */
  append(entry: AppendEntry, streams: readonly string[]): Promise<AppendResult>;
  /**
   * Reads frames with `offset > after`, oldest first, at most `limit` (1..1000). See `ReadResult` for
   * how to detect lost frames and where to continue. Reading a stream that does not exist returns
   * `{ frames: [], first: 1, head: 0, cursor: after }`; `after > head` means the store no longer knows
   * the offsets the reader saw (a memory store restarted or evicted the stream): start over from 0.
   *
   * @throws HeraldError `HERALD_INVALID_FIELD` for a bad stream id, `after` or `limit`.
   */
  read(stream: string, after: number, limit: number): Promise<ReadResult>;
  /** Enforces retention on every stream now (it is also enforced on each append to a stream). */
  sweep(): Promise<void>;
  /**
   * A random secret named `name`, the same for every process that opens this store: created by the first
   * caller, read by the others. Gateway replicas and the Functions app sign their short-lived tokens with
   * it, so no key has to be configured or deployed. A memory store's secret lives with the process.
   */
  sharedSecret(name: string): Promise<string>;
  stats(): StreamStoreStats;
  /** Stops timers and waits for appends in flight; later calls fail. */
  close(): Promise<void>;
}

/** How long and how many frames each stream keeps. Trimming only ever removes the oldest frames. */
export interface RetentionOptions {
  /** Frames older than this (by the time they were appended) are removed. @default 86400000 (24 h) */
  maxAgeMs?: number;
  /** A stream keeps at most this many frames. @default 10000 */
  maxCount?: number;
}

/** Options both stores understand. */
export interface StreamStoreOptions {
  retention?: RetentionOptions;
  /** Largest serialized `data` in bytes. @default 65536 (the gateway's default cap) */
  maxDataBytes?: number;
  /** Runs `sweep()` this often; 0 turns the timer off. @default 60000 */
  sweepIntervalMs?: number;
  /** The clock, ms since the epoch; injected by tests. @default Date.now */
  now?: () => number;
}

export type StreamStoreErrorCode =
  /** Too many concurrent writers on one stream: the append gave up after its retries. Retryable. */
  | "STORE_CONFLICT"
  /** The backend did not answer or answered with an unexpected error. Retryable. */
  | "STORE_UNAVAILABLE"
  /** The backend refused the request (permissions, limits, a table holding foreign data). Not retryable. */
  | "STORE_REJECTED"
  /** The store was closed. */
  | "STORE_CLOSED";

/**
 * A backend failure. The gateway abandons the Service Bus message on a retryable one, so the
 * notification comes back later and is appended then.
 */
export class StreamStoreError extends Error {
  override readonly name = "StreamStoreError";
  readonly code: StreamStoreErrorCode;
  readonly retryable: boolean;
  /** The stream the failure is about, when there is one. */
  readonly stream: string | undefined;

  constructor(
    code: StreamStoreErrorCode,
    message: string,
    options: { stream?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = code === "STORE_CONFLICT" || code === "STORE_UNAVAILABLE";
    this.stream = options.stream;
  }
}

export function isStreamStoreError(value: unknown): value is StreamStoreError {
  return value instanceof StreamStoreError;
}
