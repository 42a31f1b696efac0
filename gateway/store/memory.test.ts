import { afterEach, describe, expect, it } from "vitest";
import { HeraldError } from "../../core/errors.js";
import { describeStreamStore, fakeClock, readAll } from "./contract.js";
import { MemoryStreamStore, type MemoryStreamStoreOptions } from "./memory.js";

describeStreamStore("memory", {
  open: async (options) => new MemoryStreamStore(options),
  replica: async (store) => store,
});

describe("MemoryStreamStore bounds", () => {
  const stores: MemoryStreamStore[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  function open(options: MemoryStreamStoreOptions): MemoryStreamStore {
    const store = new MemoryStreamStore({ sweepIntervalMs: 0, ...options });
    stores.push(store);
    return store;
  }
  const entry = (id: string, data: unknown = id) => ({ id, type: "t", data, ts: 1 });

  it("forgets the least recently appended stream beyond maxStreams", async () => {
    const store = open({ maxStreams: 2 });
    await store.append(entry("1"), ["user:a"]);
    await store.append(entry("2"), ["user:b"]);
    await store.append(entry("3"), ["user:a"]); // a is now the most recent
    await store.append(entry("4"), ["user:c"]); // evicts b
    expect(store.size()).toEqual({ streams: 2, frames: 3, bytes: 9 });
    expect(await store.read("user:b", 1, 10)).toEqual({ frames: [], first: 1, head: 0, cursor: 1 });
    expect((await store.read("user:a", 0, 10)).head).toBe(2);
    // A forgotten stream starts over; a reader sees `after > head` and knows to start from 0.
    expect((await store.append(entry("2"), ["user:b"])).frames[0]!.offset).toBe(1);
  });

  it("drops the oldest frames over all streams beyond maxFrames and maxBytes, keeping each stream gap-free", async () => {
    const store = open({ maxFrames: 5 });
    for (let i = 0; i < 4; i++) await store.append(entry(`x${i}`), ["user:a", "user:b"]);
    expect(store.size().frames).toBe(5);
    expect((await store.read("user:a", 0, 10)).frames.map((f) => f.offset)).toEqual([3, 4]);
    expect((await store.read("user:b", 0, 10)).frames.map((f) => f.offset)).toEqual([2, 3, 4]);

    const bytes = open({ maxBytes: 100 });
    for (let i = 0; i < 10; i++) await bytes.append(entry(`y${i}`, "z".repeat(28)), ["user:a"]); // 30 bytes each
    expect(bytes.size()).toEqual({ streams: 1, frames: 3, bytes: 90 });
    expect((await bytes.read("user:a", 0, 10)).first).toBe(8);
  });

  it("keeps the dedup index to retained frames, so memory stays bounded under a stream of new ids", async () => {
    const store = open({ retention: { maxCount: 3 }, maxFrames: 1000 });
    for (let i = 0; i < 5000; i++) await store.append(entry(`id${i}`, "abcd"), ["user:a"]);
    expect(store.size()).toEqual({ streams: 1, frames: 3, bytes: 3 * 6 });
    expect(store.internals()).toEqual({ dedup: 3, slots: expect.any(Number) });
    expect(store.internals().slots).toBeLessThanOrEqual(2 * 3 + 1024 + 1);
  });

  it("sweeps aged frames of streams nobody touches", async () => {
    const clock = fakeClock();
    const store = open({ retention: { maxAgeMs: 1000 }, now: clock.now });
    await store.append(entry("1"), ["user:a", "user:b"]);
    clock.advance(500);
    await store.append(entry("2"), ["user:c"]);
    clock.advance(600);
    await store.sweep();
    expect(store.size().frames).toBe(1);
    expect(store.stats().trimmed).toBe(2);
    expect(await readAll(store, "user:c")).toHaveLength(1);
  });

  it("runs the sweep on a timer", async () => {
    let time = 0;
    const store = open({ retention: { maxAgeMs: 10 }, sweepIntervalMs: 5, now: () => time });
    await store.append(entry("1"), ["user:a"]);
    time = 100;
    for (let i = 0; i < 200 && store.size().frames > 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(store.size().frames).toBe(0);
  });

  it("rejects invalid options at construction", () => {
    expect(() => new MemoryStreamStore({ maxStreams: 0 })).toThrow(HeraldError);
    expect(() => new MemoryStreamStore({ retention: { maxCount: 0 } })).toThrow(/retention.maxCount/);
    expect(() => new MemoryStreamStore({ maxDataBytes: 2 * 1024 * 1024 })).toThrow(/maxDataBytes/);
  });
});
