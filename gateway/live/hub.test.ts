/**
 * LiveHub and the shared connection logic with a recording fake transport (no sockets): ordering,
 * gaps, backlogs, single-flight reads, limits.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import type { NotRecovered } from "../../core/cursor.js";
import { HeraldError } from "../../core/errors.js";
import type { CloseReason } from "../../core/live.js";
import type { Frame } from "../../core/streams.js";
import { MemoryStreamStore } from "../store/index.js";
import type { StreamStore } from "../store/types.js";
import { LiveConnection, type StartPosition } from "./connection.js";
import type { PreparedFrame } from "./frame.js";
import { LiveHub, type LiveHubOptions } from "./hub.js";

class FakeConnection extends LiveConnection {
  readonly transport: "sse" | "long-polling";
  readonly sent: { offset: number; stream: string; cursor: string; replay: boolean }[] = [];
  readonly lostMarkers: NotRecovered[] = [];
  ended: CloseReason | undefined;
  ready = false;
  /** When set, a replay waits for it before continuing. */
  room: Promise<boolean> | undefined;

  constructor(
    hub: LiveHub,
    start: StartPosition[],
    user = "alice",
    transport: "sse" | "long-polling" = "sse",
  ) {
    super(hub, { userId: user, groups: [], connectionId: `${user}-${Math.random()}` }, start);
    this.transport = transport;
  }
  protected send(frames: readonly PreparedFrame[], replay: boolean): void {
    for (const f of frames) {
      this.advance(f);
      this.sent.push({ offset: f.offset, stream: f.stream, cursor: this.cursor(), replay });
    }
  }
  protected lost(marker: NotRecovered): void {
    this.lostMarkers.push(marker);
  }
  protected caughtUp(): void {
    this.ready = true;
  }
  protected replayRoom(): boolean | Promise<boolean> {
    return this.room ?? true;
  }
  protected end(reason: CloseReason): void {
    this.ended = reason;
  }
  offsets(stream = "broadcast"): number[] {
    return this.sent.filter((s) => s.stream === stream).map((s) => s.offset);
  }
}

let seq = 0;
async function append(store: StreamStore, streams: string[]): Promise<Frame[]> {
  return (await store.append({ id: `n${++seq}`, type: "t", data: { seq }, ts: 1 }, streams)).frames;
}

const flushed = (): Promise<void> => new Promise((r) => setImmediate(r));

