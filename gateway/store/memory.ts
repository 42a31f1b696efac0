/**
 * A bounded in-memory stream store for one gateway process (development, tests, a single replica).
 * Everything is lost on restart; readers notice because `after > head` (see `StreamStore.read`).
 */
import { randomBytes } from "node:crypto";
import { HeraldError } from "../../core/errors.js";
import type { Frame } from "../../core/streams.js";
import { checkRead, prepareEntry, prepareStreams, resolveOptions, type ResolvedOptions } from "./common.js";
import {
  StreamStoreError,
  type AppendEntry,
  type AppendResult,
  type ReadResult,
  type StreamStore,
  type StreamStoreOptions,
  type StreamStoreStats,
} from "./types.js";

export interface MemoryStreamStoreOptions extends StreamStoreOptions {
  /** Streams kept at once; beyond it the least recently appended stream is forgotten. @default 100000 */
  maxStreams?: number;
  /** Frames kept over all streams; beyond it the oldest frames go first. @default 100000 */
  maxFrames?: number;
  /** Serialized `data` bytes kept over all streams; beyond it the oldest frames go. @default 268435456 */
  maxBytes?: number;
}

/** Memory has no per-entity limit; 1 MiB keeps one frame from crowding out everything else. */
const MAX_DATA_BYTES_LIMIT = 1024 * 1024;

interface FrameRecord {
  readonly id: string;
  readonly type: string;
  readonly json: string;
  readonly bytes: number;
  readonly ts: number;
  /** Append time by the store's clock; non-decreasing within a stream, so age trimming is a prefix. */
  readonly at: number;
  readonly expiresAt: number | undefined;
}

/** A queue on an array with a moving start, so removing the oldest is O(1) amortized. */
class Deque<T> {
  private items: T[] = [];
  private start = 0;

  get length(): number {
    return this.items.length - this.start;
  }
  push(item: T): void {
    this.items.push(item);
  }
  peek(): T | undefined {
    return this.items[this.start];
  }
  at(index: number): T | undefined {
    return this.items[this.start + index];
  }
  shift(): T | undefined {
    const item = this.items[this.start];
    if (item === undefined) return undefined;
    this.start++;
    if (this.start > 1024 && this.start * 2 > this.items.length) {
      this.items = this.items.slice(this.start);
      this.start = 0;
    }
    return item;
  }
  /** Keeps only the items `keep` accepts, in order. */
  filter(keep: (item: T) => boolean): void {
    this.items = this.items.slice(this.start).filter(keep);
    this.start = 0;
  }
}

class StreamState {
  /** Newest offset assigned. */
  head = 0;
  /** Offset of `records.peek()`; `head + 1` when nothing is retained. */
  first = 1;
  lastAt = 0;
  evicted = false;
  readonly records = new Deque<FrameRecord>();
  /** Notification id -> offset, for the retained frames only. */
  readonly dedup = new Map<string, number>();
  constructor(readonly name: string) {}
}

/** Where a frame sits, in global append order, for the store-wide caps and age sweeps. */
interface Slot {
  readonly state: StreamState;
  readonly offset: number;
  readonly at: number;
}

export class MemoryStreamStore implements StreamStore {
  private readonly options: ResolvedOptions;
  private readonly maxStreams: number;
  private readonly maxFrames: number;
  private readonly maxBytes: number;
  /** In order of the last append: the first entry is the one to forget when there are too many. */
  private readonly streams = new Map<string, StreamState>();
  private readonly slots = new Deque<Slot>();
  private frames = 0;
  private bytes = 0;
  private closed = false;
  private readonly timer: ReturnType<typeof setInterval> | undefined;
  private readonly counters: StreamStoreStats = { appended: 0, duplicates: 0, conflicts: 0, trimmed: 0 };
  private readonly secrets = new Map<string, string>();

  constructor(options: MemoryStreamStoreOptions = {}) {
    this.options = resolveOptions(options, MAX_DATA_BYTES_LIMIT);
    this.maxStreams = cap(options.maxStreams, 100_000, "maxStreams");
    this.maxFrames = cap(options.maxFrames, 100_000, "maxFrames");
    this.maxBytes = cap(options.maxBytes, 256 * 1024 * 1024, "maxBytes");
    if (this.options.sweepIntervalMs > 0) {
      this.timer = setInterval(() => this.sweepNow(this.options.now()), this.options.sweepIntervalMs);
      this.timer.unref();
    }
  }

  async append(entry: AppendEntry, streams: readonly string[]): Promise<AppendResult> {
    this.assertOpen();
    const prepared = prepareEntry(entry, this.options.maxDataBytes);
    const unique = prepareStreams(streams);
    const now = this.options.now();
    const byStream = new Map<string, { frame: Frame; duplicate: boolean }>();
    for (const name of unique) {
      let state = this.streams.get(name);
      if (state) this.streams.delete(name);
      else state = new StreamState(name);
      this.streams.set(name, state);
      this.trim(state, now);
      const existing = state.dedup.get(prepared.id);
      if (existing !== undefined) {
        const record = state.records.at(existing - state.first)!;
        byStream.set(name, { frame: toFrame(record, name, existing), duplicate: true });
        this.counters.duplicates++;
        continue;
      }
      const offset = ++state.head;
      const at = Math.max(now, state.lastAt);
      state.lastAt = at;
      const record: FrameRecord = {
        id: prepared.id,
        type: prepared.type,
        json: prepared.json,
        bytes: prepared.bytes,
        ts: prepared.ts,
        at,
        expiresAt: prepared.expiresAt,
      };
      if (state.records.length === 0) state.first = offset;
      state.records.push(record);
      state.dedup.set(prepared.id, offset);
      this.slots.push({ state, offset, at });
      this.frames++;
      this.bytes += prepared.bytes;
      this.counters.appended++;
      const frame: Frame = {
        id: prepared.id,
        type: prepared.type,
        data: JSON.parse(prepared.json) as unknown,
        stream: name,
        offset,
        ts: prepared.ts,
      };
      byStream.set(name, { frame, duplicate: false });
      this.trim(state, now);
    }
    this.enforceCaps(now);
    const results = streams.map((name) => byStream.get(name)!);
    return { frames: results.map((r) => r.frame), duplicate: results.map((r) => r.duplicate) };
  }

