/**
 * Per-stream cursors for the client: frames from any transport go in, each notification comes out
 * once, in offset order within its stream. A frame ahead of its stream's next offset waits (a gap);
 * the owner fills gaps from the streams endpoint. Pure logic: no timers, no I/O.
 */
import type { NotRecovered } from "../core/cursor.js";
import type { Frame } from "../core/streams.js";
import { RecentIds } from "./dedup.js";

/** Frames held per stream while a gap is open; past it the highest are dropped (a fill fetches them). */
export const MAX_PENDING_PER_STREAM = 1000;

export interface SequencerHooks {
  /** A notification seen for the first time (by id). */
  deliver(frame: Frame): void;
  /** Frames the gateway no longer has. */
  lost(marker: NotRecovered): void;
}

export class Sequencer {
  readonly #positions = new Map<string, number>();
  readonly #pending = new Map<string, Map<number, Frame>>();
  /**
   * Streams whose numbering may have restarted (a memory store lost its data): a frame at or below the
   * position carried an id never seen. Value: the lowest such offset; a gap fill reads from below it.
   */
  readonly #suspect = new Map<string, number>();
  readonly #seen: RecentIds;

  constructor(
    private readonly hooks: SequencerHooks,
    options: { dedupSize: number; cursor?: ReadonlyMap<string, number> },
  ) {
    this.#seen = new RecentIds(options.dedupSize);
    for (const [stream, offset] of options.cursor ?? []) this.#positions.set(stream, offset);
  }

  /** The offset of the last frame taken per stream (streams with a known position only). */
  cursor(): Map<string, number> {
    return new Map(this.#positions);
  }

  known(stream: string): boolean {
    return this.#positions.has(stream);
  }

  /**
   * Takes frames from a transport. `trusted`: the transport resumed from our cursor and sends each
   * stream in order from there (SSE, long-poll, gap fill), so a stream with no position yet starts at
   * its first frame. Untrusted frames (WebSocket) of such a stream wait for `seed`. `fill`: frames
   * read from the streams endpoint, where a frame at or below the position with an unseen id is a
   * notification of a restarted numbering and is delivered.
   */
  accept(frames: readonly Frame[], trusted: boolean, fill = false): void {
    for (const frame of frames) this.#accept(frame, trusted, fill);
  }

  #accept(frame: Frame, trusted: boolean, fill: boolean): void {
    const stream = frame.stream;
    let position = this.#positions.get(stream);
    if (position === undefined) {
      if (!trusted) {
        this.#hold(frame);
        return;
      }
      position = frame.offset - 1;
      this.#positions.set(stream, position);
    }
    if (frame.offset <= position) {
      // A redelivery carries an id we have seen. An unknown id at an old offset means the gateway's
      // numbering restarted (a memory store lost its data): have the position checked.
      if (this.#seen.has(frame.id)) return;
      if (fill) {
        this.#seen.add(frame.id);
        this.hooks.deliver(frame);
      } else {
        this.#suspect.set(stream, Math.min(frame.offset, this.#suspect.get(stream) ?? Infinity));
      }
      return;
    }
    if (frame.offset > position + 1) {
      this.#hold(frame);
      return;
    }
    this.#take(frame);
    this.#drain(stream);
  }

  /**
   * Positions learned without frames (SSE `ready`, a poll's cursor) for streams that have none yet.
   * Frames already held for such a stream were sent live after the connection opened, so they count
   * as new even when the position was read after them.
   */
  seed(cursor: ReadonlyMap<string, number>): void {
    for (const [stream, offset] of cursor) {
      if (this.#positions.has(stream)) continue;
      const held = this.#pending.get(stream);
      let start = offset;
      if (held && held.size > 0) start = Math.min(offset, Math.min(...held.keys()) - 1);
      this.#positions.set(stream, start);
      this.#drain(stream);
    }
  }

  /** Applies a not-recovered marker: the stream continues after `resumeAfter`. */
  lost(marker: NotRecovered): void {
    this.#positions.set(marker.stream, marker.resumeAfter);
    this.#suspect.delete(marker.stream);
    const held = this.#pending.get(marker.stream);
    if (held) for (const offset of [...held.keys()]) if (offset <= marker.resumeAfter) held.delete(offset);
    this.hooks.lost(marker);
    this.#drain(marker.stream);
  }

  /** True while a stream with a known position holds frames past a gap, or needs its position checked. */
  hasGaps(): boolean {
    if (this.#suspect.size > 0) return true;
    for (const [stream, held] of this.#pending) if (held.size > 0 && this.#positions.has(stream)) return true;
    return false;
  }

  /** True while some stream holds frames waiting for a position (`seed`). */
  hasUnseeded(): boolean {
    for (const [stream, held] of this.#pending)
      if (held.size > 0 && !this.#positions.has(stream)) return true;
    return false;
  }

  /**
   * The cursor a gap fill reads from: the streams with a gap, or (`all`) every stream with a position;
   * a suspect stream from below its lowest suspect offset.
   */
  gapCursor(all = false): Map<string, number> {
    const out = all ? new Map(this.#positions) : new Map<string, number>();
    for (const [stream, held] of this.#pending) {
      const position = this.#positions.get(stream);
      if (held.size > 0 && position !== undefined) out.set(stream, position);
    }
    for (const [stream, lowest] of this.#suspect) {
      const position = this.#positions.get(stream);
      if (position !== undefined) out.set(stream, Math.min(position, lowest - 1));
    }
    return out;
  }

  /**
   * For a client that cannot fill gaps: a stream waiting for its first position starts at its lowest
   * held frame; a stream with a gap is marked lost up to its lowest held frame and goes on from there.
   */
  skipGaps(reason: NotRecovered["reason"]): void {
    for (const [stream, held] of [...this.#pending]) {
      if (held.size === 0) continue;
      const lowest = Math.min(...held.keys());
      const position = this.#positions.get(stream);
      if (position === undefined) {
        this.#positions.set(stream, lowest - 1);
        this.#drain(stream);
      } else if (lowest > position + 1) {
        this.lost({ stream, after: position, resumeAfter: lowest - 1, reason });
      }
    }
    this.#suspect.clear();
  }

  /** A gap fill read these streams: their suspect marks are answered. */
  filled(streams: Iterable<string>): void {
    for (const stream of streams) this.#suspect.delete(stream);
  }

  #hold(frame: Frame): void {
    let held = this.#pending.get(frame.stream);
    if (!held) this.#pending.set(frame.stream, (held = new Map()));
    if (held.has(frame.offset)) return;
    held.set(frame.offset, frame);
    if (held.size > MAX_PENDING_PER_STREAM) held.delete(Math.max(...held.keys()));
  }

  #take(frame: Frame): void {
    this.#positions.set(frame.stream, frame.offset);
    if (this.#seen.add(frame.id)) this.hooks.deliver(frame);
  }

  #drain(stream: string): void {
    const held = this.#pending.get(stream);
    if (!held) return;
    let position = this.#positions.get(stream);
    if (position === undefined) return;
    for (const offset of [...held.keys()]) if (offset <= position) held.delete(offset);
    for (let next = held.get(position + 1); next; next = held.get(position + 1)) {
      held.delete(position + 1);
      this.#take(next);
      position = next.offset;
    }
    if (held.size === 0) this.#pending.delete(stream);
  }
}
