/** Slow consumers: a client that never reads is closed at its buffer limit; the others keep receiving. */
import { connect, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { encodeCursor } from "../core/cursor.js";
import { SseParser, openRawSse, startLiveServer, useCleanup, waitFor } from "./helpers/live.js";

/** Opens an SSE request on a raw socket and stops reading once the headers are in. */
async function neverReads(port: number, path: string): Promise<Socket> {
  const socket = connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.once("data", () => {
      socket.pause();
      resolve();
    });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  });
  return socket;
}

const BIG = "x".repeat(48 * 1024);

describe("slow SSE consumers", () => {
  const register = useCleanup();

  it("closes a client that never reads once its buffer passes the limit; other clients get everything", async () => {
    const live = await startLiveServer(register, {
      hub: { bufferBytes: 64 * 1024, closeGraceMs: 100 },
      store: { maxBytes: 512 * 1024 * 1024 },
    });
    const slow = await neverReads(live.http.port, `/api/sse?token=${await live.token("slow")}`);
    register({ close: () => slow.destroy() });
    const healthy = await openRawSse(
      new URL(`/api/sse?token=${await live.token("fast")}`, live.url).toString(),
    );
    register(healthy);
    await healthy.until((p) => p.events.some((e) => e.event === "ready"));
    await waitFor(() => (live.hub.stats().connections.sse === 2 ? true : undefined));

    // Loopback socket buffers take several MB before the gateway's own queue grows; bounded anyway.
    let published = 0;
    while (live.hub.stats().connections.sse === 2 && published < 1500) {
      await live.publish({ broadcast: true }, { i: published, pad: BIG });
      published++;
      await healthy.until((p) => p.frames().length === published);
    }
    expect(live.hub.stats().connections.sse).toBe(1);
    const closed = await live.metrics.liveClosed.get();
    expect(closed.values).toEqual([
      expect.objectContaining({ labels: { transport: "sse", reason: "slow-consumer" }, value: 1 }),
    ]);
    // The slow client's socket is destroyed after the grace period, freeing its queue.
    const sockets = (): Promise<number> =>
      new Promise((resolve, reject) =>
        live.http.server.getConnections((err, count) => (err ? reject(err) : resolve(count))),
      );
    for (let i = 0; (await sockets()) !== 1; i++) {
      expect(i).toBeLessThan(200);
      await new Promise((r) => setTimeout(r, 20));
    }

    for (let i = 0; i < 5; i++) await live.publish({ broadcast: true }, { i: published + i });
    await healthy.until((p) => p.frames().length === published + 5);
    expect(healthy.parser.frames().map((f) => f.offset)).toEqual(
      Array.from({ length: published + 5 }, (_, i) => i + 1),
    );
  });

  it("tells a slow client why it was closed, and it resumes from its last id with nothing lost or repeated", async () => {
    const live = await startLiveServer(register, {
      hub: { bufferBytes: 64 * 1024, closeGraceMs: 60_000 },
      store: { maxBytes: 512 * 1024 * 1024 },
    });
    const token = await live.token("slow");
    // Reads the headers, then stops reading until told; keeps every byte.
    const socket = connect(live.http.port, "127.0.0.1");
    register({ close: () => socket.destroy() });
    let raw = "";
    let paused = false;
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => {
      raw += d;
      if (!paused && raw.includes("\r\n\r\n")) {
        paused = true;
        socket.pause();
      }
    });
    socket.write(`GET /api/sse?token=${token} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await waitFor(() => (live.hub.stats().connections.sse === 1 ? true : undefined));
    let published = 0;
    while (live.hub.stats().connections.sse === 1 && published < 1500) {
      await live.publish({ broadcast: true }, { i: published, pad: BIG });
      published++;
      // Give the socket a turn to take what it can, as a real feed would.
      await new Promise((r) => setImmediate(r));
    }
    expect(live.hub.stats().connections.sse).toBe(0);

    // The client reads again within the grace period: it gets what was queued, then the reason.
    socket.resume();
    await waitFor(() => (raw.endsWith("\r\n0\r\n\r\n") ? true : undefined));
    let rest = raw.slice(raw.indexOf("\r\n\r\n") + 4);
    let body = "";
    for (let m = /^([0-9a-f]+)\r\n/.exec(rest); m; m = /^([0-9a-f]+)\r\n/.exec(rest)) {
      const size = parseInt(m[1]!, 16);
      body += rest.slice(m[0].length, m[0].length + size);
      rest = rest.slice(m[0].length + size + 2);
    }
    const parser = new SseParser();
    parser.feed(Buffer.from(body, "latin1").toString("utf8"));
    expect(parser.events.at(-1)).toEqual({
      event: "close",
      data: '{"reason":"slow-consumer"}',
      id: undefined,
    });
    const before = parser.frames();
    expect(before.length).toBeGreaterThan(0);
    // Published while it was away.
    for (let i = 0; i < 5; i++) await live.publish({ broadcast: true }, { i: published++ });
    const lastEventId = parser.events.filter((e) => e.event === "notification").at(-1)!.id!;

    const resumed = await openRawSse(new URL(`/api/sse?token=${token}`, live.url).toString(), {
      "last-event-id": lastEventId,
    });
    register(resumed);
    await resumed.until((p) => p.events.some((e) => e.event === "ready"));
    expect(resumed.parser.frames().length).toBeGreaterThanOrEqual(5);
    expect([...before, ...resumed.parser.frames()].map((f) => f.offset)).toEqual(
      Array.from({ length: published }, (_, i) => i + 1),
    );
  });

  it("closes a client that stops reading during its replay after the stall timeout", async () => {
    const live = await startLiveServer(register, {
      hub: { stallMs: 300, closeGraceMs: 100 },
      store: { maxBytes: 512 * 1024 * 1024 },
    });
    for (let i = 0; i < 400; i++) await live.publish({ broadcast: true }, { i, pad: BIG });
    const cursor = encodeCursor([["broadcast", 0]]);
    const slow = await neverReads(
      live.http.port,
      `/api/sse?token=${await live.token("slow")}&cursor=${cursor}`,
    );
    register({ close: () => slow.destroy() });
    await waitFor(() => (live.hub.stats().connections.sse === 0 ? true : undefined));
    const closed = await live.metrics.liveClosed.get();
    expect(closed.values).toEqual([
      expect.objectContaining({ labels: { transport: "sse", reason: "slow-consumer" }, value: 1 }),
    ]);
  });
});
