/**
 * Benchmark client process: opens N connections to the server (SSE, or long-polls in a loop), counts
 * every notification each connection receives and reports to the parent when a notification has
 * reached all N. Latency = receive time - the publish time carried in the notification (CLOCK_MONOTONIC,
 * shared by the processes). Bytes are counted on the sockets in both directions.
 */
import { Agent, request } from "node:http";
import type { Socket } from "node:net";
import { GatewayTokens } from "../../gateway/live/tokens.js";

type Command = { cmd: "measure" } | { cmd: "status" } | { cmd: "exit" };

const [, , transport, portText, countText, totalText] = process.argv as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const port = Number(portText);
const connections = Number(countText);
/** Notifications the parent will publish (warm-up included), for the per-notification counters. */
const total = Number(totalText);
const secret = process.env.BENCH_TOKEN_SECRET ?? "bench-gateway-secret-0123456789abcdef";
const send = (message: unknown): void => void process.send!(message);
const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

const received = new Uint32Array(total + 1);
const latencies = new Float64Array(Math.min(connections * total, 8_000_000));
let latencyCount = 0;
let measuring = false;
const sockets = new Set<Socket>();
let bytesAtStart = 0;
let deliveries = 0;

function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

function socketBytes(): number {
  let n = 0;
  for (const s of sockets) n += s.bytesRead + s.bytesWritten;
  return n + closedBytes;
}
let closedBytes = 0;
/** Long-polls sent again after a failed request (a reset socket, a non-200 answer). */
let pollRetries = 0;
/** SSE streams that ended before the run did. */
let sseDrops = 0;

function track(socket: Socket): void {
  if (sockets.has(socket)) return;
  sockets.add(socket);
  socket.once("close", () => {
    closedBytes += socket.bytesRead + socket.bytesWritten;
    sockets.delete(socket);
  });
}

/** Reads `"key":<number>` after `from` in `text`. */
function numberAfter(text: string, key: string, from: number): number {
  const i = text.indexOf(key, from);
  if (i < 0) return NaN;
  const j = i + key.length;
  let k = j;
  while (k < text.length && "0123456789.-e".includes(text[k]!)) k++;
  return Number(text.slice(j, k));
}

function deliver(seq: number, t: number, at: number): void {
  if (!(seq >= 0 && seq <= total)) return;
  deliveries++;
  if (measuring && latencyCount < latencies.length) latencies[latencyCount++] = at - t;
  if (++received[seq]! === connections) send({ done: seq });
}

/** Finds the notifications in complete SSE events; returns the unparsed rest. */
function scanSse(text: string, at: number): string {
  let start = 0;
  for (;;) {
    const end = text.indexOf("\n\n", start);
    if (end < 0) return text.slice(start);
    const dataAt = text.indexOf('"seq":', start);
    if (dataAt >= 0 && dataAt < end)
      deliver(numberAfter(text, '"seq":', start), numberAfter(text, '"t":', start), at);
    start = end + 2;
  }
}

function token(i: number): Promise<string> {
  return new GatewayTokens({ secret }).sign({ userId: `u${i}`, groups: [] }).then((t) => t.token);
}

function openSse(i: number, tok: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: `/api/sse?token=${tok}`,
        agent,
        headers: { accept: "text/event-stream" },
      },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`connection ${i}: HTTP ${res.statusCode}`));
        track(res.socket);
        let rest = "";
        res.setEncoding("utf8");
        res.on("data", (text: string) => {
          rest = scanSse(rest + text, now());
        });
        res.on("error", () => {});
        // The server ended or reset this stream: every later notification of the run would stall.
        res.on("close", () => sseDrops++);
        resolve();
      },
    );
    req.on("error", reject);
    req.end();
  });
}

function pollLoop(i: number, tok: string): Promise<void> {
  let cursor = "";
  let first = true;
  return new Promise((resolve, reject) => {
    const next = (): void => {
      const path = `/api/poll?token=${tok}&wait=${first ? 0 : 25}${cursor ? `&cursor=${cursor}` : ""}`;
      const req = request({ host: "127.0.0.1", port, path, agent }, (res) => {
        track(res.socket);
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (t: string) => (body += t));
        res.on("end", () => {
          const at = now();
          if (res.statusCode !== 200) {
            if (first) reject(new Error(`poll ${i}: HTTP ${res.statusCode} ${body.slice(0, 200)}`));
            else retry();
            return;
          }
          const parsed = JSON.parse(body) as {
            frames: { data: { seq: number; t: number } }[];
            cursor: string;
          };
          for (const f of parsed.frames) deliver(f.data.seq, f.data.t, at);
          cursor = parsed.cursor;
          if (first) {
            first = false;
            resolve();
          }
          next();
        });
      });
      req.on("error", (err) => (first ? reject(err) : retry()));
      req.end();
    };
    // As a real client would: poll again with the same cursor. Counted and reported; a client that
    // silently stopped would stall every later notification of the run.
    const retry = (): void => {
      pollRetries++;
      setTimeout(next, 100);
    };
    next();
  });
}

/** Opens a connection (one poll) and closes it again: runs the server's connection code path. */
function touch(tok: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const path = transport === "sse" ? `/api/sse?token=${tok}` : `/api/poll?token=${tok}&wait=0`;
    const req = request({ host: "127.0.0.1", port, path }, (res) => {
      res.once("close", () => resolve());
      res.destroy();
    });
    req.on("error", reject);
    req.end();
  });
}

const tokens = await Promise.all(Array.from({ length: connections }, (_, i) => token(i)));
// Connections opened and closed before anything is measured, so the server's code on this path is
// compiled (and its one-time allocations made) before the baseline reading: the same for both servers.
const CYCLE = 1000;
for (let i = 0; i < CYCLE; i += 250) {
  await Promise.all(Array.from({ length: 250 }, (_, j) => token(connections + i + j).then(touch)));
}
// A few connections first, so the server's baseline memory already holds what the first connections
// allocate once (compiled code, pools); the parent measures between "warm" and "connected".
const warm = Math.min(200, Math.floor(connections / 10));
const open = (i: number, tok: string): Promise<void> =>
  transport === "sse" ? openSse(i, tok) : pollLoop(i, tok);
await Promise.all(tokens.slice(0, warm).map((tok, i) => open(i, tok)));
send({ warm });
await new Promise<void>((resolve) => process.once("message", () => resolve()));
// Then in waves, so the listen backlog never overflows.
const WAVE = 500;
for (let i = warm; i < connections; i += WAVE) {
  await Promise.all(tokens.slice(i, Math.min(i + WAVE, connections)).map((tok, j) => open(i + j, tok)));
}
send({ connected: connections - warm });

process.on("message", (message: Command) => {
  if (message.cmd === "measure") {
    measuring = true;
    bytesAtStart = socketBytes();
    deliveries = 0;
    send({ measuring: true });
  } else if (message.cmd === "status") {
    send({ status: { retries: pollRetries, drops: sseDrops, deliveries } });
  } else if (message.cmd === "exit") {
    const sample = latencies.subarray(0, latencyCount).sort();
    const pct = (p: number): number =>
      sample[Math.min(sample.length - 1, Math.floor(p * sample.length))] ?? NaN;
    send({
      report: {
        p50: pct(0.5),
        p99: pct(0.99),
        samples: sample.length,
        bytes: socketBytes() - bytesAtStart,
        deliveries,
        retries: pollRetries,
        drops: sseDrops,
      },
    });
    setTimeout(() => process.exit(0), 50);
  }
});

// Exit with the benchmark driver, whatever ends it.
process.on("disconnect", () => process.exit(0));
