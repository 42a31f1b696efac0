/**
 * The behaviour every `StreamStore` must have, as a vitest suite both implementations run
 * (`gateway/store/memory.test.ts`, `test/stream-store-table.test.ts`). Test support only: imports vitest.
 */
import { afterEach, describe, expect, it } from "vitest";
import { HeraldError } from "../../core/errors.js";
import type { Frame } from "../../core/streams.js";
import { StreamStoreError, type AppendEntry, type StreamStore, type StreamStoreOptions } from "./types.js";

export interface StoreHarness {
  /** Opens a store over fresh, empty storage. */
  open(options: StreamStoreOptions): Promise<StreamStore>;
  /**
   * Opens a second store over the same storage as `store`, as another gateway replica would. (The
   * memory store has no shared storage: it returns `store` itself, and "replicas" are concurrent
   * callers of one instance.)
   */
  replica(store: StreamStore, options: StreamStoreOptions): Promise<StreamStore>;
}

/** A clock the test moves by hand. */
export function fakeClock(start = 1_700_000_000_000): { now: () => number; advance(ms: number): void } {
  let time = start;
  return { now: () => time, advance: (ms) => void (time += ms) };
}

function entry(id: string, data: unknown = { n: id }, extra: Partial<AppendEntry> = {}): AppendEntry {
  return { id, type: "test.event", data, ts: 1_700_000_000_000, ...extra };
}

/** Reads a whole stream by paging with `cursor`, the way a client fills a gap. */
export async function readAll(store: StreamStore, stream: string, after = 0, limit = 7): Promise<Frame[]> {
  const frames: Frame[] = [];
  for (let i = 0; i < 10_000; i++) {
    const page = await store.read(stream, after, limit);
    frames.push(...page.frames);
    if (page.cursor >= page.head) return frames;
    expect(page.cursor).toBeGreaterThan(after);
    after = page.cursor;
  }
  throw new Error("readAll did not reach the head");
}

async function failure(work: () => Promise<unknown>): Promise<HeraldError | StreamStoreError> {
  try {
    await work();
  } catch (err) {
    if (err instanceof HeraldError || err instanceof StreamStoreError) return err;
    throw err;
  }
  throw new Error("expected a failure");
}

