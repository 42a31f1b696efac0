/**
 * SSE over real sockets: a raw node:http reader and the `eventsource` package (a WHATWG-conformant
 * client) against `startHttpServer(liveRoutes(...))` with a real MemoryStreamStore and LiveHub.
 */
import { EventSource } from "eventsource";
import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { readSettings } from "../core/config.js";
import { encodeCursor, parseCursor } from "../core/cursor.js";
import type { NotificationTarget } from "../core/notification.js";
import type { Frame } from "../core/streams.js";
import { createTokenVerifier } from "../gateway/auth/tokens.js";
import { startLive } from "../gateway/live/index.js";
import { MemoryStreamStore } from "../gateway/store/index.js";
import { APP_SECRET, openRawSse, startLiveServer, useCleanup, waitFor } from "./helpers/live.js";

function sseUrl(base: string, token: string, extra: Record<string, string> = {}): string {
  const url = new URL("/api/sse", base);
  url.searchParams.set("token", token);
  for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v);
  return url.toString();
}

interface EsFrames {
  es: EventSource;
  frames: Frame[];
  ids: string[];
  events: string[];
  errors: number;
}

/** An `eventsource` client collecting notification frames and the ids it saw. */
function openEventSource(url: string, register: (c: { close(): void }) => void): EsFrames {
  const es = new EventSource(url);
  register(es);
  const out: EsFrames = { es, frames: [], ids: [], events: [], errors: 0 };
  es.addEventListener("notification", (e) => {
    out.frames.push(JSON.parse(e.data as string) as Frame);
    out.ids.push(e.lastEventId);
    out.events.push("notification");
  });
  for (const name of ["ready", "not-recovered", "close"])
    es.addEventListener(name, () => out.events.push(name));
  es.addEventListener("error", () => out.errors++);
  return out;
}

function expectExactlyOnceInOrder(frames: Frame[], stream: string, from: number, to: number): void {
  const offsets = frames.filter((f) => f.stream === stream).map((f) => f.offset);
  expect(offsets).toEqual(Array.from({ length: to - from + 1 }, (_, i) => from + i));
}

