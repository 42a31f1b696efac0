/**
 * SSE and long-poll fan-out benchmark: the gateway's LiveHub behind its HTTP server, and side by side a
 * bare node:http server writing one pre-built chunk to every open response. Server and clients run in
 * separate processes; this process only coordinates them. Writes results.md beside this file.
 *
 *   npm run bench:delivery   # BENCH_RUNS=3 by default; BENCH_QUICK=1 for a 10x smaller smoke run;
 *                            # BENCH_ONLY=<text> runs the scenarios whose name contains it
 *   BENCH_COMPARE=<path to another build's dist/bench/delivery/server.js> adds its Herald SSE scenarios,
 *     interleaved with the others (before/after comparisons); BENCH_RESULTS=<file> writes there instead.
 */
import { execSync, fork, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { fileURLToPath } from "node:url";

interface Scenario {
  name: string;
  server: "herald" | "bare";
  transport: "sse" | "poll";
  connections: number;
  notifications: number;
  /** Another build's server.js (BENCH_COMPARE); default: this build's. */
  serverFile?: string;
}

interface RunResult {
  ok: boolean;
  error?: string;
  perSecond: number;
  p50: number;
  p99: number;
  rssPerConn: number;
  heapPerConn: number;
  bytesPerDelivery: number;
  cpuUsPerDelivery: number;
  deliveries: number;
  seconds: number;
  /** Long-polls the clients had to send again (a reset socket, a non-200 answer). */
  retries: number;
}

const runs = Number(process.env.BENCH_RUNS ?? 3);
const quick = process.env.BENCH_QUICK === "1";
const windowSize = Number(process.env.BENCH_WINDOW ?? 8);
const scale = quick ? 0.1 : 1;
const PHASE_LIMIT_MS = 180_000;
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 10_000);
const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

const scenarios: Scenario[] = (
  [
    {
      name: "bare SSE, 1,000 connections",
      server: "bare",
      transport: "sse",
      connections: 1000,
      notifications: 2000,
    },
    {
      name: "Herald SSE, 1,000 connections",
      server: "herald",
      transport: "sse",
      connections: 1000,
      notifications: 2000,
    },
    {
      name: "Herald long-poll, 1,000 connections",
      server: "herald",
      transport: "poll",
      connections: 1000,
      notifications: 1000,
    },
    {
      name: "bare SSE, 10,000 connections",
      server: "bare",
      transport: "sse",
      connections: 10_000,
      notifications: 200,
    },
    {
      name: "Herald SSE, 10,000 connections",
      server: "herald",
      transport: "sse",
      connections: 10_000,
      notifications: 200,
    },
    {
      name: "Herald long-poll, 10,000 connections",
      server: "herald",
      transport: "poll",
      connections: 10_000,
      notifications: 100,
    },
  ] satisfies Scenario[]
)
  .map((s) => ({ ...s, notifications: Math.max(20, Math.round(s.notifications * scale)) }))
  .filter((s) => !process.env.BENCH_ONLY || s.name.includes(process.env.BENCH_ONLY))
  .flatMap((s): Scenario[] => {
    const other = process.env.BENCH_COMPARE;
    if (!other || s.server !== "herald" || s.transport !== "sse") return [s];
    return [s, { ...s, name: `${s.name} (compare build)`, serverFile: other }];
  });

function nextMessage<T>(child: ChildProcess, key: string, timeoutMs = PHASE_LIMIT_MS): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no "${key}" from the child in ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (m: Record<string, unknown>): void => {
      if (!(key in m)) return;
      done();
      resolve(m[key] as T);
    };
    const onExit = (code: number | null): void => {
      done();
      reject(new Error(`child exited (${code}) before "${key}"`));
    };
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Publishes `count` notifications from `first`, at most `windowSize` not yet received by every client. */
function publishWindowed(
  server: ChildProcess,
  client: ChildProcess,
  first: number,
  count: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let next = first;
    let done = 0;
    const last = first + count - 1;
    const timer = setTimeout(
      () => finish(new Error(`delivery did not finish in ${PHASE_LIMIT_MS} ms (${done}/${count})`)),
      PHASE_LIMIT_MS,
    );
    const onMessage = (m: { done?: number }): void => {
      if (m.done === undefined || m.done < first || m.done > last) return;
      done++;
      if (done === count) finish();
      else pump();
    };
    const pump = (): void => {
      while (next <= last && next - first - done < windowSize) server.send({ cmd: "publish", seq: next++ });
    };
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      client.off("message", onMessage);
      if (err) reject(err);
      else resolve();
    };
    client.on("message", onMessage);
    pump();
  });
}

