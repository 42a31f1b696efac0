/**
 * connect()'s decisions with fake timers and fake browser APIs: which transport is tried when, backoff
 * between cycles, token refresh, offline pause, gap fill and de-duplication across reconnects. The
 * real transports against the real gateway are tested in test/client.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { NegotiateResponse } from "../core/live.js";
import type { Frame } from "../core/streams.js";
import { connect } from "./connect.js";
import type {
  ConnectOptions,
  Environment,
  EventSourceFactory,
  FetchLike,
  Herald,
  Notification,
  ResponseLike,
  StorageLike,
  WebSocketFactory,
} from "./types.js";

const GW = "https://gw.test";

class FakeSocket {
  readyState = 0;
  sent: unknown[] = [];
  onopen: ((e: unknown) => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;
  onerror: ((e: unknown) => void) | null = null;
  constructor(
    readonly url: string,
    readonly protocol?: string | string[],
  ) {}
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(message: unknown): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  connected(id = "c1"): void {
    this.receive({
      type: "system",
      event: "connected",
      connectionId: id,
      reconnectionToken: `rt-${id}`,
      userId: "alice",
    });
  }
  frame(frame: Frame, sequenceId: number): void {
    this.receive({ type: "message", from: "server", dataType: "json", data: frame, sequenceId });
  }
  drop(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }
  close(): void {
    this.readyState = 3;
  }
}

class FakeEventSource {
  readyState = 0;
  onerror: ((e: unknown) => void) | null = null;
  listeners = new Map<string, (e: { data: string }) => void>();
  closed = false;
  constructor(readonly url: string) {}
  addEventListener(type: string, fn: (e: { data: string }) => void): void {
    this.listeners.set(type, fn);
  }
  emit(type: string, data: unknown): void {
    this.listeners.get(type)?.({ data: JSON.stringify(data) });
  }
  fail(): void {
    this.readyState = 2;
    this.onerror?.({});
  }
  close(): void {
    this.closed = true;
  }
}

function frame(offset: number, id = `n${offset}`, stream = "user:alice"): Frame {
  return { id, type: "note", data: { offset }, stream, offset, ts: 1 };
}

function response(status: number, body: unknown): ResponseLike {
  return { status, ok: status >= 200 && status < 300, headers: { get: () => null }, json: async () => body };
}

interface Harness {
  sockets: FakeSocket[];
  sources: FakeEventSource[];
  calls: string[];
  negotiations: number;
  /** Answers for `/api/streams` and `/api/poll` (default: nothing new). */
  streams: (url: URL) => ResponseLike;
  poll: (url: URL) => ResponseLike | Promise<ResponseLike>;
  negotiate: () => ResponseLike;
  options: ConnectOptions;
  herald?: Herald;
  seen: Notification[];
  states: string[];
  errors: string[];
  storage: StorageLike & { items: Map<string, string> };
  start(extra?: Partial<ConnectOptions>): Herald;
}

function negotiated(expiresInMs = 600_000): NegotiateResponse {
  return {
    userId: "alice",
    groups: [],
    expiresAt: new Date(Date.now() + expiresInMs).toISOString(),
    transports: [
      { name: "websocket", url: "wss://wps.test/client/hubs/herald?access_token=w" },
      { name: "sse", url: `${GW}/api/sse?token=t` },
      { name: "long-polling", url: `${GW}/api/poll?token=t` },
    ],
    streamsUrl: `${GW}/api/streams?token=t`,
  };
}

