/**
 * Helpers for the live-transport tests: a real HTTP server built from `liveRoutes` on port 0 with a real
 * `MemoryStreamStore` and `LiveHub`, a consumer stand-in (append to the store, then push to the hub),
 * and small SSE/poll clients over real sockets.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { afterEach } from "vitest";
import type { NotificationTarget } from "../../core/notification.js";
import { streamsFor, type Frame } from "../../core/streams.js";
import { createTokenVerifier, signDevToken } from "../../gateway/auth/tokens.js";
import type { WebPubSubUrlFunction } from "../../gateway/handlers/negotiate.js";
import { startHttpServer, type RunningHttpServer } from "../../gateway/http/server.js";
import { LiveHub, type LiveHubOptions } from "../../gateway/live/hub.js";
import { liveRoutes } from "../../gateway/live/routes.js";
import { GatewayTokens } from "../../gateway/live/tokens.js";
import { createLogger } from "../../gateway/log.js";
import { GatewayMetrics } from "../../gateway/metrics.js";
import { MemoryStreamStore, type MemoryStreamStoreOptions } from "../../gateway/store/index.js";

export const APP_SECRET = "test-application-secret-0123456789abcdef";

type Closable = { close(): unknown };

/** Closes everything registered during a test, last first. */
export function useCleanup(): (c: Closable) => void {
  const items: Closable[] = [];
  afterEach(async () => {
    for (const c of items.splice(0).reverse()) await Promise.resolve(c.close()).catch(() => {});
  });
  return (c) => {
    items.push(c);
  };
}

export interface LiveServer {
  url: string;
  http: RunningHttpServer;
  hub: LiveHub;
  store: MemoryStreamStore;
  tokens: GatewayTokens;
  metrics: GatewayMetrics;
  /** What the consumer does: append to the store, then push the frames to the hub. */
  publish(to: NotificationTarget, data?: unknown, type?: string): Promise<Frame[]>;
  /** A gateway token for a user, as negotiate would sign it. */
  token(userId: string, groups?: string[]): Promise<string>;
  /** An application JWT for negotiate. */
  appToken(userId: string, groups?: string[]): Promise<string>;
}

export interface LiveServerOptions {
  hub?: Omit<LiveHubOptions, "store" | "metrics" | "log">;
  store?: MemoryStreamStoreOptions;
  allowedOrigins?: string[];
  publicUrl?: string;
  webPubSubUrl?: WebPubSubUrlFunction;
  tokenTtlSeconds?: number;
  /** HERALD_GATEWAY_TOKEN_SECRET; default: a random key. */
  tokenSecret?: string;
}

let counter = 0;

export async function startLiveServer(
  register: (c: Closable) => void,
  options: LiveServerOptions = {},
): Promise<LiveServer> {
  const log = createLogger({ level: "silent" });
  const metrics = new GatewayMetrics({ defaultMetrics: false });
  const store = new MemoryStreamStore({ sweepIntervalMs: 0, ...options.store });
  register(store);
  const hub = new LiveHub({ store, metrics, log, retryMs: 50, ...options.hub });
  const tokens = new GatewayTokens({
    ttlSeconds: options.tokenTtlSeconds ?? 600,
    secret: options.tokenSecret,
  });
  const verifier = createTokenVerifier({ secret: APP_SECRET });
  const http = await startHttpServer({
    host: "127.0.0.1",
    port: 0,
    log,
    routes: liveRoutes({
      hub,
      tokens,
      verifier,
      webPubSubUrl: options.webPubSubUrl,
      allowedOrigins: options.allowedOrigins,
      publicUrl: options.publicUrl,
      log,
    }),
  });
  // The hub first: open SSE responses would keep the server from closing.
  register({ close: () => http.close() });
  register(hub);
  return {
    url: http.url,
    http,
    hub,
    store,
    tokens,
    metrics,
    async publish(to, data = {}, type = "test.note") {
      const id = `n-${process.pid}-${++counter}`;
      const { frames } = await store.append({ id, type, data, ts: Date.now() }, streamsFor(to));
      await hub.push(frames);
      return frames;
    },
    async token(userId, groups = []) {
      return (await tokens.sign({ userId, groups })).token;
    },
    appToken: (userId, groups = []) => signDevToken(APP_SECRET, { userId, groups }),
  };
}

