/** Resume semantics shared by SSE, long-poll and gap fill: retention, resets, paging. */
import { describe, expect, it, vi } from "vitest";
import { encodeCursor, parseCursor, type NotRecovered } from "../core/cursor.js";
import type { PollResponse, StreamsResponse } from "../core/live.js";
import { StreamStoreError } from "../gateway/store/index.js";
import { openRawSse, poll, startLiveServer, useCleanup } from "./helpers/live.js";

describe("resume from a cursor", () => {
  const register = useCleanup();

  it("marks a cursor older than retention as not recovered and says where it resumes, on every transport", async () => {
    const live = await startLiveServer(register, { store: { retention: { maxCount: 10 } } });
    for (let i = 1; i <= 30; i++) await live.publish({ broadcast: true }, { i });
    const token = await live.token("alice");
    const cursor = encodeCursor([
      ["user:alice", 0],
      ["broadcast", 5],
    ]);
    const expected: NotRecovered = { stream: "broadcast", after: 5, resumeAfter: 20, reason: "retention" };

    const sse = await openRawSse(
      new URL(`/api/sse?token=${token}&lastEventId=${cursor}`, live.url).toString(),
    );
    register(sse);
    await sse.until((p) => p.events.some((e) => e.event === "ready"));
    const events = sse.parser.events;
    expect(events[0]!.event).toBe("not-recovered");
    expect(JSON.parse(events[0]!.data)).toEqual(expected);
    expect(Object.fromEntries(parseCursor(events[0]!.id!))).toEqual({ "user:alice": 0, broadcast: 20 });
    expect(sse.parser.frames().map((f) => f.offset)).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);

    const polled = (await poll(live.url, { token, cursor, wait: "0" })).body as unknown as PollResponse;
    expect(polled.notRecovered).toEqual([expected]);
    expect(polled.frames.map((f) => f.offset)).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);

    const res = await fetch(new URL(`/api/streams?token=${token}&cursor=${cursor}`, live.url));
    const filled = (await res.json()) as StreamsResponse;
    expect(filled.notRecovered).toEqual([expected]);
    expect(filled.frames.map((f) => f.offset)).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
    expect(filled.more).toBe(false);
  });

  it("says 'reset' when the cursor is ahead of the store (a restarted memory store) and starts from 0", async () => {
    const live = await startLiveServer(register);
    await live.publish({ broadcast: true }, { after: "restart" });
    const token = await live.token("alice");
    const cursor = encodeCursor([["broadcast", 500]]);
    const polled = (await poll(live.url, { token, cursor, wait: "0" })).body as unknown as PollResponse;
    expect(polled.notRecovered).toEqual([
      { stream: "broadcast", after: 500, resumeAfter: 0, reason: "reset" },
    ]);
    expect(polled.frames.map((f) => f.data)).toEqual([{ after: "restart" }]);
    expect(Object.fromEntries(parseCursor(polled.cursor))).toEqual({ "user:alice": 0, broadcast: 1 });
    const metric = await live.metrics.liveNotRecovered.get();
    expect(metric.values.find((v) => v.labels.reason === "reset")?.value).toBe(1);
  });

  it("pages the gap-fill API and reads every stream of the caller from its oldest frame without a cursor", async () => {
    const live = await startLiveServer(register);
    for (let i = 0; i < 25; i++)
      await live.publish(i % 2 ? { users: ["alice"] } : { groups: ["ops"] }, { i });
    await live.publish({ users: ["bob"] }, { private: true });
    const token = await live.token("alice", ["ops"]);
    const seen: number[] = [];
    let cursor: string | undefined;
    let calls = 0;
    for (;;) {
      const url = new URL("/api/streams", live.url);
      url.searchParams.set("token", token);
      url.searchParams.set("limit", "7");
      if (cursor) url.searchParams.set("cursor", cursor);
      const res = await fetch(url);
      expect(res.status).toBe(200);
      const page = (await res.json()) as StreamsResponse;
      calls++;
      expect(page.frames.length).toBeLessThanOrEqual(7);
      expect(page.notRecovered).toBeUndefined();
      seen.push(...page.frames.map((f) => (f.data as { i: number }).i));
      cursor = page.cursor;
      if (!page.more) break;
      expect(calls).toBeLessThan(10);
    }
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(Object.fromEntries(parseCursor(cursor!))).toEqual({
      "user:alice": 12,
      "group:ops": 13,
      broadcast: 0,
    });
  });

  it("gap-fills only the streams the cursor names", async () => {
    const live = await startLiveServer(register);
    for (let i = 0; i < 6; i++) await live.publish({ users: ["alice"], broadcast: true }, { i });
    const token = await live.token("alice");
    const cursor = encodeCursor([["broadcast", 3]]);
    const res = await fetch(new URL(`/api/streams?token=${token}&cursor=${cursor}`, live.url));
    const page = (await res.json()) as StreamsResponse;
    expect(page.frames.map((f) => [f.stream, f.offset])).toEqual([
      ["broadcast", 4],
      ["broadcast", 5],
      ["broadcast", 6],
    ]);
    expect(page.cursor).toBe(encodeCursor([["broadcast", 6]]));
  });

  it("answers 503 when the store fails before a stream starts, and closes a started one with a reason", async () => {
    const live = await startLiveServer(register);
    const token = await live.token("alice");
    const down = new StreamStoreError("STORE_UNAVAILABLE", "table down");
    const spy = vi.spyOn(live.store, "read").mockRejectedValue(down);
    for (const path of ["/api/sse", "/api/poll", "/api/streams"]) {
      const res = await fetch(new URL(`${path}?token=${token}&wait=0&cursor=b~0`, live.url));
      expect(res.status, path).toBe(503);
      expect(res.headers.get("retry-after")).toBe("5");
      expect(((await res.json()) as { code: string }).code).toBe("HERALD_STORE_UNAVAILABLE");
    }
    spy.mockRestore();

    const sse = await openRawSse(new URL(`/api/sse?token=${token}`, live.url).toString());
    register(sse);
    await sse.until((p) => p.events.some((e) => e.event === "ready"));
    vi.spyOn(live.store, "read").mockRejectedValue(down);
    // A frame ahead of the connection's position: it must fill the gap from the store, which fails.
    const { frames } = await live.store.append({ id: "a", type: "t", data: 1, ts: 1 }, ["broadcast"]);
    const { frames: later } = await live.store.append({ id: "b", type: "t", data: 2, ts: 1 }, ["broadcast"]);
    await live.hub.push(later);
    await live.hub.push(frames);
    await sse.ended;
    expect(sse.parser.events.at(-1)).toMatchObject({
      event: "close",
      data: '{"reason":"store-unavailable"}',
    });
  });
});