function harness(): Harness {
  const items = new Map<string, string>();
  const h: Harness = {
    sockets: [],
    sources: [],
    calls: [],
    negotiations: 0,
    seen: [],
    states: [],
    errors: [],
    streams: () => response(200, { frames: [], cursor: "", more: false }),
    poll: () => new Promise<ResponseLike>(() => {}),
    negotiate: () => response(200, negotiated()),
    storage: {
      items,
      getItem: (k) => items.get(k) ?? null,
      setItem: (k, v) => void items.set(k, v),
      removeItem: (k) => void items.delete(k),
    },
    options: undefined as unknown as ConnectOptions,
    start(extra = {}) {
      const herald = connect({ ...h.options, ...extra });
      h.herald = herald;
      herald.on("*", (n) => h.seen.push(n));
      herald.on("state", (s) => h.states.push(s));
      herald.on("error", (e) => h.errors.push(e.code));
      return herald;
    },
  };
  const fetchFake: FetchLike = async (url, init) => {
    const u = new URL(url);
    h.calls.push(`${init?.method ?? "GET"} ${u.pathname}${u.search}`);
    if (u.pathname === "/api/negotiate") {
      h.negotiations++;
      return h.negotiate();
    }
    if (u.pathname === "/api/streams") return h.streams(u);
    if (u.pathname === "/api/poll") return h.poll(u);
    return response(404, { code: "HERALD_NOT_FOUND", message: "no" });
  };
  h.options = {
    gateway: GW,
    token: "app-jwt",
    fetch: fetchFake,
    WebSocket: class extends FakeSocket {
      constructor(url: string, protocol?: string | string[]) {
        super(url, protocol);
        h.sockets.push(this);
      }
    } as unknown as WebSocketFactory,
    EventSource: class extends FakeEventSource {
      constructor(url: string) {
        super(url);
        h.sources.push(this);
      }
    } as unknown as EventSourceFactory,
    storage: h.storage,
    environment: null,
    clock: { random: () => 0 },
    backoff: { minMs: 1000, maxMs: 8000 },
    openTimeoutMs: 5000,
  };
  return h;
}

let h: Harness;
beforeEach(() => {
  vi.useFakeTimers();
  h = harness();
});
afterEach(() => {
  h.herald?.close();
  vi.useRealTimers();
});

const tick = async (ms = 0): Promise<void> => {
  await vi.advanceTimersByTimeAsync(ms);
};