export function describeStreamStore(name: string, harness: StoreHarness): void {
  describe(`StreamStore contract: ${name}`, () => {
    const opened: StreamStore[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });
    async function open(options: StreamStoreOptions = {}): Promise<StreamStore> {
      const store = await harness.open({ sweepIntervalMs: 0, ...options });
      opened.push(store);
      return store;
    }
    async function replica(store: StreamStore, options: StreamStoreOptions = {}): Promise<StreamStore> {
      const other = await harness.replica(store, { sweepIntervalMs: 0, ...options });
      if (other !== store) opened.push(other);
      return other;
    }

    it("assigns contiguous offsets from 1, independently per stream", async () => {
      const store = await open();
      const a = await store.append(entry("n1"), ["user:alice", "group:ops"]);
      expect(a.duplicate).toEqual([false, false]);
      expect(a.frames).toEqual([
        {
          id: "n1",
          type: "test.event",
          data: { n: "n1" },
          stream: "user:alice",
          offset: 1,
          ts: 1_700_000_000_000,
        },
        {
          id: "n1",
          type: "test.event",
          data: { n: "n1" },
          stream: "group:ops",
          offset: 1,
          ts: 1_700_000_000_000,
        },
      ]);
      const b = await store.append(entry("n2"), ["user:alice"]);
      const c = await store.append(entry("n3"), ["group:ops", "broadcast", "user:alice"]);
      expect(b.frames.map((f) => f.offset)).toEqual([2]);
      expect(c.frames.map((f) => [f.stream, f.offset])).toEqual([
        ["group:ops", 2],
        ["broadcast", 1],
        ["user:alice", 3],
      ]);
      const page = await store.read("user:alice", 0, 100);
      expect(page).toMatchObject({ first: 1, head: 3, cursor: 3 });
      expect(page.frames.map((f) => [f.id, f.offset])).toEqual([
        ["n1", 1],
        ["n2", 2],
        ["n3", 3],
      ]);
    });

    it("appends once to a stream named twice and answers in the order asked", async () => {
      const store = await open();
      const r = await store.append(entry("n1"), ["user:a", "user:b", "user:a"]);
      expect(r.frames.map((f) => [f.stream, f.offset])).toEqual([
        ["user:a", 1],
        ["user:b", 1],
        ["user:a", 1],
      ]);
      expect((await store.read("user:a", 0, 10)).head).toBe(1);
    });

    it("keeps data as JSON: any JSON value round-trips and later changes to the object do not leak in", async () => {
      const store = await open();
      const values: unknown[] = [
        null,
        0,
        -1.5,
        "",
        "été 🎉 \u0000 quotes\"'",
        [1, [2, { a: null }]],
        { deep: { x: true } },
      ];
      for (const [i, value] of values.entries()) await store.append(entry(`v${i}`, value), ["user:json"]);
      const mutable = { count: 1 };
      await store.append(entry("m", mutable), ["user:json"]);
      mutable.count = 2;
      const frames = await readAll(store, "user:json");
      expect(frames.map((f) => f.data)).toEqual([...values, { count: 1 }]);
    });

    it("returns the original frames for a repeated id, and fills in streams it missed", async () => {
      const store = await open();
      await store.append(entry("other"), ["user:alice"]);
      const first = await store.append(entry("n1", { v: 1 }, { ts: 5 }), ["user:alice"]);
      const again = await store.append(entry("n1", { v: 2 }, { ts: 9 }), ["user:alice"]);
      expect(again.duplicate).toEqual([true]);
      expect(again.frames).toEqual(first.frames);
      expect(again.frames[0]).toMatchObject({ offset: 2, data: { v: 1 }, ts: 5 });
      // A redelivery after a partial failure: the stream it already reached keeps its offset.
      const wider = await store.append(entry("n1", { v: 1 }, { ts: 5 }), ["user:alice", "group:ops"]);
      expect(wider.duplicate).toEqual([true, false]);
      expect(wider.frames.map((f) => [f.stream, f.offset])).toEqual([
        ["user:alice", 2],
        ["group:ops", 1],
      ]);
      expect((await store.read("user:alice", 0, 10)).head).toBe(2);
      expect(store.stats()).toMatchObject({ appended: 3, duplicates: 2 });
    });

    it("gives one offset to an id appended by concurrent callers", async () => {
      const store = await open();
      const results = await Promise.all(
        Array.from({ length: 8 }, () => store.append(entry("same"), ["user:x"])),
      );
      expect(new Set(results.map((r) => r.frames[0]!.offset))).toEqual(new Set([1]));
      expect(results.filter((r) => !r.duplicate[0])).toHaveLength(1);
      expect((await store.read("user:x", 0, 10)).head).toBe(1);
    });

    it("reads ranges in pages; the cursor says where to go on", async () => {
      const store = await open();
      for (let i = 1; i <= 25; i++) await store.append(entry(`n${i}`), ["group:g"]);
      const p1 = await store.read("group:g", 0, 10);
      expect(p1.frames.map((f) => f.offset)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(p1).toMatchObject({ first: 1, head: 25, cursor: 10 });
      const p2 = await store.read("group:g", 10, 10);
      expect(p2.frames.map((f) => f.offset)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
      const p3 = await store.read("group:g", 20, 10);
      expect(p3.frames.map((f) => f.offset)).toEqual([21, 22, 23, 24, 25]);
      expect(p3.cursor).toBe(25);
      const mid = await store.read("group:g", 17, 2);
      expect(mid.frames.map((f) => f.id)).toEqual(["n18", "n19"]);
      expect(await store.read("group:g", 25, 10)).toEqual({ frames: [], first: 1, head: 25, cursor: 25 });
      expect((await readAll(store, "group:g", 0, 4)).map((f) => f.offset)).toEqual(
        Array.from({ length: 25 }, (_, i) => i + 1),
      );
    });

    it("reads an unknown stream as empty, and says when a cursor is ahead of the head", async () => {
      const store = await open();
      expect(await store.read("user:nobody", 0, 10)).toEqual({ frames: [], first: 1, head: 0, cursor: 0 });
      expect(await store.read("user:nobody", 42, 10)).toEqual({ frames: [], first: 1, head: 0, cursor: 42 });
      await store.append(entry("n1"), ["user:somebody"]);
      const ahead = await store.read("user:somebody", 42, 10);
      expect(ahead).toMatchObject({ frames: [], head: 1, cursor: 42 });
    });

    it("answers bad input with stable codes", async () => {
      const store = await open();
      const cases: Array<[() => Promise<unknown>, string, string | undefined]> = [
        [() => store.append(entry("n"), ["nope"]), "HERALD_INVALID_FIELD", "streams[0]"],
        [() => store.append(entry("n"), []), "HERALD_INVALID_FIELD", "streams"],
        [() => store.append(entry(""), ["user:a"]), "HERALD_INVALID_FIELD", "id"],
        [() => store.append(entry("a\nb"), ["user:a"]), "HERALD_INVALID_FIELD", "id"],
        [() => store.append({ ...entry("n"), type: "no spaces" }, ["user:a"]), "HERALD_INVALID_TYPE", "type"],
        [() => store.append({ ...entry("n"), ts: Number.NaN }, ["user:a"]), "HERALD_INVALID_FIELD", "ts"],
        [() => store.append({ ...entry("n"), data: undefined }, ["user:a"]), "HERALD_INVALID_FIELD", "data"],
        [() => store.append(entry("n", { big: 1n }), ["user:a"]), "HERALD_INVALID_FIELD", "data"],
        [() => store.append(entry("n", "x".repeat(65_536)), ["user:a"]), "HERALD_PAYLOAD_TOO_LARGE", "data"],
        [() => store.read("bad stream", 0, 10), "HERALD_INVALID_FIELD", "stream"],
        [() => store.read("user:a", -1, 10), "HERALD_INVALID_FIELD", "after"],
        [() => store.read("user:a", 1.5, 10), "HERALD_INVALID_FIELD", "after"],
        [() => store.read("user:a", 0, 0), "HERALD_INVALID_FIELD", "limit"],
        [() => store.read("user:a", 0, 1001), "HERALD_INVALID_FIELD", "limit"],
      ];
      for (const [i, [work, code, target]] of cases.entries()) {
        const err = await failure(work);
        expect([i, err.code, (err as HeraldError).target]).toEqual([i, code, target]);
      }
      // 64 KiB of JSON is the default limit, and it is accepted whole.
      const big = "é".repeat(32_766); // 65532 bytes + 2 quotes = 65534
      const ok = await store.append(entry("big", big), ["user:a"]);
      expect((await store.read("user:a", 0, 1)).frames[0]!.data).toBe(big);
      expect(ok.frames[0]!.offset).toBe(1);
    });

    it("keeps at most maxCount frames per stream; an older cursor learns it was not recovered", async () => {
      const store = await open({ retention: { maxCount: 5 } });
      for (let i = 1; i <= 12; i++) await store.append(entry(`n${i}`), ["user:c", "user:d"]);
      const page = await store.read("user:c", 0, 100);
      expect(page.first).toBe(8);
      expect(page.head).toBe(12);
      expect(page.frames.map((f) => f.offset)).toEqual([8, 9, 10, 11, 12]);
      // after + 1 < first: frames 4..7 are gone, and the reader is told so by `first`.
      const behind = await store.read("user:c", 3, 2);
      expect(behind.first).toBe(8);
      expect(behind.frames.map((f) => f.offset)).toEqual([8, 9]);
      expect(behind.cursor).toBe(9);
      // Dedup lasts as long as the frame: a trimmed id is appended anew; a retained one is not.
      const retained = await store.append(entry("n12"), ["user:c"]);
      expect(retained.duplicate).toEqual([true]);
      const trimmed = await store.append(entry("n1"), ["user:c"]);
      expect(trimmed.duplicate).toEqual([false]);
      expect(trimmed.frames[0]!.offset).toBe(13);
      expect((await readAll(store, "user:d")).map((f) => f.offset)).toEqual([8, 9, 10, 11, 12]);
    });

    it("drops frames older than maxAgeMs, oldest first, and keeps counting after", async () => {
      const clock = fakeClock();
      const store = await open({ retention: { maxAgeMs: 1000 }, now: clock.now });
      for (let i = 1; i <= 3; i++) await store.append(entry(`a${i}`), ["user:age"]);
      clock.advance(600);
      for (let i = 4; i <= 5; i++) await store.append(entry(`a${i}`), ["user:age"]);
      clock.advance(500); // a1..a3 are 1100 ms old, a4 and a5 600 ms
      const page = await store.read("user:age", 0, 100);
      expect(page).toMatchObject({ first: 4, head: 5, cursor: 5 });
      expect(page.frames.map((f) => f.id)).toEqual(["a4", "a5"]);
      clock.advance(600);
      await store.sweep();
      expect(await store.read("user:age", 0, 100)).toEqual({ frames: [], first: 6, head: 5, cursor: 5 });
      expect(await store.read("user:age", 5, 100)).toEqual({ frames: [], first: 6, head: 5, cursor: 5 });
      const next = await store.append(entry("a6"), ["user:age"]);
      expect(next.frames[0]!.offset).toBe(6);
      expect(await store.read("user:age", 0, 100)).toMatchObject({ first: 6, head: 6 });
      expect(store.stats().trimmed).toBe(5);
    });

    it("skips expired entries without hiding the offsets it passed", async () => {
      const clock = fakeClock();
      const store = await open({ now: clock.now });
      const t = clock.now();
      await store.append(entry("e1", 1, { expiresAt: t + 100 }), ["user:ttl"]);
      await store.append(entry("keep", 2), ["user:ttl"]);
      await store.append(entry("e3", 3, { expiresAt: t + 200 }), ["user:ttl"]);
      expect((await store.read("user:ttl", 0, 10)).frames.map((f) => f.id)).toEqual(["e1", "keep", "e3"]);
      clock.advance(150);
      expect(await store.read("user:ttl", 0, 10)).toMatchObject({ first: 1, head: 3, cursor: 3 });
      expect((await store.read("user:ttl", 0, 10)).frames.map((f) => f.id)).toEqual(["keep", "e3"]);
      clock.advance(100);
      const page = await store.read("user:ttl", 0, 10);
      expect(page.frames.map((f) => f.offset)).toEqual([2]);
      expect(page.cursor).toBe(3);
      // An expired frame alone in a page still moves the cursor.
      expect(await store.read("user:ttl", 2, 10)).toEqual({ frames: [], first: 1, head: 3, cursor: 3 });
      expect(await store.read("user:ttl", 0, 1)).toEqual({ frames: [], first: 1, head: 3, cursor: 1 });
    });

    it("two replicas appending to the same streams at once produce offsets 1..N with no gap or repeat", async () => {
      const a = await open();
      const b = await replica(a);
      const streams = ["broadcast", "group:all", "user:hot"];
      const n = 30;
      const results = await Promise.all([
        ...Array.from({ length: n }, (_, i) => a.append(entry(`a${i}`), streams)),
        ...Array.from({ length: n }, (_, i) => b.append(entry(`b${i}`), streams)),
      ]);
      for (const [s, stream] of streams.entries()) {
        const frames = await readAll(a, stream, 0, 25);
        expect(frames.map((f) => f.offset)).toEqual(Array.from({ length: 2 * n }, (_, i) => i + 1));
        expect(new Set(frames.map((f) => f.id)).size).toBe(2 * n);
        // What each append was told matches what is stored.
        const byId = new Map(frames.map((f) => [f.id, f.offset]));
        for (const r of results) expect(byId.get(r.frames[s]!.id)).toBe(r.frames[s]!.offset);
      }
      expect((await b.read("user:hot", 0, 1)).head).toBe(2 * n);
    });

    it("two replicas appending the same ids at once store each id once", async () => {
      const a = await open();
      const b = await replica(a);
      const ids = Array.from({ length: 20 }, (_, i) => `same${i}`);
      const [ra, rb] = await Promise.all([
        Promise.all(ids.map((id) => a.append(entry(id), ["user:r", "group:r"]))),
        Promise.all(ids.map((id) => b.append(entry(id), ["user:r", "group:r"]))),
      ]);
      for (const [i] of ids.entries()) {
        expect(ra[i]!.frames).toEqual(rb[i]!.frames);
        for (const s of [0, 1])
          expect([ra[i]!.duplicate[s], rb[i]!.duplicate[s]].filter((d) => !d)).toHaveLength(1);
      }
      for (const stream of ["user:r", "group:r"]) {
        const frames = await readAll(b, stream, 0, 8);
        expect(frames.map((f) => f.offset)).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1));
        expect(new Set(frames.map((f) => f.id))).toEqual(new Set(ids));
      }
    });

    it("gives replicas one shared secret per name, created once even when they ask at once", async () => {
      const a = await open();
      const b = await replica(a);
      const [first, second] = await Promise.all([a.sharedSecret("token-key"), b.sharedSecret("token-key")]);
      expect(first).toBe(second);
      expect(first.length).toBeGreaterThanOrEqual(32);
      expect(await b.sharedSecret("token-key")).toBe(first);
      const other = await a.sharedSecret("other-key");
      expect(other).not.toBe(first);
      // The secret's row is no stream: streams stay as they were.
      expect((await a.read("user:token-key", 0, 10)).frames).toEqual([]);
    });

    it("fails every call after close with STORE_CLOSED", async () => {
      const store = await harness.open({ sweepIntervalMs: 0 });
      await store.append(entry("n1"), ["user:a"]);
      await store.close();
      expect((await failure(() => store.append(entry("n2"), ["user:a"]))).code).toBe("STORE_CLOSED");
      expect((await failure(() => store.read("user:a", 0, 1))).code).toBe("STORE_CLOSED");
      expect((await failure(() => store.sharedSecret("k"))).code).toBe("STORE_CLOSED");
    });
  });
}
