/**
 * One timer for the whole broker: lock expiry, scheduled messages, TTL and session locks all go
 * through a min-heap, so thousands of entities and messages cost no per-item `setTimeout`.
 * Entries cannot be cancelled; callers check on firing whether the entry still applies.
 */
import { MinHeap } from "./structures.js";

interface Entry {
  at: number;
  order: number;
  fn: () => void;
}

export class TimerWheel {
  private readonly heap = new MinHeap<Entry>((a, b) => a.at < b.at || (a.at === b.at && a.order < b.order));
  private timer: NodeJS.Timeout | undefined;
  private armedAt = Infinity;
  private order = 0;
  private closed = false;

  constructor(private readonly onError: (err: unknown) => void) {}

  /** Runs `fn` at `at` (ms since epoch), or soon after. */
  at(at: number, fn: () => void): void {
    if (this.closed) return;
    this.heap.push({ at, order: this.order++, fn });
    if (at < this.armedAt) this.arm();
  }

  get size(): number {
    return this.heap.size;
  }

  private arm(): void {
    const next = this.heap.peek();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = Infinity;
    if (!next || this.closed) return;
    // setTimeout caps at 2^31-1 ms; far-away entries simply re-arm when that fires.
    const delay = Math.min(Math.max(0, next.at - Date.now()), 0x7fff_ffff);
    this.armedAt = next.at;
    this.timer = setTimeout(() => this.fire(), delay);
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.armedAt = Infinity;
    const now = Date.now();
    let ran = 0;
    for (;;) {
      const next = this.heap.peek();
      if (!next || next.at > now || ran >= 10_000) break;
      this.heap.pop();
      ran++;
      try {
        next.fn();
      } catch (err) {
        this.onError(err);
      }
    }
    this.arm();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.heap.clear();
  }
}