describe("connect: transport choice and fallback", () => {
  it("negotiates with the token, then opens the reliable Web PubSub subprotocol first", async () => {
    const herald = h.start();
    expect(herald.state).toBe("connecting");
    await tick();
    expect(h.calls[0]).toBe("POST /api/negotiate");
    expect(h.sockets).toHaveLength(1);
    expect(h.sockets[0]!.protocol).toBe("json.reliable.webpubsub.azure.v1");
    h.sockets[0]!.open();
    h.sockets[0]!.connected();
    expect(herald.state).toBe("connected");
    expect(herald.transport).toBe("websocket");
    expect(h.states).toEqual(["connected"]);
  });

  it("skips a WebSocket that fails to open, uses SSE, and remembers SSE for the gateway", async () => {
    h.start();
    await tick();
    h.sockets[0]!.drop(1006);
    expect(h.sources).toHaveLength(1);
    h.sources[0]!.emit("ready", { cursor: "uYWxpY2U~4.b~0", streams: ["user:alice", "broadcast"] });
    expect(h.herald!.transport).toBe("sse");
    expect(h.herald!.cursor).toBe("uYWxpY2U~4.b~0");
    const stored = JSON.parse(h.storage.items.get(`herald.transport ${GW}`)!) as {
      name: string;
      until: number;
    };
    expect(stored).toEqual({ name: "sse", until: Date.now() + 600_000 });
  });

  it("skips a WebSocket that opens but never says `connected` within the open timeout", async () => {
    h.start();
    await tick();
    h.sockets[0]!.open();
    await tick(4999);
    expect(h.sources).toHaveLength(0);
    await tick(1);
    expect(h.sources).toHaveLength(1);
    expect(h.sockets[0]!.readyState).toBe(3);
  });

  it("falls to long-polling when SSE fails too; its first poll asks wait=0", async () => {
    let polls = 0;
    h.poll = (u) => {
      polls++;
      if (polls === 1) {
        expect(u.searchParams.get("wait")).toBe("0");
        return response(200, { frames: [], cursor: "uYWxpY2U~2" });
      }
      expect(u.searchParams.get("wait")).toBe("25");
      expect(u.searchParams.get("cursor")).toBe("uYWxpY2U~2");
      return new Promise(() => {});
    };
    h.start();
    await tick();
    h.sockets[0]!.drop();
    h.sources[0]!.fail();
    await tick();
    expect(h.herald!.transport).toBe("long-polling");
    expect(polls).toBe(2);
  });

  it("goes straight to the remembered fallback on the next load, and back to WebSocket once it expires", async () => {
    h.storage.items.set(
      `herald.transport ${GW}`,
      JSON.stringify({ name: "sse", until: Date.now() + 60_000 }),
    );
    h.start();
    await tick();
    expect(h.sockets).toHaveLength(0);
    expect(h.sources).toHaveLength(1);
    h.herald!.close();

    vi.setSystemTime(Date.now() + 60_000);
    h.start();
    await tick();
    expect(h.sockets).toHaveLength(1);
  });

  it("while on a fallback, tries WebSocket again once the remembered choice expires, and switches", async () => {
    h.start();
    await tick();
    h.sockets[0]!.drop(1006);
    h.sources[0]!.emit("ready", { cursor: "uYWxpY2U~4", streams: [] });
    expect(h.herald!.transport).toBe("sse");
    await tick(600_000 - 1);
    expect(h.sockets).toHaveLength(1);
    await tick(1);
    // A trial connection; SSE keeps delivering meanwhile.
    const probe = h.sockets[1]!;
    expect(h.sources[0]!.closed).toBe(false);
    const negotiations = h.negotiations;
    probe.open();
    probe.connected("c2");
    expect(probe.readyState).toBe(3);
    expect(h.sources[0]!.closed).toBe(true);
    await tick();
    expect(h.negotiations).toBe(negotiations + 1);
    const ws = h.sockets[2]!;
    ws.open();
    ws.connected("c3");
    expect(h.herald!.transport).toBe("websocket");
    expect(h.storage.items.size).toBe(0);
  });

  it("a failed trial keeps the fallback remembered for another period", async () => {
    h.start();
    await tick();
    h.sockets[0]!.drop(1006);
    h.sources[0]!.emit("ready", { cursor: "", streams: [] });
    await tick(600_000);
    h.sockets[1]!.drop(1006);
    expect(h.herald!.transport).toBe("sse");
    const stored = JSON.parse(h.storage.items.get(`herald.transport ${GW}`)!) as { until: number };
    expect(stored.until).toBe(Date.now() + 600_000);
    await tick(600_000);
    expect(h.sockets).toHaveLength(3);
  });

  it("after every transport failed: an error event, then a new cycle after the backoff", async () => {
    h.options.transports = ["websocket", "sse"];
    h.start();
    await tick();
    h.sockets[0]!.drop();
    h.sources[0]!.fail();
    expect(h.errors).toEqual(["HERALD_CONNECT_FAILED"]);
    expect(h.negotiations).toBe(1);
    await tick(999);
    expect(h.negotiations).toBe(1);
    await tick(1);
    expect(h.negotiations).toBe(2);
    // Second failure: the range doubles; random() = 0 keeps the minimum.
    h.sockets[1]!.drop();
    h.sources[1]!.fail();
    await tick(1000);
    expect(h.negotiations).toBe(3);
  });

  it("backoff grows with full jitter up to the maximum", async () => {
    h.options.clock = { random: () => 0.999 };
    h.options.transports = ["sse"];
    h.start();
    await tick();
    // min 1000 plus 0.999 of min(max, 1000 * 2^attempt), capped at max 8000.
    for (const delay of [1999, 2998, 4996, 8000, 8000]) {
      const before = h.sources.length;
      h.sources[before - 1]!.fail();
      await tick(delay - 1);
      expect(h.sources).toHaveLength(before);
      await tick(1);
      expect(h.sources).toHaveLength(before + 1);
    }
  });

  it("a refused fixed token closes the client; a token function is called again", async () => {
    h.negotiate = () => response(401, { code: "HERALD_UNAUTHORIZED", message: "expired" });
    h.start();
    await tick();
    expect(h.herald!.state).toBe("closed");
    expect(h.errors).toEqual(["HERALD_UNAUTHORIZED"]);

    let calls = 0;
    h.errors = [];
    h.start({
      token: () => {
        calls++;
        return `jwt-${calls}`;
      },
    });
    await tick();
    expect(h.herald!.state).toBe("connecting");
    h.negotiate = () => response(200, negotiated());
    await tick(1000);
    expect(calls).toBe(2);
    expect(h.sockets.length).toBeGreaterThan(0);
  });

  it("reconnects the same transport after a drop, negotiating again, state reconnecting then connected", async () => {
    h.options.transports = ["sse", "long-polling"];
    h.start();
    await tick();
    h.sources[0]!.emit("ready", { cursor: "uYWxpY2U~1", streams: [] });
    h.sources[0]!.emit("notification", frame(2));
    h.sources[0]!.fail();
    expect(h.herald!.state).toBe("reconnecting");
    await tick(1000);
    expect(h.negotiations).toBe(2);
    expect(h.sources).toHaveLength(2);
    expect(new URL(h.sources[1]!.url).searchParams.get("cursor")).toBe("uYWxpY2U~2");
    h.sources[1]!.emit("ready", { cursor: "uYWxpY2U~2", streams: [] });
    expect(h.states).toEqual(["connected", "reconnecting", "connected"]);
  });

  it("drops an SSE stream that stays silent past two heartbeats (plus a margin) and reconnects", async () => {
    h.options.transports = ["sse"];
    h.start();
    await tick();
    const first = h.sources[0]!;
    first.emit("ready", { cursor: "uYWxpY2U~1", streams: [], heartbeatMs: 15_000 });
    // Heartbeats keep it open well past the silence limit (35 s).
    for (let i = 0; i < 4; i++) {
      await tick(15_000);
      first.emit("heartbeat", {});
    }
    expect(h.herald!.state).toBe("connected");
    expect(first.closed).toBe(false);
    await tick(35_000 - 1);
    expect(h.herald!.state).toBe("connected");
    await tick(1);
    expect(h.herald!.state).toBe("reconnecting");
    expect(first.closed).toBe(true);
    expect(h.errors).toContain("HERALD_CONNECT_FAILED");
    await tick(1000);
    expect(h.sources).toHaveLength(2);
  });

  it("negotiates again before the tokens expire", async () => {
    h.negotiate = () => response(200, negotiated(300_000));
    h.start({ transports: ["sse"] });
    await tick();
    h.sources[0]!.emit("ready", { cursor: "", streams: [] });
    expect(h.negotiations).toBe(1);
    await tick(300_000 - 60_000 - 1);
    expect(h.negotiations).toBe(1);
    await tick(1);
    expect(h.negotiations).toBe(2);
  });

  it("pauses while offline and connects at once when back online; visibility skips a backoff wait", async () => {
    let online = false;
    let notify: (c: "online" | "offline" | "visible" | "hidden") => void = () => {};
    const environment: Environment = {
      isOnline: () => online,
      watch: (fn) => {
        notify = fn;
        return () => {};
      },
    };
    h.start({ environment, transports: ["sse"] });
    await tick(60_000);
    expect(h.negotiations).toBe(0);
    online = true;
    notify("online");
    await tick();
    expect(h.sources).toHaveLength(1);
    h.sources[0]!.emit("ready", { cursor: "", streams: [] });
    notify("offline");
    expect(h.sources[0]!.closed).toBe(true);
    expect(h.herald!.state).toBe("reconnecting");
    notify("online");
    await tick();
    expect(h.sources).toHaveLength(2);
    h.sources[1]!.fail();
    // In the backoff wait: the page becoming visible reconnects now.
    notify("visible");
    await tick();
    expect(h.sources).toHaveLength(3);
  });
});

