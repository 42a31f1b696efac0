/**
 * Web PubSub fan-out benchmark: the emulator side by side with a bare `ws` server that writes
 * one pre-framed buffer to every socket. Servers and clients run in their own processes; this
 * driver only sends HTTP requests and reads counters. See README.md; writes results.md.
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { cpus, totalmem } from "node:os";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { signJwt } from "../../emulator/webpubsub/auth.js";
import { DEV_ACCESS_KEY } from "../../emulator/webpubsub/index.js";

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

type ServerKind = "bare" | "emulator" | "emulator-json" | "emulator-reliable";

interface Options {
  conns: number[];
  runs: number;
  servers: ServerKind[];
  messages: Record<number, number>;
  concurrency: number[];
  rate: Record<number, number>;
  latencySeconds: number;
  payloadBytes: number;
  write: boolean;
  /** Only the idle-memory figure (for quick iterations). */
  memoryOnly: boolean;
}

function parseOptions(argv: string[]): Options {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i === -1 ? undefined : argv[i + 1];
  };
  const quick = argv.includes("--quick");
  const conns = (get("conns") ?? (quick ? "1000" : "1000,10000")).split(",").map(Number);
  return {
    conns,
    runs: Number(get("runs") ?? (quick ? 1 : 3)),
    servers: (get("servers") ?? "bare,emulator,emulator-json,emulator-reliable").split(",") as ServerKind[],
    // Bounded: about 2 million deliveries per throughput measurement.
    messages: Object.fromEntries(
      conns.map((n) => [n, Math.max(50, Math.round((quick ? 500_000 : 2_000_000) / n))]),
    ),
    concurrency: (get("concurrency") ?? "1,8").split(",").map(Number),
    // Fixed rate for latency, in deliveries per second whatever the fan-out: well under what
    // either server sustains on 2 cores, so that the figure is latency, not queueing.
    rate: Object.fromEntries(
      conns.map((n) => [n, Math.max(1, Math.round(Number(get("rate") ?? 50_000) / n))]),
    ),
    latencySeconds: Number(get("latency-seconds") ?? (quick ? 2 : 5)),
    payloadBytes: 128,
    write: !argv.includes("--no-write") && !argv.includes("--memory-only"),
    memoryOnly: argv.includes("--memory-only"),
  };
}

interface ServerProc {
  child: ChildProcess;
  port: number;
  controlPort: number;
}

async function startServer(kind: ServerKind): Promise<ServerProc> {
  const mode = kind === "bare" ? "bare" : "emulator";
  const child = spawn(process.execPath, ["--expose-gc", here("./server.js"), mode], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
  const { port, controlPort } = JSON.parse(line) as { port: number; controlPort: number };
  return { child, port, controlPort };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

interface ServerStats {
  rss: number;
  heapUsed: number;
  cpuMicros: number;
  connections: number;
}

function getJson<T>(port: number, path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    request({ host: "127.0.0.1", port, path }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve(JSON.parse(body) as T));
    })
      .on("error", reject)
      .end();
  });
}

const serverStats = (s: ServerProc, gc = false): Promise<ServerStats> =>
  getJson<ServerStats>(s.controlPort, `/bench/stats${gc ? "?gc=1" : ""}`);

interface ClientStats {
  frames: number;
  firstArrival: number;
  lastArrival: number;
  latencies: number[];
  cpuMicros: number;
}

class Clients {
  private readonly child: ChildProcess;
  private waiting: ((m: Record<string, unknown>) => void)[] = [];

