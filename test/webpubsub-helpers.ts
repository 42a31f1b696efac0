/**
 * Helpers for the Web PubSub emulator tests: start the emulator (closed after each test), the
 * official SDK clients, raw `ws` clients that record every frame, and a TCP proxy that can drop
 * or stall connections like a bad network would.
 */
import { createServer, connect, type Server, type Socket } from "node:net";
import { afterEach } from "vitest";
import WebSocket from "ws";
import { WebPubSubServiceClient } from "@azure/web-pubsub";
import { WebPubSubClient, type WebPubSubClientOptions } from "@azure/web-pubsub-client";
import {
  startWebPubSubEmulator,
  type WebPubSubEmulator,
  type WebPubSubEmulatorOptions,
} from "../emulator/webpubsub/index.js";

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  const list = cleanups.splice(0).reverse();
  for (const c of list) await c();
});

/** Registers something to undo after the current test (last registered runs first). */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

export async function startEmulator(options: WebPubSubEmulatorOptions = {}): Promise<WebPubSubEmulator> {
  const emulator = await startWebPubSubEmulator({ port: 0, host: "127.0.0.1", ...options });
  onCleanup(() => emulator.close());
  return emulator;
}

export function serviceClient(emulator: WebPubSubEmulator, hub = "herald"): WebPubSubServiceClient {
  return new WebPubSubServiceClient(emulator.connectionString, hub, { allowInsecureConnection: true });
}

export interface SdkClient {
  client: WebPubSubClient;
  events: { type: string; payload: unknown }[];
  serverMessages: unknown[];
  groupMessages: { group: string; data: unknown; fromUserId?: string }[];
}

/** A started `WebPubSubClient` recording its events; stopped after the test. */
export async function sdkClient(url: string, options: WebPubSubClientOptions = {}): Promise<SdkClient> {
  const client = new WebPubSubClient(url, { messageRetryOptions: { maxRetries: 0 }, ...options });
  const rec: SdkClient = { client, events: [], serverMessages: [], groupMessages: [] };
  client.on("connected", (e) => rec.events.push({ type: "connected", payload: e }));
  client.on("disconnected", (e) => rec.events.push({ type: "disconnected", payload: e }));
  client.on("stopped", (e) => rec.events.push({ type: "stopped", payload: e }));
  client.on("server-message", (e) => rec.serverMessages.push(e.message.data));
  client.on("group-message", (e) =>
    rec.groupMessages.push({
      group: e.message.group,
      data: e.message.data,
      ...(e.message.fromUserId ? { fromUserId: e.message.fromUserId } : {}),
    }),
  );
  onCleanup(() => client.stop());
  await client.start();
  await waitFor(() => rec.events.some((e) => e.type === "connected"), "connected event");
  return rec;
}

export interface RawClient {
  ws: WebSocket;
  /** Text frames parsed as JSON (JSON subprotocols) or raw payloads. */
  frames: { binary: boolean; text: string; data: Buffer }[];
  json(): Record<string, unknown>[];
  pings: number;
  closed: Promise<{ code: number; reason: string }>;
  send(value: unknown): void;
}

/** A `ws` client that records frames; closed after the test. */
export function rawClient(url: string, protocols?: string | string[]): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false });
    const rec: RawClient = {
      ws,
      frames: [],
      json: () =>
        rec.frames.filter((f) => !f.binary).map((f) => JSON.parse(f.text) as Record<string, unknown>),
      pings: 0,
      closed: new Promise((r) => ws.once("close", (code, reason) => r({ code, reason: reason.toString() }))),
      send: (value) => ws.send(typeof value === "string" ? value : JSON.stringify(value)),
    };
    ws.on("message", (data, isBinary) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
      rec.frames.push({ binary: isBinary, text: isBinary ? "" : buf.toString("utf8"), data: buf });
    });
    ws.on("ping", () => rec.pings++);
    ws.once("open", () => resolve(rec));
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () =>
        reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })),
      );
    });
    ws.once("error", reject);
    onCleanup(() => {
      if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
    });
  });
}

/** Resolves once `predicate` holds; polls every 10 ms, fails after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The same client URL, but through `port` (a proxy); the token's audience names the hub path only. */
export function viaPort(url: string, port: number): string {
  const u = new URL(url);
  u.port = String(port);
  return u.toString();
}

export interface Proxy {
  port: number;
  /** Destroys every proxied connection (both sides), like a network drop. */
  dropAll(): void;
  /** Stops reading from the server side, so the emulator's writes back up. */
  stall(): void;
  connections(): number;
}

/** A loopback TCP proxy to `targetPort`, closed after the test. */
export async function startProxy(targetPort: number): Promise<Proxy> {
  const pairs = new Set<[Socket, Socket]>();
  let stalled = false;
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    if (stalled) upstream.pause();
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  const proxy: Proxy = {
    port: typeof address === "object" && address !== null ? address.port : 0,
    dropAll() {
      for (const [a, b] of [...pairs]) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
    },
    stall() {
      stalled = true;
      for (const [client, upstream] of pairs) {
        upstream.unpipe(client);
        upstream.pause();
      }
    },
    connections: () => pairs.size,
  };
  onCleanup(async () => {
    proxy.dropAll();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return proxy;
}