describe("LiveHub", () => {
  let hub: LiveHub;
  let store: MemoryStreamStore;

  function setup(options: Partial<LiveHubOptions> = {}): void {
    store = new MemoryStreamStore({ sweepIntervalMs: 0 });
    hub = new LiveHub({ store, ...options });
  }
  afterEach(async () => {
    vi.useRealTimers();
    await hub?.close();
    await store?.close();
  });

  async function connect(start: StartPosition[], user?: string): Promise<FakeConnection> {
    const conn = new FakeConnection(hub, start, user);
    hub.admit(conn);
    await conn.start();
    return conn;
  }

  it("serializes a frame once and shares it between every connection of its stream", async () => {
    setup();
    const a = await connect([{ stream: "broadcast", after: undefined }], "a");
    const b = await connect([{ stream: "broadcast", after: undefined }], "b");
    const seen: PreparedFrame[] = [];
    for (const conn of [a, b]) {
      const original = conn.onLive.bind(conn);
      conn.onLive = (f) => {
        seen.push(f);
        original(f);
      };
    }
    await hub.push(await append(store, ["broadcast"]));
    await flushed();
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBe(seen[1]);
    expect(seen[0]!.sse).toBe(seen[1]!.sse);
    expect(a.offsets()).toEqual([1]);
    expect(b.offsets()).toEqual([1]);
  });

  it("ignores frames of streams nobody reads and frames already held", async () => {
    setup();
    const conn = await connect([{ stream: "broadcast", after: undefined }]);
    const frames = await append(store, ["broadcast", "user:zed"]);
    await hub.push(frames);
    await hub.push(frames);
    await flushed();
    expect(conn.sent.map((s) => s.stream)).toEqual(["broadcast"]);
  });

  it("replays after the cursor, then goes live with no gap and no repeat around the switch", async () => {
    setup();
    for (let i = 0; i < 5; i++) await hub.push(await append(store, ["broadcast"]));
    const conn = new FakeConnection(hub, [{ stream: "broadcast", after: 2 }]);
    hub.admit(conn);
    const started = conn.start();
    // Appended and pushed while the replay reads: ends up both in the read and in the backlog.
    await hub.push(await append(store, ["broadcast"]));
    await started;
    await hub.push(await append(store, ["broadcast"]));
    await flushed();
    expect(conn.offsets()).toEqual([3, 4, 5, 6, 7]);
    expect(conn.sent.slice(0, 3).every((s) => s.replay)).toBe(true);
    expect(conn.sent.at(-1)!.replay).toBe(false);
    expect(conn.ready).toBe(true);
  });

  it("holds frames that overtake a missing offset, then releases them in order", async () => {
    setup({ reorderMs: 10_000 });
    const conn = await connect([{ stream: "broadcast", after: 0 }]);
    const f1 = await append(store, ["broadcast"]);
    const f2 = await append(store, ["broadcast"]);
    const f3 = await append(store, ["broadcast"]);
    await hub.push(f1);
    await hub.push(f3);
    await flushed();
    expect(conn.offsets()).toEqual([1]);
    expect(hub.stats().held).toBe(1);
    await hub.push(f2);
    await flushed();
    expect(conn.offsets()).toEqual([1, 2, 3]);
    expect(hub.stats().held).toBe(0);
  });

  it("fills a gap the feed never closes from the store after the reorder wait, once for all connections", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    setup({ reorderMs: 100 });
    const readSpy = vi.spyOn(store, "read");
    const conns = await Promise.all(
      ["a", "b", "c"].map((u) => connect([{ stream: "broadcast", after: 0 }], u)),
    );
    await hub.push(await append(store, ["broadcast"]));
    await append(store, ["broadcast"]); // 2: never pushed (say, its push went to another replica)
    await hub.push(await append(store, ["broadcast"]));
    await flushed();
    expect(conns[0]!.offsets()).toEqual([1]);
    readSpy.mockClear();
    await vi.advanceTimersByTimeAsync(100);
    for (let i = 0; i < 5; i++) await flushed();
    for (const conn of conns) expect(conn.offsets()).toEqual([1, 2, 3]);
    // One store read for three connections.
    expect(readSpy).toHaveBeenCalledTimes(1);
  });

  it("re-reads the store when the live backlog overflows during a slow replay", async () => {
    setup({ backlogLimit: 3 });
    for (let i = 0; i < 3; i++) await append(store, ["broadcast"]);
    const conn = new FakeConnection(hub, [{ stream: "broadcast", after: 0 }]);
    let open!: (ok: boolean) => void;
    conn.room = new Promise((r) => (open = r));
    hub.admit(conn);
    const started = conn.start();
    await flushed();
    // 10 live frames while the replay waits: the backlog keeps 3, then overflows.
    for (let i = 0; i < 10; i++) await hub.push(await append(store, ["broadcast"]));
    conn.room = undefined;
    open(true);
    await started;
    await flushed();
    expect(conn.offsets()).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
  });

  it("gives up with 'cannot-catch-up' when the feed outruns every replay round", async () => {
    setup({ backlogLimit: 1 });
    await append(store, ["broadcast"]);
    const conn = new FakeConnection(hub, [{ stream: "broadcast", after: 0 }]);
    conn.room = Promise.resolve(true);
    const original = store.read.bind(store);
    vi.spyOn(store, "read").mockImplementation(async (...args) => {
      const r = await original(...args);
      // Every read is overtaken by two more live frames.
      await hub.push(await append(store, ["broadcast"]));
      await hub.push(await append(store, ["broadcast"]));
      return r;
    });
    hub.admit(conn);
    await conn.start();
    expect(conn.ended).toBe("cannot-catch-up");
    expect(hub.stats().connections.sse).toBe(0);
  });

  it("starts a stream without a cursor at its head and keeps it out of the cursor until known", async () => {
    setup();
    await append(store, ["broadcast"]);
    await append(store, ["broadcast"]);
    const conn = new FakeConnection(hub, [
      { stream: "user:alice", after: 0 },
      { stream: "broadcast", after: undefined },
    ]);
    expect(conn.cursor()).toBe("uYWxpY2U~0");
    hub.admit(conn);
    await conn.start();
    expect(conn.cursor()).toBe("uYWxpY2U~0.b~2");
    expect(conn.sent).toEqual([]);
  });

  it("reports lost frames and continues where the store resumes", async () => {
    store = new MemoryStreamStore({ sweepIntervalMs: 0, retention: { maxCount: 3 } });
    hub = new LiveHub({ store });
    for (let i = 0; i < 8; i++) await append(store, ["broadcast"]);
    const conn = await connect([{ stream: "broadcast", after: 2 }]);
    expect(conn.lostMarkers).toEqual([
      { stream: "broadcast", after: 2, resumeAfter: 5, reason: "retention" },
    ]);
    expect(conn.offsets()).toEqual([6, 7, 8]);
  });

  it("closes a connection with 'store-unavailable' when the store fails, and keeps the others", async () => {
    setup();
    const healthy = await connect([{ stream: "broadcast", after: 0 }], "h");
    vi.spyOn(store, "read").mockRejectedValueOnce(new Error("table down"));
    const conn = new FakeConnection(hub, [{ stream: "broadcast", after: 0 }]);
    hub.admit(conn);
    await conn.start();
    expect(conn.ended).toBe("store-unavailable");
    await hub.push(await append(store, ["broadcast"]));
    await flushed();
    expect(healthy.offsets()).toEqual([1]);
    expect(hub.stats().connections.sse).toBe(1);
  });

  it("enforces per-user and per-process limits, and refuses everything once closed", async () => {
    setup({ maxConnections: 3, maxConnectionsPerUser: 2 });
    const start = [{ stream: "broadcast", after: undefined }];
    const code = (f: () => void): string | undefined => {
      try {
        f();
      } catch (err) {
        return (err as HeraldError).code;
      }
      return undefined;
    };
    const first = new FakeConnection(hub, start, "u1");
    hub.admit(first);
    hub.admit(new FakeConnection(hub, start, "u1"));
    expect(code(() => hub.admit(new FakeConnection(hub, start, "u1")))).toBe("HERALD_TOO_MANY_CONNECTIONS");
    hub.admit(new FakeConnection(hub, start, "u2", "long-polling"));
    expect(code(() => hub.admit(new FakeConnection(hub, start, "u3")))).toBe("HERALD_TOO_MANY_CONNECTIONS");
    expect(hub.stats()).toMatchObject({ connections: { sse: 2, "long-polling": 1 }, users: 2, streams: 1 });
    first.dropped();
    expect(code(() => hub.admit(new FakeConnection(hub, start, "u3")))).toBeUndefined();
    await hub.close();
    expect(code(() => hub.admit(new FakeConnection(hub, start, "u4")))).toBe("HERALD_SHUTTING_DOWN");
    expect(hub.stats().connections).toEqual({ sse: 0, "long-polling": 0 });
  });

  it("refuses a second open long-poll of one connection id with HERALD_CONFLICT", () => {
    setup();
    const start = [{ stream: "broadcast", after: undefined }];
    const first = new FakeConnection(hub, start, "u", "long-polling");
    hub.admit(first);
    const second = new FakeConnection(hub, start, "u", "long-polling");
    Object.assign(second.identity, { connectionId: first.identity.connectionId });
    expect(() => hub.admit(second)).toThrow(expect.objectContaining({ code: "HERALD_CONFLICT" }));
    first.close("shutdown");
    expect(() => hub.admit(second)).not.toThrow();
  });

  it("rejects invalid options at construction", () => {
    store = new MemoryStreamStore({ sweepIntervalMs: 0 });
    expect(() => new LiveHub({ store, bufferBytes: 0 })).toThrow(HeraldError);
    expect(() => new LiveHub({ store, heartbeatMs: 1.5 })).toThrow(/heartbeatMs/);
  });
});
