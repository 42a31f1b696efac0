/**
 * Duplicate detection for one queue or topic: a message id seen within the history window is
 * dropped (the sender still sees success, as in Service Bus). Entries are kept in first-seen
 * order, so pruning walks from the oldest.
 */
export class DuplicateDetector {
  private readonly seen = new Map<string, number>();

  /** True (and nothing recorded) when `id` was seen within `windowMs` of `now`; records it otherwise. */
  check(id: string, now: number, windowMs: number): boolean {
    this.prune(now, windowMs);
    const at = this.seen.get(id);
    if (at !== undefined && now - at < windowMs) return true;
    this.seen.delete(id);
    this.seen.set(id, now);
    return false;
  }

  /** Records an entry read back from the journal. */
  restore(id: string, at: number): void {
    this.seen.delete(id);
    this.seen.set(id, at);
  }

  prune(now: number, windowMs: number): void {
    for (const [id, at] of this.seen) {
      if (now - at < windowMs) break;
      this.seen.delete(id);
    }
  }

  entries(): IterableIterator<[string, number]> {
    return this.seen.entries();
  }

  get size(): number {
    return this.seen.size;
  }
}
