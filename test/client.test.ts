/**
 * The client library under Node against the real stack: Service Bus and Web PubSub emulators and the
 * gateway, with `ws` for WebSocket, the `eventsource` package for EventSource and Node's fetch.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { WebPubSubClient } from "@azure/web-pubsub-client";
import { EventSource } from "eventsource";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { connect, type ConnectOptions, type Herald, type Notification } from "../client/index.js";
import type { WebSocketFactory, EventSourceFactory, StorageLike, TransportName } from "../client/types.js";
import { readSettings } from "../core/config.js";
import { encodeCursor } from "../core/cursor.js";
import type { NegotiateResponse } from "../core/live.js";
import type { Frame } from "../core/streams.js";
import { signDevToken } from "../gateway/auth/tokens.js";
import { startGateway, type Gateway } from "../gateway/index.js";
import { createLogger } from "../gateway/log.js";
import { TEST_JWT_SECRET, TEST_PUBLISH_KEY, startTestStack, type TestStack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

type Events = { "order.shipped": { order: number }; "note.posted": { text: string } };

let stack: TestStack;
let gateway: Gateway;
const open: { close(): unknown }[] = [];

async function gatewayOn(port: number): Promise<Gateway> {
  return startGateway(readSettings({ ...stack.env, HERALD_PORT: String(port) }), {
    log: createLogger({ level: "silent" }),
  });
}

beforeAll(async () => {
  stack = await startTestStack();
  gateway = await gatewayOn(0);
});

afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
});

afterAll(async () => {
  await gateway?.close();
  await stack?.close();
});

let users = 0;
/** A fresh user per test, so streams and connection limits do not mix between tests. */
function newUser(): string {
  return `u${process.pid}-${++users}`;
}

function memoryStorage(): StorageLike & { items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    getItem: (k) => items.get(k) ?? null,
    setItem: (k, v) => void items.set(k, v),
    removeItem: (k) => void items.delete(k),
  };
}

interface Client {
  herald: Herald<Events>;
  seen: Notification[];
  states: string[];
  transports: (TransportName | undefined)[];
  errors: string[];
}

function client(userId: string, options: Partial<ConnectOptions> = {}): Client {
  const herald = connect<Events>({
    gateway: gateway.url,
    token: () => signDevToken(TEST_JWT_SECRET, { userId }),
    WebSocket,
    EventSource,
    fetch,
    storage: null,
    environment: null,
    backoff: { minMs: 100, maxMs: 1000 },
    ...options,
  });
  open.push(herald);
  const c: Client = { herald, seen: [], states: [], transports: [], errors: [] };
  herald.on("*", (n) => c.seen.push(n));
  herald.on("state", (s) => c.states.push(s));
  herald.on("transport", (t) => c.transports.push(t));
  herald.on("error", (e) => c.errors.push(`${e.code}: ${e.message}`));
  return c;
}

async function connected(c: Client, transport: TransportName): Promise<void> {
  await waitFor(() => c.herald.state === "connected" && c.herald.transport === transport, {
    message: `connected over ${transport}`,
    timeoutMs: 20_000,
    onTimeout: async () =>
      `state ${c.herald.state}, transport ${c.herald.transport}, errors ${c.errors.join(" | ")}`,
  });
}