/** One parsed SSE event (as a WHATWG client would dispatch it, plus the raw id line). */
export interface SseMessage {
  event: string;
  data: string;
  id: string | undefined;
}

/** A minimal SSE parser for raw-socket tests (fields per the WHATWG spec; enough to check bytes). */
export class SseParser {
  readonly events: SseMessage[] = [];
  comments = 0;
  retry: number | undefined;
  #buffer = "";
  #event: { event?: string; id?: string; data?: string[] } = {};

  feed(text: string): void {
    this.#buffer += text;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.#buffer);
      if (!m) return;
      const line = this.#buffer.slice(0, m.index);
      this.#buffer = this.#buffer.slice(m.index + m[0].length);
      this.#line(line);
    }
  }

  #line(line: string): void {
    if (line === "") {
      const e = this.#event;
      this.#event = {};
      if (e.data === undefined) return;
      this.events.push({ event: e.event ?? "message", data: e.data.join("\n"), id: e.id });
      return;
    }
    if (line.startsWith(":")) {
      this.comments++;
      return;
    }
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "data") (this.#event.data ??= []).push(value);
    else if (name === "event") this.#event.event = value;
    else if (name === "id") this.#event.id = value;
    else if (name === "retry") this.retry = Number(value);
  }

  frames(): Frame[] {
    return this.events.filter((e) => e.event === "notification").map((e) => JSON.parse(e.data) as Frame);
  }
}

/** An SSE response read with node:http (which undoes the chunked framing). */
export interface RawSse {
  response: IncomingMessage;
  parser: SseParser;
  /** Resolves once `check` passes on the parsed events (bounded by `timeoutMs`). */
  until(check: (p: SseParser) => boolean, timeoutMs?: number): Promise<void>;
  /** Resolves when the server ends the response. */
  ended: Promise<void>;
  close(): void;
}

export function openRawSse(url: string, headers: Record<string, string> = {}): Promise<RawSse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { accept: "text/event-stream", ...headers } }, (response) => {
      const parser = new SseParser();
      response.setEncoding("utf8");
      const waiters = new Set<() => void>();
      response.on("data", (text: string) => {
        parser.feed(text);
        for (const w of [...waiters]) w();
      });
      const ended = new Promise<void>((r) => {
        response.on("end", () => r());
        response.on("close", () => r());
        response.on("error", () => r());
      });
      resolve({
        response,
        parser,
        ended,
        until(check, timeoutMs = 10_000) {
          return new Promise<void>((ok, fail) => {
            if (check(parser)) return ok();
            const timer = setTimeout(() => {
              waiters.delete(waiter);
              fail(new Error(`SSE condition not met in ${timeoutMs} ms; ${parser.events.length} events`));
            }, timeoutMs);
            const waiter = (): void => {
              if (!check(parser)) return;
              clearTimeout(timer);
              waiters.delete(waiter);
              ok();
            };
            waiters.add(waiter);
            void ended.then(() => {
              if (waiters.has(waiter) && !check(parser)) {
                clearTimeout(timer);
                waiters.delete(waiter);
                fail(new Error(`SSE response ended before the condition; ${parser.events.length} events`));
              }
            });
          });
        },
        close: () => req.destroy(),
      });
    });
    req.on("error", reject);
    req.end();
  });
}

/** Resolves with `check()`'s value once it is not undefined (polled; bounded by `timeoutMs`). */
export async function waitFor<T>(check: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A long-poll with fetch; returns status and parsed body. */
export async function poll(
  base: string,
  params: Record<string, string>,
  init: RequestInit = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const url = new URL("/api/poll", base);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}
