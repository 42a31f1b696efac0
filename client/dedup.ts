/**
 * The last `limit` notification ids seen, oldest evicted first: bounded memory for dropping the
 * duplicates that transport switches, reconnects and redeliveries produce.
 */
export class RecentIds {
  readonly #ids = new Set<string>();

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError("dedup size must be at least 1");
  }

  get size(): number {
    return this.#ids.size;
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  /** Remembers `id`; true when it was new. */
  add(id: string): boolean {
    if (this.#ids.has(id)) return false;
    this.#ids.add(id);
    if (this.#ids.size > this.limit) {
      // A Set iterates in insertion order: the first is the oldest.
      const oldest = this.#ids.values().next().value;
      if (oldest !== undefined) this.#ids.delete(oldest);
    }
    return true;
  }
}