  async read(stream: string, after: number, limit: number): Promise<ReadResult> {
    this.assertOpen();
    checkRead(stream, after, limit);
    const state = this.streams.get(stream);
    if (!state) return { frames: [], first: 1, head: 0, cursor: after };
    const now = this.options.now();
    this.trim(state, now);
    const { first, head } = state;
    const frames: Frame[] = [];
    // `limit` bounds the offsets scanned, expired ones included, like the Table store's page size.
    const start = Math.max(after + 1, first);
    const end = Math.min(head, start + limit - 1);
    for (let offset = start; offset <= end; offset++) {
      const record = state.records.at(offset - first)!;
      if (record.expiresAt === undefined || record.expiresAt > now)
        frames.push(toFrame(record, stream, offset));
    }
    const cursor = end >= start ? end : Math.max(after, first - 1);
    return { frames, first, head, cursor };
  }

  async sweep(): Promise<void> {
    this.assertOpen();
    this.sweepNow(this.options.now());
  }

  async sharedSecret(name: string): Promise<string> {
    this.assertOpen();
    let secret = this.secrets.get(name);
    if (secret === undefined) {
      secret = randomBytes(32).toString("base64url");
      this.secrets.set(name, secret);
    }
    return secret;
  }

  stats(): StreamStoreStats {
    return { ...this.counters };
  }

  /** What is held now, for gauges. */
  size(): { streams: number; frames: number; bytes: number } {
    return { streams: this.streams.size, frames: this.frames, bytes: this.bytes };
  }

  /** Sizes of the internal indexes, for tests that check they stay bounded. */
  internals(): { dedup: number; slots: number } {
    let dedup = 0;
    for (const state of this.streams.values()) dedup += state.dedup.size;
    return { dedup, slots: this.slots.length };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
  }

  private assertOpen(): void {
    if (this.closed) throw new StreamStoreError("STORE_CLOSED", "the stream store is closed");
  }

  /** Removes the oldest frames of one stream while it is over the count or they are over the age. */
  private trim(state: StreamState, now: number): void {
    const cutoff = now - this.options.maxAgeMs;
    for (;;) {
      const oldest = state.records.peek();
      if (!oldest || (state.records.length <= this.options.maxCount && oldest.at >= cutoff)) return;
      this.dropOldest(state);
    }
  }

  private dropOldest(state: StreamState): void {
    const record = state.records.shift()!;
    if (state.dedup.get(record.id) === state.first) state.dedup.delete(record.id);
    state.first++;
    this.frames--;
    this.bytes -= record.bytes;
    this.counters.trimmed++;
  }

  private isLive(slot: Slot): boolean {
    return !slot.state.evicted && slot.offset >= slot.state.first;
  }

  private sweepNow(now: number): void {
    const cutoff = now - this.options.maxAgeMs;
    // Slots are in append order, so aged frames sit at the front.
    for (
      let slot = this.slots.peek();
      slot && (!this.isLive(slot) || slot.at < cutoff);
      slot = this.slots.peek()
    ) {
      this.slots.shift();
      if (this.isLive(slot)) this.dropOldest(slot.state);
    }
  }

  private enforceCaps(now: number): void {
    while (this.streams.size > this.maxStreams) {
      const [name, state] = this.streams.entries().next().value!;
      this.streams.delete(name);
      state.evicted = true;
      this.frames -= state.records.length;
      this.counters.trimmed += state.records.length;
      for (let i = 0; i < state.records.length; i++) this.bytes -= state.records.at(i)!.bytes;
    }
    while (this.frames > this.maxFrames || this.bytes > this.maxBytes) {
      const slot = this.slots.shift();
      if (!slot) break;
      // The oldest live slot of a stream is that stream's first frame: per-stream order follows global order.
      if (this.isLive(slot)) this.dropOldest(slot.state);
    }
    this.sweepNow(now);
    // Slots of frames trimmed per stream stay queued until they reach the front; keep them bounded.
    if (this.slots.length > 2 * this.frames + 1024) this.slots.filter((slot) => this.isLive(slot));
  }
}

function cap(value: number | undefined, fallback: number, target: string): number {
  const result = value ?? fallback;
  if (!Number.isSafeInteger(result) || result < 1) {
    throw new HeraldError("HERALD_INVALID_CONFIG", `${target} must be a whole number of 1 or more`, {
      target,
    });
  }
  return result;
}

function toFrame(record: FrameRecord, stream: string, offset: number): Frame {
  return {
    id: record.id,
    type: record.type,
    data: JSON.parse(record.json) as unknown,
    stream,
    offset,
    ts: record.ts,
  };
}
