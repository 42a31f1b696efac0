/** Long-polling with fetch against a real server: waiting, waking, conflicts, limits, switching from SSE. */
import { EventSource } from "eventsource";
import { describe, expect, it } from "vitest";
import { parseCursor } from "../core/cursor.js";
import type { PollResponse } from "../core/live.js";
import type { Frame } from "../core/streams.js";
import { openRawSse, poll, startLiveServer, useCleanup, waitFor } from "./helpers/live.js";

function asPoll(body: Record<string, unknown>): PollResponse {
  return body as unknown as PollResponse;
}

describe("long-poll transport", () => {
  const register = useCleanup();

  it("answers wait=0 at once with the cursor at the head, then only what follows it", async () => {
    const live = await startLiveServer(register);
    await live.publish({ broadcast: true }, { old: true });
    const token = await live.token("alice");
    // Nothing to answer: wait=0 must not hold the request for the default 25 s (a generous bound, far
    // below that default and the test timeout).
    const first = await poll(live.url, { token, wait: "0" }, { signal: AbortSignal.timeout(10_000) });
    expect(first.status).toBe(200);
    expect(first.headers.get("cache-control")).toBe("no-store");
    const body = asPoll(first.body);
    expect(body.frames).toEqual([]);
    expect(Object.fromEntries(parseCursor(body.cursor))).toEqual({ "user:alice": 0, broadcast: 1 });

    await live.publish({ users: ["alice"] }, { n: 1 });
    await live.publish({ broadcast: true }, { n: 2 });
    const second = asPoll((await poll(live.url, { token, wait: "0", cursor: body.cursor })).body);
    expect(second.frames.map((f) => f.data)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(Object.fromEntries(parseCursor(second.cursor))).toEqual({ "user:alice": 1, broadcast: 2 });
  });

  it("holds the request until a frame arrives, and answers empty after `wait`", async () => {
    const live = await startLiveServer(register);
    const token = await live.token("alice", ["ops"]);
    const { cursor } = asPoll((await poll(live.url, { token, wait: "0" })).body);

    const pending = poll(live.url, { token, cursor, wait: "20" });
    await waitFor(() => (live.hub.stats().connections["long-polling"] === 1 ? true : undefined));
    expect(live.metrics.registry.getSingleMetric("herald_connections")).toBeDefined();
    const gauge = await live.metrics.connections.get();
    expect(gauge.values.find((v) => v.labels.transport === "long-polling")?.value).toBe(1);
    await live.publish({ groups: ["ops"] }, { woke: true });
    const woke = asPoll((await pending).body);
    expect(woke.frames.map((f) => f.data)).toEqual([{ woke: true }]);
    await waitFor(() => (live.hub.stats().connections["long-polling"] === 0 ? true : undefined));

    const asked = performance.now();
    const empty = await poll(live.url, { token, cursor: woke.cursor, wait: "1" });
    expect(asPoll(empty.body)).toEqual({ frames: [], cursor: woke.cursor });
    // Held for `wait` (a lower bound: contention only makes it longer), not answered at once.
    expect(performance.now() - asked).toBeGreaterThanOrEqual(900);
  });

  it("rejects a second poll of the same connection while one is open (409), and frees it when the client aborts", async () => {
    const live = await startLiveServer(register);
    const token = await live.token("alice");
    const abort = new AbortController();
    const first = poll(live.url, { token, wait: "30" }, { signal: abort.signal }).catch((e: unknown) => e);
    await waitFor(() => (live.hub.stats().connections["long-polling"] === 1 ? true : undefined));
    const second = await poll(live.url, { token, wait: "0" });
    expect(second.status).toBe(409);
    expect(second.body.code).toBe("HERALD_CONFLICT");
    // Another connection of the same user (a new negotiate) may poll.
    const other = await poll(live.url, { token: await live.token("alice"), wait: "0" });
    expect(other.status).toBe(200);

    abort.abort();
    expect(await first).toBeInstanceOf(Error);
    await waitFor(() => (live.hub.stats().connections["long-polling"] === 0 ? true : undefined));
    expect((await poll(live.url, { token, wait: "0" })).status).toBe(200);
  });

  it("switches from SSE to long-poll mid-stream with the same cursor, losing and repeating nothing", async () => {
    const live = await startLiveServer(register);
    const token = await live.token("alice", ["ops"]);
    const es = new EventSource(new URL(`/api/sse?token=${token}`, live.url));
    register(es);
    const sseFrames: Frame[] = [];
    let lastEventId = "";
    es.addEventListener("notification", (e) => {
      sseFrames.push(JSON.parse(e.data as string) as Frame);
      lastEventId = e.lastEventId;
    });
    let ready = false;
    es.addEventListener("ready", () => (ready = true));
    await waitFor(() => (ready ? true : undefined));
    for (let i = 0; i < 30; i++)
      await live.publish(i % 2 ? { groups: ["ops"] } : { users: ["alice"] }, { i });
    await waitFor(() => (sseFrames.length === 30 ? true : undefined));
    es.close();

    for (let i = 30; i < 60; i++)
      await live.publish(i % 2 ? { groups: ["ops"] } : { broadcast: true }, { i });
    const polled: Frame[] = [];
    let cursor = lastEventId;
    const answer = asPoll((await poll(live.url, { token, cursor, wait: "5" })).body);
    polled.push(...answer.frames);
    cursor = answer.cursor;
    const waiting = poll(live.url, { token, cursor, wait: "20" });
    await waitFor(() => (live.hub.stats().connections["long-polling"] === 1 ? true : undefined));
    await live.publish({ users: ["alice"] }, { i: 60 });
    polled.push(...asPoll((await waiting).body).frames);

    const all = [...sseFrames, ...polled];
    // Every notification exactly once; within each stream in offset order (across streams a replay goes
    // stream by stream).
    expect(all.map((f) => (f.data as { i: number }).i).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 61 }, (_, i) => i),
    );
    for (const stream of ["user:alice", "group:ops", "broadcast"]) {
      const offsets = all.filter((f) => f.stream === stream).map((f) => f.offset);
      expect(offsets).toEqual(Array.from({ length: offsets.length }, (_, i) => i + 1));
    }
  });

  it("caps one answer and continues from its cursor", async () => {
    const live = await startLiveServer(register);
    const token = await live.token("alice");
    const { cursor } = asPoll((await poll(live.url, { token, wait: "0" })).body);
    for (let i = 0; i < 1600; i++) await live.publish({ broadcast: true }, { i });
    const first = asPoll((await poll(live.url, { token, cursor, wait: "0" })).body);
    expect(first.frames.length).toBeGreaterThanOrEqual(1000);
    expect(first.frames.length).toBeLessThan(1600);
    const second = asPoll((await poll(live.url, { token, cursor: first.cursor, wait: "0" })).body);
    expect([...first.frames, ...second.frames].map((f) => f.offset)).toEqual(
      Array.from({ length: 1600 }, (_, i) => i + 1),
    );
  });

  it("answers open polls and ends SSE streams with a reason when the hub shuts down", async () => {
    const live = await startLiveServer(register);
    const token = await live.token("alice");
    const pending = poll(live.url, { token, wait: "30" });
    const sse = await openRawSse(new URL(`/api/sse?token=${token}`, live.url).toString());
    register(sse);
    await sse.until((p) => p.events.some((e) => e.event === "ready"));
    await waitFor(() => (live.hub.stats().connections["long-polling"] === 1 ? true : undefined));
    await live.hub.close();
    const answer = asPoll((await pending).body);
    expect(answer.closed).toBe("shutdown");
    await sse.ended;
    expect(sse.parser.events.at(-1)).toMatchObject({ event: "close", data: '{"reason":"shutdown"}' });
    const refused = await poll(live.url, { token, wait: "0" });
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe("HERALD_SHUTTING_DOWN");
    expect(refused.headers.get("retry-after")).toBe("5");
  });
});
