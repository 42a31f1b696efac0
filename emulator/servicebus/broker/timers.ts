/**
 * One timer for the whole broker: lock expiry, scheduled messages, TTL and session locks all go
 * through a min-heap, so thousands of entities and messages cost no per-item `setTimeout`.
 * Entries are cancellable in O(log n), so the heap holds only what is still pending (a completed
 * message's lock timer goes away with it instead of pinning the message until it would fire).
 */

export interface TimerHandle {
  readonly at: number;
}

interface Entry extends TimerHandle {
  at: number;
  order: number;
  fn: () => void;
  /** Position in the heap; -1 once fired or cancelled. */
  index: number;
}

export class TimerWheel {
  private heap: Entry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private armedAt = Infinity;
  private order = 0;
  private closed = false;

  constructor(private readonly onError: (err: unknown) => void) {}

  /** Runs `fn` at `at` (ms since epoch), or soon after. */
  at(at: number, fn: () => void): TimerHandle {
    const entry: Entry = { at, order: this.order++, fn, index: -1 };
    if (this.closed) return entry;
    entry.index = this.heap.length;
    this.heap.push(entry);
    this.up(entry.index);
    if (at < this.armedAt) this.arm();
    return entry;
  }

  /** Drops a pending entry (no-op for undefined, fired or cancelled ones). */
  cancel(handle: TimerHandle | undefined): void {
    const entry = handle as Entry | undefined;
    if (!entry || entry.index < 0) return;
    const i = entry.index;
    entry.index = -1;
    const last = this.heap.pop()!;
    if (last !== entry) {
      this.heap[i] = last;
      last.index = i;
      this.down(i);
      this.up(last.index);
    }
  }

  get size(): number {
    return this.heap.length;
  }

  private less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.order < b.order);
  }

  private swap(i: number, j: number): void {
    const h = this.heap;
    const a = h[i]!;
    const b = h[j]!;
    h[i] = b;
    h[j] = a;
    b.index = i;
    a.index = j;
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(this.heap[i]!, this.heap[parent]!)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private arm(): void {
    const next = this.heap[0];
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
    for (let ran = 0; ran < 10_000; ran++) {
      const next = this.heap[0];
      if (!next || next.at > now) break;
      this.cancel(next);
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
    for (const e of this.heap) e.index = -1;
    this.heap = [];
  }
}