async function publish(body: unknown): Promise<string[]> {
  const res = await fetch(`${gateway.url}/api/notifications`, {
    method: "POST",
    headers: { authorization: `Bearer ${TEST_PUBLISH_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { ids: string[] }).ids;
}

/** A WebSocket that never connects, as when a proxy blocks the upgrade. */
const BlockedWebSocket = class {
  readyState = 0;
  onopen = null;
  onmessage = null;
  onerror: ((e: unknown) => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;
  constructor() {
    setTimeout(() => {
      this.readyState = 3;
      this.onerror?.({});
      this.onclose?.({ code: 1006, reason: "" });
    }, 5);
  }
  send(): void {}
  close(): void {}
} as unknown as WebSocketFactory;

/** An EventSource whose stream fails at once, as when a proxy refuses it. */
const BlockedEventSource = class {
  readyState = 0;
  onerror: ((e: unknown) => void) | null = null;
  constructor() {
    setTimeout(() => {
      this.readyState = 2;
      this.onerror?.({});
    }, 5);
  }
  addEventListener(): void {}
  close(): void {}
} as unknown as EventSourceFactory;

describe("client library against the real stack", () => {
  it.each(["websocket", "sse", "long-polling"] as const)(
    "delivers live notifications over %s, typed, once each",
    async (transport) => {
      const user = newUser();
      const c = client(user, { transports: [transport] });
      const shipped: number[] = [];
      c.herald.on("order.shipped", (n) => shipped.push(n.data.order));
      await connected(c, transport);
      expect(c.states).toEqual(["connected"]);
      const [first] = await publish({ type: "order.shipped", to: { users: [user] }, data: { order: 1 } });
      // To the user and to broadcast: two frames, one notification.
      await publish({
        type: "order.shipped",
        to: { users: [user], broadcast: true },
        data: { order: 2 },
      });
      await publish({ type: "note.posted", to: { users: [user] }, data: { text: "hi" } });
      await waitFor(() => c.seen.length >= 3, { message: "three notifications" });
      expect(shipped).toEqual([1, 2]);
      expect(c.seen[0]).toEqual({
        id: first,
        type: "order.shipped",
        data: { order: 1 },
        ts: expect.any(Number),
      });
      expect(c.seen.map((n) => n.type)).toEqual(["order.shipped", "order.shipped", "note.posted"]);
      expect(new Set(c.seen.map((n) => n.id)).size).toBe(3);
      expect(c.herald.cursor).toMatch(/^u[A-Za-z0-9_-]+~3\./);
      expect(c.herald.userId).toBe(user);
      c.herald.close();
      expect(c.herald.state).toBe("closed");
    },
  );

  it("falls back to SSE when WebSocket is blocked, and remembers it for the gateway", async () => {
    const user = newUser();
    const storage = memoryStorage();
    const c = client(user, { WebSocket: BlockedWebSocket, storage });
    await connected(c, "sse");
    const [id] = await publish({ type: "note.posted", to: { users: [user] }, data: { text: "a" } });
    await waitFor(() => c.seen.length === 1, { message: "the notification over SSE" });
    expect(c.seen[0]!.id).toBe(id);
    const remembered = JSON.parse([...storage.items.values()][0]!) as { name: string; until: number };
    expect(remembered.name).toBe("sse");
    expect(remembered.until).toBeGreaterThan(Date.now());

    // The next "page load" with the same storage goes straight to SSE: the real WebSocket is not tried.
    let webSockets = 0;
    const Counting = class extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        webSockets++;
      }
    };
    const next = client(user, { WebSocket: Counting, storage });
    await connected(next, "sse");
    expect(webSockets).toBe(0);
  });

  it("falls back to long-polling when WebSocket and SSE are blocked", async () => {
    const user = newUser();
    const c = client(user, { WebSocket: BlockedWebSocket, EventSource: BlockedEventSource });
    await connected(c, "long-polling");
    expect(c.states).toEqual(["connected"]);
    const [id] = await publish({ type: "note.posted", to: { users: [user] }, data: { text: "lp" } });
    await waitFor(() => c.seen.length === 1, { message: "the notification over long-polling" });
    expect(c.seen[0]!.id).toBe(id);
  });

  it("skips a transport that opens but never proves itself (SSE body held back by a proxy)", async () => {
    const user = newUser();
    // Opens, then nothing: no `ready` event ever arrives.
    const SilentEventSource = class {
      readyState = 1;
      onerror = null;
      addEventListener(): void {}
      close(): void {}
    } as unknown as EventSourceFactory;
    const c = client(user, {
      transports: ["sse", "long-polling"],
      EventSource: SilentEventSource,
      openTimeoutMs: 500,
    });
    await connected(c, "long-polling");
  });

  it.each(["websocket", "sse", "long-polling"] as const)(
    "sees every notification exactly once when the gateway restarts mid-stream (%s)",
    async (transport) => {
      const user = newUser();
      const c = client(user, { transports: [transport] });
      await connected(c, transport);
      const sent: string[] = [];
      for (let i = 0; i < 5; i++) {
        sent.push(
          ...(await publish({ type: "note.posted", to: { users: [user] }, data: { text: `a${i}` } })),
        );
      }
      await waitFor(() => c.seen.length === 5, { message: "the first five" });
      const port = gateway.port;
      await gateway.close();
      gateway = await gatewayOn(port);
      for (let i = 0; i < 5; i++) {
        sent.push(
          ...(await publish({ type: "note.posted", to: { users: [user] }, data: { text: `b${i}` } })),
        );
      }
      await waitFor(() => c.seen.length >= 10, {
        message: "all ten after the restart",
        timeoutMs: 20_000,
        onTimeout: async () => `${c.seen.length} seen; errors ${c.errors.join(" | ")}`,
      });
      // Give duplicates a chance to show before counting.
      await new Promise((r) => setTimeout(r, 500));
      expect(c.seen.map((n) => n.id).sort()).toEqual([...sent].sort());
    },
  );

  it("the official @azure/web-pubsub-client works with the websocket URL from negotiate", async () => {
    const user = newUser();
    const res = await fetch(`${gateway.url}/api/negotiate`, {
      method: "POST",
      headers: { authorization: `Bearer ${await signDevToken(TEST_JWT_SECRET, { userId: user })}` },
    });
    const negotiated = (await res.json()) as NegotiateResponse;
    const url = negotiated.transports.find((t) => t.name === "websocket")!.url;
    const sdk = new WebPubSubClient(url);
    open.push({ close: () => sdk.stop() });
    const frames: Frame[] = [];
    sdk.on("server-message", (e) => frames.push(e.message.data as Frame));
    await sdk.start();
    const [id] = await publish({ type: "note.posted", to: { users: [user] }, data: { text: "sdk" } });
    await waitFor(() => frames.length === 1, { message: "the SDK to receive the frame" });
    expect(frames[0]).toMatchObject({ id, type: "note.posted", stream: `user:${user}`, offset: 1 });
  });

  it("serves the bundle at /herald.js as a cacheable ES module that connects", async () => {
    const res = await fetch(`${gateway.url}/herald.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("public, max-age=300, must-revalidate");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const etag = res.headers.get("etag")!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const code = await res.text();
    expect(code).not.toMatch(/from\s*["']node:/);
    const again = await fetch(`${gateway.url}/herald.js`, { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);

    const dir = mkdtempSync(join(tmpdir(), "herald-bundle-"));
    open.push({ close: () => rmSync(dir, { recursive: true, force: true }) });
    const file = join(dir, "herald.mjs");
    writeFileSync(file, code);
    const bundle = (await import(pathToFileURL(file).href)) as { connect: typeof connect };
    const user = newUser();
    const herald = bundle.connect({
      gateway: gateway.url,
      token: await signDevToken(TEST_JWT_SECRET, { userId: user }),
      EventSource,
      transports: ["sse"],
      storage: null,
      environment: null,
    });
    open.push(herald);
    const seen: string[] = [];
    herald.on("*", (n) => seen.push(n.id));
    await waitFor(() => herald.state === "connected", { message: "the bundle to connect" });
    const [id] = await publish({ type: "note.posted", to: { users: [user] }, data: { text: "bundle" } });
    await waitFor(() => seen.length === 1, { message: "the bundle to deliver" });
    expect(seen).toEqual([id]);
  });

  it("recovers a dropped WebSocket to the same Web PubSub connection, which replays what was missed", async () => {
    const user = newUser();
    const sockets: WebSocket[] = [];
    const urls: string[] = [];
    const Tracked = class extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        sockets.push(this);
        urls.push(url);
      }
    };
    const c = client(user, { transports: ["websocket"], WebSocket: Tracked });
    await connected(c, "websocket");
    const sent = await publish({ type: "note.posted", to: { users: [user] }, data: { text: "before" } });
    await waitFor(() => c.seen.length === 1, { message: "the first notification" });
    // The TCP connection dies without a close handshake.
    sockets[0]!.terminate();
    for (let i = 0; i < 3; i++) {
      sent.push(
        ...(await publish({ type: "note.posted", to: { users: [user] }, data: { text: `during${i}` } })),
      );
    }
    await waitFor(() => c.seen.length >= 4, {
      message: "the notifications sent during the drop",
      onTimeout: async () =>
        `${c.seen.length} seen; states ${c.states.join(",")}; errors ${c.errors.join(" | ")}`,
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(c.seen.map((n) => n.id)).toEqual(sent);
    expect(urls[1]).toMatch(/awps_connection_id=.+&awps_reconnection_token=/);
    expect(c.states).toEqual(["connected", "reconnecting", "connected"]);
  });

  it.each(["sse", "long-polling"] as const)(
    "raises not-recovered for frames past retention, then continues (%s)",
    async (transport) => {
      // A second gateway with its own memory store and a short retention, on the other subscription.
      const short = await startGateway(
        readSettings({ ...stack.env, HERALD_SUBSCRIPTION: "fanout", HERALD_RETENTION_COUNT: "10" }),
        { log: createLogger({ level: "silent" }) },
      );
      open.push(short);
      const user = newUser();
      const batch = Array.from({ length: 13 }, (_, i) => ({
        type: "note.posted",
        to: { users: [user] },
        data: { i },
      }));
      const ids = await publish(batch);
      expect(ids).toHaveLength(13);
      await waitFor(async () => (await short.store.read(`user:${user}`, 0, 100)).head === 13, {
        message: "the second gateway to store all 13",
      });
      const markers: unknown[] = [];
      const c = client(user, {
        gateway: short.url,
        transports: [transport],
        cursor: encodeCursor([[`user:${user}`, 0]]),
      });
      c.herald.on("not-recovered", (m) => markers.push(m));
      await waitFor(() => c.seen.length === 10, {
        message: "the ten retained notifications",
        onTimeout: async () => `${c.seen.length} seen; errors ${c.errors.join(" | ")}`,
      });
      expect(markers).toEqual([{ stream: `user:${user}`, after: 0, resumeAfter: 3, reason: "retention" }]);
      expect(c.seen.map((n) => n.id)).toEqual(ids.slice(3));
    },
  );
});
