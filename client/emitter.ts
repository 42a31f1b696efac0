/** A minimal event emitter: listeners by name; a listener that throws does not stop the others. */
export class Emitter {
  readonly #listeners = new Map<string, Set<(value: unknown) => void>>();

  on(type: string, fn: (value: unknown) => void): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(fn);
    return () => this.off(type, fn);
  }

  off(type: string, fn: (value: unknown) => void): void {
    this.#listeners.get(type)?.delete(fn);
  }

  emit(type: string, value: unknown): void {
    const set = this.#listeners.get(type);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(value);
      } catch (err) {
        // The application's bug must not break delivery; report it where uncaught errors go.
        setTimeout(() => {
          throw err;
        }, 0);
      }
    }
  }
}