describe("connect: cursors, gap fill and de-duplication", () => {
  it("a new WebSocket learns its positions from a wait=0 poll, then delivers live frames in order", async () => {
    h.poll = () => response(200, { frames: [], cursor: "uYWxpY2U~3.b~0" });
    h.start();
    await tick();
    const ws = h.sockets[0]!;
    ws.open();
    ws.connected();
    ws.frame(frame(4), 1);
    await tick(0);
    expect(h.calls.some((c) => c.startsWith("GET /api/poll") && c.includes("wait=0"))).toBe(true);
    expect(h.seen.map((n) => n.id)).toEqual(["n4"]);
    ws.frame(frame(6), 2);
    ws.frame(frame(5), 3);
    expect(h.seen.map((n) => n.id)).toEqual(["n4", "n5", "n6"]);
    await tick(600);
    // One cumulative acknowledgement for the three messages.
    expect(ws.sent.filter((m) => (m as { type: string }).type === "sequenceAck")).toEqual([
      { type: "sequenceAck", sequenceId: 3 },
    ]);
  });

  it("fills a gap that stays open past the hold from the streams endpoint", async () => {
    h.options.cursor = "uYWxpY2U~3.b~0";
    const asked: string[] = [];
    h.streams = (u) => {
      asked.push(u.searchParams.get("cursor")!);
      if (u.searchParams.get("cursor") === "uYWxpY2U~4") {
        return response(200, { frames: [frame(5)], cursor: "uYWxpY2U~5", more: false });
      }
      return response(200, { frames: [frame(4)], cursor: "uYWxpY2U~4.b~0", more: false });
    };
    h.start();
    await tick();
    const ws = h.sockets[0]!;
    ws.open();
    ws.connected();
    await tick(0);
    // The catch-up after a new connection read everything after our cursor.
    expect(asked).toEqual(["uYWxpY2U~3.b~0"]);
    expect(h.seen.map((n) => n.id)).toEqual(["n4"]);
    ws.frame(frame(6), 1);
    await tick(299);
    expect(asked).toHaveLength(1);
    await tick(1);
    expect(asked).toEqual(["uYWxpY2U~3.b~0", "uYWxpY2U~4"]);
    expect(h.seen.map((n) => n.id)).toEqual(["n4", "n5", "n6"]);
  });

  it("with a websocket-only negotiate (no gap fill), delivers WebSocket frames and reports gaps", async () => {
    const { streamsUrl: _dropped, ...rest } = negotiated();
    h.negotiate = () =>
      response(200, { ...rest, transports: rest.transports.filter((t) => t.name === "websocket") });
    const markers: unknown[] = [];
    h.start().on("not-recovered", (m) => markers.push(m));
    await tick();
    const ws = h.sockets[0]!;
    ws.open();
    ws.connected();
    ws.frame(frame(4), 1);
    ws.frame(frame(5), 2);
    await tick(300);
    expect(h.seen.map((n) => n.id)).toEqual(["n4", "n5"]);
    ws.frame(frame(8), 3);
    await tick(300);
    expect(h.seen.map((n) => n.id)).toEqual(["n4", "n5", "n8"]);
    expect(markers).toEqual([{ stream: "user:alice", after: 5, resumeAfter: 7, reason: "unavailable" }]);
    expect(h.calls.filter((c) => !c.startsWith("POST /api/negotiate"))).toEqual([]);
    expect(h.herald!.state).toBe("connected");
  });

  it("reports frames the gateway no longer has as a not-recovered event", async () => {
    h.options.cursor = "b~5";
    h.options.transports = ["sse"];
    const markers: unknown[] = [];
    h.start().on("not-recovered", (m) => markers.push(m));
    await tick();
    const marker = { stream: "broadcast", after: 5, resumeAfter: 20, reason: "retention" };
    h.sources[0]!.emit("not-recovered", marker);
    h.sources[0]!.emit("notification", frame(21, "n21", "broadcast"));
    expect(markers).toEqual([marker]);
    expect(h.seen.map((n) => n.id)).toEqual(["n21"]);
    expect(h.herald!.cursor).toBe("b~21");
  });

  it("shows each notification once across a transport switch, a recovery replay and a second stream", async () => {
    h.options.cursor = "uYWxpY2U~0.b~0";
    h.start();
    await tick();
    const ws = h.sockets[0]!;
    ws.open();
    ws.connected();
    await tick(0);
    ws.frame(frame(1, "a"), 1);
    ws.frame(frame(1, "a", "broadcast"), 2);
    // The socket drops; the service replays what was not acknowledged on the recovered connection.
    ws.drop(1006);
    expect(h.herald!.state).toBe("reconnecting");
    await tick(0);
    const recovery = h.sockets[1]!;
    expect(recovery.url).toContain("awps_connection_id=c1");
    expect(recovery.url).toContain("awps_reconnection_token=rt-c1");
    recovery.open();
    expect(h.herald!.state).toBe("reconnecting");
    recovery.frame(frame(1, "a"), 1);
    expect(h.herald!.state).toBe("connected");
    recovery.frame(frame(1, "a", "broadcast"), 2);
    recovery.frame(frame(2, "b"), 3);
    // Refused later (1008): a new cycle; WebSocket fails to open, SSE resumes from our cursor.
    recovery.drop(1008);
    await tick(1000);
    h.sockets[2]!.drop(1006);
    const sse = h.sources[0]!;
    expect(new URL(sse.url).searchParams.get("cursor")).toBe("uYWxpY2U~2.b~1");
    sse.emit("notification", frame(2, "b"));
    sse.emit("notification", frame(3, "c"));
    sse.emit("ready", { cursor: "uYWxpY2U~3.b~1", streams: [] });
    expect(h.seen.map((n) => n.id)).toEqual(["a", "b", "c"]);
  });

  it("a recovery refused with 1008 right after the upgrade never shows as connected", async () => {
    h.options.transports = ["websocket"];
    h.start();
    await tick();
    h.sockets[0]!.open();
    h.sockets[0]!.connected();
    h.sockets[0]!.drop(1006);
    await tick(0);
    h.sockets[1]!.open();
    h.sockets[1]!.drop(1008);
    await tick(500);
    expect(h.states).toEqual(["connected", "reconnecting"]);
    expect(h.herald!.transport).toBeUndefined();
  });

  it("drops a WebSocket that goes silent (no pong) and recovers it", async () => {
    h.start({ pingIntervalMs: 1000 });
    await tick();
    const ws = h.sockets[0]!;
    ws.open();
    ws.connected();
    await tick(1000);
    expect(ws.sent).toContainEqual({ type: "ping" });
    await tick(2000);
    await tick(10);
    expect(h.sockets).toHaveLength(2);
    expect(h.sockets[1]!.url).toContain("awps_reconnection_token=");
  });

  it("routes by type; a notification typed like a client event reaches only '*' listeners", async () => {
    h.options.transports = ["sse"];
    const herald = h.start();
    const notes: string[] = [];
    const states: unknown[] = [];
    herald.on("note", (n) => notes.push(n.id));
    herald.on("state", (s) => states.push(s));
    await tick();
    h.sources[0]!.emit("ready", { cursor: "uYWxpY2U~0", streams: [] });
    h.sources[0]!.emit("notification", frame(1, "a"));
    h.sources[0]!.emit("notification", { ...frame(2, "b"), type: "state" });
    expect(notes).toEqual(["a"]);
    expect(states).toEqual(["connected"]);
    expect(h.seen.map((n) => [n.id, n.type])).toEqual([
      ["a", "note"],
      ["b", "state"],
    ]);
  });

  it("does not spin when a poll that should wait comes back empty at once", async () => {
    let polls = 0;
    h.poll = () => {
      polls++;
      return response(200, { frames: [], cursor: "uYWxpY2U~0" });
    };
    h.start({ transports: ["long-polling"] });
    await tick();
    expect(polls).toBe(2);
    await tick(999);
    expect(polls).toBe(2);
    await tick(1);
    expect(polls).toBe(3);
  });

  it("calls injected functions unbound, as a browser's fetch and timers require", async () => {
    const strict = <A extends unknown[], R>(fn: (...args: A) => R) =>
      function (this: unknown, ...args: A): R {
        if (this !== undefined) throw new TypeError("Illegal invocation");
        return fn(...args);
      };
    const realFetch = h.options.fetch!;
    h.start({
      transports: ["long-polling"],
      fetch: strict(realFetch),
      clock: {
        setTimeout: strict((fn: () => void, ms: number) => setTimeout(fn, ms)),
        clearTimeout: strict((t: unknown) => clearTimeout(t as ReturnType<typeof setTimeout>)),
        now: strict(() => Date.now()),
        random: strict(() => 0),
      },
    });
    let polls = 0;
    h.poll = () =>
      ++polls === 1 ? response(200, { frames: [], cursor: "uYWxpY2U~0" }) : new Promise(() => {});
    await tick();
    expect(h.errors).toEqual([]);
    expect(h.herald!.transport).toBe("long-polling");
  });

  it("types listeners from the event map (checked by tsc)", () => {
    const herald = connect<{ "order.shipped": { orderId: number }; "chat.message": { text: string } }>({
      ...h.options,
      transports: ["sse"],
    });
    herald.on("order.shipped", (n) => {
      const id: number = n.data.orderId;
      const type: "order.shipped" = n.type;
      void [id, type];
    });
    // @ts-expect-error: an order.shipped notification has no `text`
    herald.on("order.shipped", (n) => n.data.text);
    herald.on("*", (n) => {
      const value: number | string = n.type === "chat.message" ? n.data.text : n.data.orderId;
      void value;
    });
    herald.on("state", (s) => {
      const state: "connecting" | "connected" | "reconnecting" | "closed" = s;
      void state;
    });
    herald.close();
    expect(herald.state).toBe("closed");
  });

  it("close() ends everything; no event afterwards", async () => {
    h.start();
    await tick();
    h.sockets[0]!.open();
    h.sockets[0]!.connected();
    h.herald!.close();
    expect(h.herald!.state).toBe("closed");
    expect(h.sockets[0]!.readyState).toBe(3);
    await tick(120_000);
    expect(h.negotiations).toBe(1);
    expect(h.states).toEqual(["connected", "closed"]);
  });
});