/**
 * The idle server's memory: a reading (after a full GC) every second for SETTLE_MS, keeping the lowest
 * RSS. V8 shrinks its young generation a few seconds after activity stops; without this the garbage of
 * connection set-up would count as memory per connection.
 */
async function settledMemory(server: ChildProcess): Promise<{ rss: number; heapUsed: number }> {
  let best = { rss: Infinity, heapUsed: 0 };
  for (let waited = 0; waited < SETTLE_MS; waited += 1000) {
    await sleep(1000);
    server.send({ cmd: "mem" });
    const m = await nextMessage<{ rss: number; heapUsed: number }>(server, "mem");
    if (m.rss < best.rss) best = m;
  }
  return best;
}

async function runOnce(s: Scenario): Promise<RunResult> {
  const children: ChildProcess[] = [];
  try {
    const server = fork(s.serverFile ?? here("./server.js"), [s.server], {
      execArgv: ["--expose-gc"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    children.push(server);
    const port = await nextMessage<number>(server, "ready");
    const warmup = Math.max(10, Math.round(s.notifications / 10));
    const total = warmup + s.notifications;
    const client = fork(
      here("./clients.js"),
      [s.transport, String(port), String(s.connections), String(total)],
      {
        execArgv: ["--max-old-space-size=4096"],
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      },
    );
    children.push(client);
    const warm = await nextMessage<number>(client, "warm");
    const before = await settledMemory(server);
    client.send({ cmd: "continue" });
    const measured = await nextMessage<number>(client, "connected");
    const after = await settledMemory(server);
    if (warm + measured !== s.connections) throw new Error(`expected ${s.connections} connections`);

    await publishWindowed(server, client, 1, warmup);
    client.send({ cmd: "measure" });
    await nextMessage(client, "measuring");
    server.send({ cmd: "cpu" });
    const cpu0 = await nextMessage<number>(server, "cpu");
    const t0 = performance.now();
    await publishWindowed(server, client, warmup + 1, s.notifications);
    const seconds = (performance.now() - t0) / 1000;
    server.send({ cmd: "cpu" });
    const cpu1 = await nextMessage<number>(server, "cpu");
    client.send({ cmd: "exit" });
    const report = await nextMessage<{
      p50: number;
      p99: number;
      bytes: number;
      deliveries: number;
      retries: number;
    }>(client, "report");
    server.send({ cmd: "exit" });
    return {
      ok: true,
      perSecond: report.deliveries / seconds,
      p50: report.p50,
      p99: report.p99,
      rssPerConn: (after.rss - before.rss) / measured,
      heapPerConn: (after.heapUsed - before.heapUsed) / measured,
      bytesPerDelivery: report.bytes / report.deliveries,
      cpuUsPerDelivery: (cpu1 - cpu0) / report.deliveries,
      deliveries: report.deliveries,
      seconds,
      retries: report.retries,
    };
  } catch (err) {
    // What the clients saw, to tell a stalled server from a client that lost its connections.
    let status = "";
    const client = children[1];
    if (client && client.exitCode === null) {
      client.send({ cmd: "status" });
      const seen = await nextMessage<{ retries: number; drops: number }>(client, "status", 5000).catch(
        () => undefined,
      );
      if (seen) status = ` (clients: ${seen.drops} SSE streams ended early, ${seen.retries} polls retried)`;
    }
    return {
      ok: false,
      error: (err instanceof Error ? err.message : String(err)) + status,
      perSecond: NaN,
      p50: NaN,
      p99: NaN,
      rssPerConn: NaN,
      heapPerConn: NaN,
      bytesPerDelivery: NaN,
      cpuUsPerDelivery: NaN,
      deliveries: 0,
      seconds: NaN,
      retries: NaN,
    };
  } finally {
    // Only the processes this run started, by their handles.
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await sleep(300);
  }
}

function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "—";

const results = new Map<string, RunResult[]>(scenarios.map((s) => [s.name, []]));
// Interleaved: run 1 of every scenario, then run 2..., so a noisy minute spreads over all of them.
for (let r = 0; r < runs; r++) {
  for (const s of scenarios) {
    const result = await runOnce(s);
    results.get(s.name)!.push(result);
    console.log(
      `${s.name} run ${r + 1}: ${result.ok ? `${fmt(result.perSecond)} deliveries/s, p50 ${fmt(result.p50, 2)} ms, p99 ${fmt(result.p99, 2)} ms, ${fmt(result.rssPerConn)} B RSS/conn, ${fmt(result.heapPerConn)} B heap/conn, ${fmt(result.bytesPerDelivery, 1)} B/delivery, ${fmt(result.cpuUsPerDelivery, 2)} µs CPU/delivery, ${result.retries} client retries` : `FAILED: ${result.error}`}`,
    );
  }
}

const cpuModel = cpus()[0]?.model.trim() ?? "unknown";
const lines: string[] = [
  "# Delivery benchmark results",
  "",
  `- command: \`npm run bench:delivery\` (BENCH_RUNS=${runs}${quick ? ", BENCH_QUICK=1" : ""}${process.env.BENCH_ONLY ? `, BENCH_ONLY=${process.env.BENCH_ONLY}` : ""}${process.env.BENCH_COMPARE ? `, BENCH_COMPARE=${process.env.BENCH_COMPARE}` : ""}, window ${windowSize} notifications in flight)`,
  `- date: ${new Date().toISOString()}`,
  `- machine: ${execSync("nproc").toString().trim()} cores (${cpuModel}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}; shared with other work while running`,
  `- runs per scenario: ${runs}, interleaved; figures are medians (each run in the second table)`,
  "",
  "| scenario | deliveries/s | latency p50 (ms) | latency p99 (ms) | RSS per idle connection (B) | heap per idle connection (B) | bytes on the wire per delivery | server CPU per delivery (µs) |",
  "| --- | --- | --- | --- | --- | --- | --- | --- |",
];
for (const s of scenarios) {
  const rs = results.get(s.name)!;
  const m = (f: (r: RunResult) => number): number => median(rs.map(f));
  lines.push(
    `| ${s.name} | ${fmt(m((r) => r.perSecond))} | ${fmt(
      m((r) => r.p50),
      2,
    )} | ${fmt(
      m((r) => r.p99),
      2,
    )} | ${fmt(m((r) => r.rssPerConn))} | ${fmt(m((r) => r.heapPerConn))} | ${fmt(
      m((r) => r.bytesPerDelivery),
      1,
    )} | ${fmt(
      m((r) => r.cpuUsPerDelivery),
      2,
    )} |`,
  );
}
lines.push(
  "",
  "Each run:",
  "",
  "| scenario | run | deliveries/s | p50 | p99 | RSS/conn | heap/conn | bytes/delivery | CPU µs/delivery | deliveries | seconds | client retries |",
  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
);
for (const s of scenarios) {
  results.get(s.name)!.forEach((r, i) => {
    lines.push(
      r.ok
        ? `| ${s.name} | ${i + 1} | ${fmt(r.perSecond)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.rssPerConn)} | ${fmt(r.heapPerConn)} | ${fmt(r.bytesPerDelivery, 1)} | ${fmt(r.cpuUsPerDelivery, 2)} | ${r.deliveries} | ${fmt(r.seconds, 1)} | ${r.retries} |`
        : `| ${s.name} | ${i + 1} | failed: ${r.error} | | | | | | | | | |`,
    );
  });
}
const resultsFile = process.env.BENCH_RESULTS ?? here("../../../bench/delivery/results.md");
let notes = "";
try {
  const old = readFileSync(resultsFile, "utf8");
  const at = old.indexOf("\n## Notes");
  if (at >= 0) notes = old.slice(at);
} catch {
  // First run: no notes yet.
}
writeFileSync(resultsFile, lines.join("\n") + "\n" + notes);
console.log(`wrote ${resultsFile}`);