  constructor() {
    this.child = fork(here("./clients.js"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.child.on("message", (m: Record<string, unknown>) => this.waiting.shift()?.(m));
  }

  ask<T>(message: object): Promise<T> {
    return new Promise((resolve, reject) => {
      this.waiting.push((m) => (m.error ? reject(new Error(String(m.error))) : resolve(m as T)));
      this.child.send(message);
    });
  }

  ready(): Promise<unknown> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  stop(): Promise<void> {
    return stop(this.child);
  }
}

function payload(i: number, size: number): string {
  const head = `{"t":${now().toFixed(3)},"i":${i},"p":"`;
  return head + "x".repeat(Math.max(0, size - head.length - 2)) + '"}';
}

/** Sends `count` messages keeping `concurrency` requests in flight (or at a fixed rate). */
async function send(
  kind: ServerKind,
  server: ServerProc,
  agent: Agent,
  count: number,
  options: { concurrency?: number; ratePerSecond?: number; payloadBytes: number },
): Promise<void> {
  const path = kind === "bare" ? "/send" : "/api/hubs/bench/:send?api-version=2024-12-01";
  const aud = `http://127.0.0.1:${server.port}${path}`;
  const one = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const body = payload(i, options.payloadBytes);
      const headers: Record<string, string | number> = {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
        // A fresh token per request, as the server SDK does (the bare server ignores it).
        authorization: `Bearer ${signJwt({ aud, exp: Math.floor(Date.now() / 1000) + 3600 }, DEV_ACCESS_KEY)}`,
      };
      const req = request(
        { host: "127.0.0.1", port: server.port, method: "POST", path, headers, agent },
        (res) => {
          res.resume();
          res.on("end", () =>
            res.statusCode === 202 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`)),
          );
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  if (options.ratePerSecond !== undefined) {
    const start = now();
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const due = start + (i * 1000) / options.ratePerSecond;
      const wait = due - now();
      if (wait > 0) await sleep(wait);
      inflight.push(one(i));
    }
    await Promise.all(inflight);
    return;
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await one(next++);
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 1 }, worker));
}

async function waitFrames(clients: Clients, expected: number, timeoutMs: number): Promise<ClientStats> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await clients.ask<ClientStats>({ cmd: "stats" });
    if (s.frames >= expected || Date.now() > deadline) return s;
    await sleep(20);
  }
}

interface Measurement {
  server: ServerKind;
  conns: number;
  /** Marginal RSS per connection (slope between 1/4 N and N). */
  bytesPerConn: number;
  /** RSS growth from no connections to N, divided by N. */
  bytesPerConnTotal: number;
  /** V8 heap in use per connection (after GC). */
  heapPerConn: number;
  throughput: Record<
    number,
    {
      deliveriesPerSec: number;
      serverCpuMicrosPerDelivery: number;
      clientCpuShare: number;
      complete: boolean;
    }
  >;
  latency: { p50: number; p99: number; samples: number; complete: boolean };
}

async function measure(kind: ServerKind, n: number, o: Options): Promise<Measurement> {
  const server = await startServer(kind);
  const clients = new Clients();
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  try {
    await clients.ready();
    const url =
      kind === "bare"
        ? `ws://127.0.0.1:${server.port}/`
        : `ws://127.0.0.1:${server.port}/client/hubs/bench?access_token=${signJwt(
            {
              aud: `http://127.0.0.1:${server.port}/client/hubs/bench`,
              exp: Math.floor(Date.now() / 1000) + 3600,
            },
            DEV_ACCESS_KEY,
          )}`;
    const protocol =
      kind === "emulator-json"
        ? "json.webpubsub.azure.v1"
        : kind === "emulator-reliable"
          ? "json.reliable.webpubsub.azure.v1"
          : undefined;
    // Warm-up, so that one-time costs (code, JIT, first buffers) do not count as per-connection memory.
    await clients.ask({ cmd: "open", url, count: 50, protocol, sampleEvery: 1 });
    await send(kind, server, agent, 5, { concurrency: 1, payloadBytes: o.payloadBytes });
    await clients.ask({ cmd: "drop" });
    for (let i = 0; i < 250 && (await serverStats(server)).connections > 0; i++) await sleep(20);
    await sleep(200);
    const base = await serverStats(server, true);
    // Connections open in four steps; the figure is the RSS slope from the first step to the
    // last, which leaves out one-time growth (V8 young generation, malloc arenas) that would
    // otherwise count as per-connection cost at small N.
    const steps: ServerStats[] = [];
    for (let step = 1; step <= 4; step++) {
      const target = Math.round((n * step) / 4);
      await clients.ask({
        cmd: "open",
        url,
        count: target - Math.round((n * (step - 1)) / 4),
        protocol,
        sampleEvery: Math.max(1, Math.floor(n / 100)),
      });
      for (let i = 0; i < 500 && (await serverStats(server)).connections < target; i++) await sleep(20);
      await sleep(300);
      steps.push(await serverStats(server, true));
    }
    const bytesPerConn = (steps[3]!.rss - steps[0]!.rss) / (n - Math.round(n / 4));
    const bytesPerConnTotal = (steps[3]!.rss - base.rss) / n;
    const heapPerConn = (steps[3]!.heapUsed - base.heapUsed) / n;

    const throughput: Measurement["throughput"] = {};
    if (o.memoryOnly)
      return {
        server: kind,
        conns: n,
        bytesPerConn,
        bytesPerConnTotal,
        heapPerConn,
        throughput,
        latency: { p50: NaN, p99: NaN, samples: 0, complete: true },
      };
    for (const c of o.concurrency) {
      const m = o.messages[n]!;
      await clients.ask({ cmd: "reset" });
      const cpu0 = (await serverStats(server)).cpuMicros;
      const client0 = (await clients.ask<ClientStats>({ cmd: "stats" })).cpuMicros;
      const t0 = now();
      await send(kind, server, agent, m, { concurrency: c, payloadBytes: o.payloadBytes });
      const s = await waitFrames(clients, m * n, 60_000);
      const cpu1 = (await serverStats(server)).cpuMicros;
      const seconds = (s.lastArrival - t0) / 1000;
      throughput[c] = {
        deliveriesPerSec: s.frames / seconds,
        serverCpuMicrosPerDelivery: (cpu1 - cpu0) / s.frames,
        clientCpuShare: (s.cpuMicros - client0) / 1e6 / seconds,
        complete: s.frames >= m * n,
      };
    }

    await clients.ask({ cmd: "reset" });
    const rate = o.rate[n]!;
    const count = Math.round(rate * o.latencySeconds);
    await send(kind, server, agent, count, { ratePerSecond: rate, payloadBytes: o.payloadBytes });
    const s = await waitFrames(clients, count * n, 30_000);
    const lat = [...s.latencies].sort((a, b) => a - b);
    const pct = (p: number): number =>
      lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? NaN;
    return {
      server: kind,
      conns: n,
      bytesPerConn,
      bytesPerConnTotal,
      heapPerConn,
      throughput,
      latency: { p50: pct(50), p99: pct(99), samples: lat.length, complete: s.frames >= count * n },
    };
  } finally {
    agent.destroy();
    // Server first, so that TIME_WAIT lands on its side, not on the clients' ephemeral ports.
    await stop(server.child);
    await clients.stop();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function machine(): string {
  let model = cpus()[0]?.model ?? "unknown";
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) model = m[1]!.trim();
  } catch {
    // not Linux
  }
  return `${cpus().length} CPUs (nproc), ${model}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, ${process.platform}`;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const all: Measurement[] = [];
  for (let run = 1; run <= o.runs; run++) {
    for (const n of o.conns) {
      // Alternate the order per run so that drift on a shared machine hits every server alike.
      const order = run % 2 === 1 ? o.servers : [...o.servers].reverse();
      for (const kind of order) {
        const m = await measure(kind, n, o);
        all.push(m);
        const t = o.concurrency
          .map((c) => `c=${c} ${Math.round(m.throughput[c]?.deliveriesPerSec ?? NaN)}/s`)
          .join(", ");
        process.stdout.write(
          `run ${run} ${kind} n=${n}: ${t}; ${(m.bytesPerConn / 1024).toFixed(2)} KB/conn (${(m.bytesPerConnTotal / 1024).toFixed(2)} total/N); ` +
            `p50 ${m.latency.p50.toFixed(2)} ms p99 ${m.latency.p99.toFixed(2)} ms\n`,
        );
      }
    }
  }
  if (o.memoryOnly) return;
  const rows: string[] = [];
  for (const n of o.conns) {
    const bare = all.filter((m) => m.conns === n && m.server === "bare");
    for (const kind of o.servers) {
      const ms = all.filter((m) => m.conns === n && m.server === kind);
      const cells = [kind, String(n)];
      for (const c of o.concurrency) {
        const d = median(ms.map((m) => m.throughput[c]!.deliveriesPerSec));
        const ratio = bare.length ? d / median(bare.map((m) => m.throughput[c]!.deliveriesPerSec)) : NaN;
        cells.push(`${Math.round(d).toLocaleString("en-US")} (${ratio.toFixed(2)}×)`);
        cells.push(median(ms.map((m) => m.throughput[c]!.serverCpuMicrosPerDelivery)).toFixed(2));
      }
      cells.push(median(ms.map((m) => m.latency.p50)).toFixed(2));
      cells.push(median(ms.map((m) => m.latency.p99)).toFixed(2));
      for (const pick of [(m: Measurement) => m.bytesPerConn, (m: Measurement) => m.bytesPerConnTotal]) {
        const kb = median(ms.map(pick)) / 1024;
        const kbRatio = bare.length ? median(ms.map(pick)) / median(bare.map(pick)) : NaN;
        cells.push(`${kb.toFixed(2)} (${kbRatio.toFixed(2)}×)`);
      }
      cells.push(String(Math.round(median(ms.map((m) => m.heapPerConn)))));
      rows.push(`| ${cells.join(" | ")} |`);
    }
  }
  const header =
    "| server | conns | " +
    o.concurrency
      .map((c) => `deliveries/s, ${c} in flight (vs bare) | server CPU µs/delivery (${c})`)
      .join(" | ") +
    " | p50 ms | p99 ms | RSS KB per idle conn, slope (vs bare) | RSS KB per idle conn, total/N (vs bare) | JS heap B per conn |";
  const sep = "|" + " --- |".repeat(2 + o.concurrency.length * 2 + 5);
  const incomplete = all.filter(
    (m) => !m.latency.complete || Object.values(m.throughput).some((t) => !t.complete),
  );
  const clientShare = median(all.flatMap((m) => Object.values(m.throughput).map((t) => t.clientCpuShare)));
  const table = [header, sep, ...rows].join("\n");
  process.stdout.write(`\n${table}\n`);
  if (!o.write) return;
  const raw = all
    .map(
      (m) =>
        `| ${m.server} | ${m.conns} | ` +
        o.concurrency.map((c) => Math.round(m.throughput[c]!.deliveriesPerSec)).join(" / ") +
        ` | ${o.concurrency.map((c) => m.throughput[c]!.serverCpuMicrosPerDelivery.toFixed(2)).join(" / ")}` +
        ` | ${m.latency.p50.toFixed(2)} / ${m.latency.p99.toFixed(2)}` +
        ` | ${(m.bytesPerConn / 1024).toFixed(2)} / ${(m.bytesPerConnTotal / 1024).toFixed(2)} | ${Math.round(m.heapPerConn)} |`,
    )
    .join("\n");
  const text = `# Web PubSub fan-out benchmark: results

Command: \`npm run bench:webpubsub${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}\`
Date: ${new Date().toISOString()}
Machine: ${machine()}
Parameters: ${o.runs} runs (medians below), ${o.payloadBytes}-byte JSON payload, sendToAll over HTTP
(${o.conns.map((n) => `${o.messages[n]} messages for ${n} connections`).join(", ")}), latency at a fixed
${o.conns.map((n) => `${o.rate[n]} messages/s to ${n}`).join(" and ")} connections for ${o.latencySeconds} s.
Clients: one process, raw sockets. Emulator: plain WebSocket clients (\`emulator\`) or
\`json.webpubsub.azure.v1\` clients (\`emulator-json\`) or \`json.reliable.webpubsub.azure.v1\` clients that
acknowledge every 200 messages (\`emulator-reliable\`); keep-alive pings off in both servers.
${incomplete.length ? `\n**Incomplete measurements (not every frame arrived in time): ${incomplete.length}.**\n` : ""}
Median client-process CPU share during throughput runs: ${(clientShare * 100).toFixed(0)}% of one core.

${table}

Per run (deliveries/s for ${o.concurrency.join(" / ")} in flight; server CPU µs/delivery; p50 / p99 ms;
RSS KB/conn slope / total; JS heap B/conn):

| server | conns | deliveries/s | CPU µs | latency | RSS KB/conn | heap B/conn |
| --- | --- | --- | --- | --- | --- | --- |
${raw}
`;
  writeFileSync(here("../../../bench/webpubsub/results.md"), text);
}

await main();