describe("SSE transport", () => {
  const register = useCleanup();

  it("streams the caller's frames as id/event/data with headers that stop proxy buffering", async () => {
    const live = await startLiveServer(register);
    const sse = await openRawSse(sseUrl(live.url, await live.token("alice", ["ops"])));
    register(sse);
    expect(sse.response.statusCode).toBe(200);
    expect(sse.response.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    expect(sse.response.headers["cache-control"]).toBe("no-cache, no-transform");
    expect(sse.response.headers["x-accel-buffering"]).toBe("no");
    await sse.until((p) => p.events.some((e) => e.event === "ready"));
    expect(sse.parser.retry).toBe(50);
    const ready = JSON.parse(sse.parser.events[0]!.data) as { cursor: string; streams: string[] };
    expect(ready.streams).toEqual(["user:alice", "group:ops", "broadcast"]);
    expect(sse.parser.events[0]!.id).toBe(ready.cursor);

    await live.publish({ users: ["alice"] }, { n: 1 });
    await live.publish({ users: ["bob"] }, { n: 2 });
    await live.publish({ groups: ["ops"] }, { n: 3 });
    await live.publish({ groups: ["dev"] }, { n: 4 });
    await live.publish({ broadcast: true }, { n: 5 });
    await sse.until((p) => p.frames().length === 3);
    const notes = sse.parser.events.filter((e) => e.event === "notification");
    expect(notes.map((e) => (JSON.parse(e.data) as Frame).data)).toEqual([{ n: 1 }, { n: 3 }, { n: 5 }]);
    const frame = JSON.parse(notes[0]!.data) as Frame;
    expect(Object.keys(frame).sort()).toEqual(["data", "id", "offset", "stream", "ts", "type"]);
    // Each id is the composite cursor after that frame.
    expect(Object.fromEntries(parseCursor(notes[2]!.id!))).toEqual({
      "user:alice": 1,
      "group:ops": 1,
      broadcast: 1,
    });
    expect(Object.fromEntries(parseCursor(notes[0]!.id!))).toEqual({
      "user:alice": 1,
      "group:ops": 0,
      broadcast: 0,
    });
  });

  it("is read by the eventsource package, which exposes the cursor as lastEventId", async () => {
    const live = await startLiveServer(register);
    const client = openEventSource(sseUrl(live.url, await live.token("alice")), register);
    await waitFor(() => (client.events.includes("ready") ? true : undefined));
    await live.publish({ users: ["alice"] }, { hello: "wörld\nline 2" });
    await live.publish({ broadcast: true }, "plain");
    await waitFor(() => (client.frames.length === 2 ? true : undefined));
    expect(client.frames.map((f) => f.data)).toEqual([{ hello: "wörld\nline 2" }, "plain"]);
    expect(Object.fromEntries(parseCursor(client.ids[1]!))).toEqual({ "user:alice": 1, broadcast: 1 });
  });

  it("resumes with Last-Event-ID after the server drops the connection, without loss or repeat", async () => {
    const live = await startLiveServer(register, { hub: { retryMs: 200 } });
    const client = openEventSource(sseUrl(live.url, await live.token("alice")), register);
    await waitFor(() => (client.events.includes("ready") ? true : undefined));
    for (let i = 0; i < 20; i++) await live.publish({ broadcast: true }, { i });
    await waitFor(() => (client.frames.length === 20 ? true : undefined));

    live.http.server.closeAllConnections();
    await waitFor(() => (live.hub.stats().connections.sse === 0 ? true : undefined));
    // Published while the client waits out `retry:`; it reconnects with the Last-Event-ID header.
    for (let i = 20; i < 50; i++) await live.publish({ broadcast: true }, { i });
    await waitFor(() =>
      client.frames.length >= 50 && live.hub.stats().connections.sse === 1 ? true : undefined,
    );
    for (let i = 50; i < 60; i++) await live.publish({ broadcast: true }, { i });
    await waitFor(() => (client.frames.length >= 60 ? true : undefined));
    expect(client.errors).toBeGreaterThanOrEqual(1);
    expectExactlyOnceInOrder(client.frames, "broadcast", 1, 60);
    expect(client.frames.map((f) => (f.data as { i: number }).i)).toEqual(
      Array.from({ length: 60 }, (_, i) => i),
    );
  });

  it("delivers 1,000 notifications published while the client was away exactly once", async () => {
    const live = await startLiveServer(register);
    const token = await live.token("alice", ["ops"]);
    const first = openEventSource(sseUrl(live.url, token), register);
    await waitFor(() => (first.events.includes("ready") ? true : undefined));
    await live.publish({ users: ["alice"] }, { before: true });
    await waitFor(() => (first.frames.length === 1 ? true : undefined));
    const lastEventId = first.ids.at(-1)!;
    first.es.close();
    await waitFor(() => (live.hub.stats().connections.sse === 0 ? true : undefined));

    for (let i = 0; i < 1000; i++) {
      const to: NotificationTarget =
        i % 3 === 0 ? { users: ["alice"] } : i % 3 === 1 ? { groups: ["ops"] } : { broadcast: true };
      await live.publish(to, { i });
    }
    const second = openEventSource(sseUrl(live.url, token, { lastEventId }), register);
    await waitFor(() => (second.events.includes("ready") ? true : undefined));
    expect(second.frames).toHaveLength(1000);
    expect(new Set(second.frames.map((f) => f.id)).size).toBe(1000);
    expect(second.frames.map((f) => (f.data as { i: number }).i).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 1000 }, (_, i) => i),
    );
    expectExactlyOnceInOrder(second.frames, "user:alice", 2, 335);
    expectExactlyOnceInOrder(second.frames, "group:ops", 1, 333);
    expectExactlyOnceInOrder(second.frames, "broadcast", 1, 333);
    // Replay first, then "ready", then live.
    expect(second.events.indexOf("ready")).toBe(1000);
    await live.publish({ broadcast: true }, { after: true });
    await waitFor(() => (second.frames.length === 1001 ? true : undefined));
    expect(second.frames.at(-1)!.offset).toBe(334);
  });

  it("frames every event in one HTTP/1.1 chunk on the raw socket, and writes plain bytes to HTTP/1.0", async () => {
    const live = await startLiveServer(register);
    const token = await live.token("alice");
    for (const version of ["1.1", "1.0"]) {
      const socket = connect(live.http.port, "127.0.0.1");
      register({ close: () => socket.destroy() });
      let raw = "";
      socket.setEncoding("latin1");
      socket.on("data", (d: string) => (raw += d));
      socket.write(`GET /api/sse?token=${token} HTTP/${version}\r\nHost: 127.0.0.1\r\n\r\n`);
      await waitFor(() => (raw.includes("event: ready") ? true : undefined));
      await live.publish({ broadcast: true }, { v: version });
      await waitFor(() => (raw.includes(`"v":"${version}"`) ? true : undefined));
      const body = raw.slice(raw.indexOf("\r\n\r\n") + 4);
      if (version === "1.1") {
        expect(raw).toMatch(/\r\ntransfer-encoding: chunked\r\n/i);
        // Decode the chunks by hand: every size must match its payload exactly.
        let rest = body;
        let text = "";
        for (;;) {
          const m = /^([0-9a-f]+)\r\n/.exec(rest);
          if (!m) break;
          const size = parseInt(m[1]!, 16);
          const start = m[0].length;
          text += rest.slice(start, start + size);
          expect(rest.slice(start + size, start + size + 2)).toBe("\r\n");
          rest = rest.slice(start + size + 2);
        }
        expect(rest).toBe("");
        expect(text).toMatch(/^retry: 50\n: herald\n\n/);
        expect(text).toMatch(
          /\nid: uYWxpY2U~0\.b~1\nevent: notification\ndata: \{"id":"[^"]+","type":"test\.note","data":\{"v":"1\.1"\},"stream":"broadcast","offset":1,"ts":\d+\}\n\n$/,
        );
      } else {
        expect(raw).not.toMatch(/transfer-encoding/i);
        expect(body).toMatch(/^retry: 50\n: herald\n\n/);
        expect(body).toMatch(/\nid: uYWxpY2U~0\.b~2\nevent: notification\n/);
      }
      socket.destroy();
    }
  });

  it("resumes from a Last-Event-ID request header (raw HTTP), which wins over the lastEventId query", async () => {
    const live = await startLiveServer(register);
    const token = await live.token("alice");
    for (let i = 1; i <= 6; i++) await live.publish({ broadcast: true }, { i });
    const header = encodeCursor([
      ["user:alice", 0],
      ["broadcast", 4],
    ]);
    const query = encodeCursor([
      ["user:alice", 0],
      ["broadcast", 1],
    ]);
    const sse = await openRawSse(sseUrl(live.url, token, { lastEventId: query }), {
      "last-event-id": header,
    });
    register(sse);
    await sse.until((p) => p.events.some((e) => e.event === "ready"));
    expect(sse.parser.frames().map((f) => f.offset)).toEqual([5, 6]);
    // The query alone is used when there is no header.
    const byQuery = await openRawSse(sseUrl(live.url, token, { lastEventId: query }));
    register(byQuery);
    await byQuery.until((p) => p.events.some((e) => e.event === "ready"));
    expect(byQuery.parser.frames().map((f) => f.offset)).toEqual([2, 3, 4, 5, 6]);
  });

  it("takes the heartbeat, retry and limits from the settings (heartbeat 15 s by default)", async () => {
    const verifier = createTokenVerifier({ secret: APP_SECRET });
    const store = new MemoryStreamStore({ sweepIntervalMs: 0 });
    register(store);
    const byDefault = await startLive({ settings: readSettings({}), store, verifier });
    register(byDefault);
    expect(byDefault.hub.heartbeatMs).toBe(15_000);
    expect(byDefault.hub.retryMs).toBe(3000);
    const tuned = await startLive({
      settings: readSettings({
        HERALD_SSE_HEARTBEAT_SECONDS: "40",
        HERALD_MAX_CONNECTIONS: "7",
        HERALD_MAX_CONNECTIONS_PER_USER: "3",
        HERALD_CONNECTION_BUFFER_BYTES: "20000",
      }),
      store,
      verifier,
    });
    register(tuned);
    expect(tuned.hub).toMatchObject({
      heartbeatMs: 40_000,
      maxConnections: 7,
      maxConnectionsPerUser: 3,
      bufferBytes: 20_000,
    });
  });

  it("sends heartbeats: a comment for proxies and a heartbeat event, at the interval ready names", async () => {
    const live = await startLiveServer(register, { hub: { heartbeatMs: 30 } });
    const sse = await openRawSse(sseUrl(live.url, await live.token("alice")));
    register(sse);
    // The first comment is the greeting; more come only from the heartbeat timer.
    await sse.until((p) => p.comments >= 3 && p.events.filter((e) => e.event === "heartbeat").length >= 2);
    const ready = sse.parser.events.find((e) => e.event === "ready");
    expect((JSON.parse(ready!.data) as { heartbeatMs: number }).heartbeatMs).toBe(30);
    expect(sse.parser.events.find((e) => e.event === "heartbeat")!.data).toBe("{}");
    expect(sse.parser.events.filter((e) => e.event === "notification")).toHaveLength(0);
  });
});
