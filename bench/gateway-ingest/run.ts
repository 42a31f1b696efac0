/**
 * Gateway ingest benchmark: notifications per second from publish (Herald's Publisher, this
 * process) through the Service Bus emulator, the gateway (`herald gateway`, its own process), and
 * the Web PubSub emulator (its own process) to Web PubSub clients (the official client SDK, this
 * process); with the memory store and with the Table store (Azurite). Baseline: bare Service Bus
 * send -> receive -> complete through the same emulator, with a consumer process that receives like
 * the gateway does and only completes. Also latency (enqueue -> client receive) at a fixed rate.
 * Writes bench/gateway-ingest/results.md. See README.md.
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import { execSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { WebPubSubServiceClient } from "@azure/web-pubsub";
import { WebPubSubClient } from "@azure/web-pubsub-client";
import type { Frame } from "../../core/streams.js";
import { startAzurite } from "../../emulator/azurite.js";
import { emulatorConnectionString } from "../../emulator/servicebus/index.js";
import { DEV_ACCESS_KEY } from "../../emulator/webpubsub/index.js";
import type { NotificationInput } from "../../core/notification.js";
import { Publisher } from "../../publisher/publisher.js";

const env = process.env;
const RUNS = Number(env["BENCH_RUNS"] ?? 3);
const NOTIFICATIONS = Number(env["BENCH_NOTIFICATIONS"] ?? 20_000);
const USERS = Number(env["BENCH_USERS"] ?? 50);
const RATE = Number(env["BENCH_RATE"] ?? 1000);
/** The table store saturates lower: its latency is measured at this rate. */
const TABLE_RATE = Number(env["BENCH_TABLE_RATE"] ?? 250);
const RATE_SECONDS = Number(env["BENCH_RATE_SECONDS"] ?? 5);
const SCENARIOS = (env["BENCH_SCENARIOS"] ?? "baseline,memory,table").split(",");
/** Gateway consumer settings; unset = the gateway's defaults. */
const CONCURRENCY = env["BENCH_CONCURRENCY"];
const PREFETCH = env["BENCH_PREFETCH"];
const PROF_DIR = env["BENCH_PROF"] ? "/tmp/gateway-ingest-prof" : undefined;
/** No phase may take longer than this. */
const PHASE_TIMEOUT_MS = 180_000;

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const HERALD = join(ROOT, "bin/herald.js");
const RESULTS = join(ROOT, "bench/gateway-ingest/results.md");
const BARE_CONSUMER = fileURLToPath(new URL("./bare-consumer.js", import.meta.url));

/** Every child started, so an interrupted run does not leave them behind. */
const children = new Set<ChildProcess>();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    for (const child of children) child.kill("SIGKILL");
    process.exit(130);
  });
}

interface Proc {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `herald <args>` and resolves on its `ready <url>` line. */
function herald(
  args: string[],
  extraEnv: Record<string, string> = {},
  nodeArgs: string[] = [],
): Promise<Proc> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, HERALD, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...env, ...extraEnv },
    });
    children.add(child);
    child.once("exit", () => children.delete(child));
    let out = "";
    let err = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`herald ${args.join(" ")} did not start: ${err}`));
    }, 30_000);
    child.stderr!.on("data", (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
    });
    child.once("exit", (code) => reject(new Error(`herald ${args.join(" ")} exited with ${code}: ${err}`)));
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /^ready (\S+)$/m.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.removeAllListeners("exit");
      resolve({
        url: m[1]!,
        child,
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            const kill = setTimeout(() => child.kill("SIGKILL"), 20_000);
            child.once("exit", () => {
              clearTimeout(kill);
              done();
            });
            child.kill("SIGTERM");
          }),
      });
    });
  });
}

/** Config.json for the Service Bus emulator: the local stack's topic, plus a baseline topic. */
function writeConfig(dir: string): string {
  const config = JSON.parse(readFileSync(join(ROOT, "emulator/servicebus/Config.json"), "utf8")) as {
    UserConfig: { Namespaces: { Topics: { Name: string; Subscriptions: { Name: string }[] }[] }[] };
  };
  const topics = config.UserConfig.Namespaces[0]!.Topics;
  const baseline = structuredClone(topics[0]!);
  baseline.Name = "baseline";
  baseline.Subscriptions[0]!.Name = "bare";
  topics.push(baseline);
  const file = join(dir, "Config.json");
  writeFileSync(file, JSON.stringify(config));
  return file;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function notification(i: number, extra: Record<string, unknown> = {}): NotificationInput {
  return {
    id: `n-${i}-${Math.random().toString(36).slice(2, 8)}`,
    type: "bench.ingest",
    to: { users: [`u${i % USERS}`] },
    data: { i, ...extra },
  };
}

/** Publishes `count` notifications in batches of 100 with up to 4 batches in flight. */
async function publishAll(publisher: Publisher, count: number, first: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const start = next;
      const size = Math.min(100, count - start);
      next += size;
      await publisher.publishBatch(Array.from({ length: size }, (_, k) => notification(first + start + k)));
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

/** Publishes `rate` notifications per second for `RATE_SECONDS`, in 10 ms steps on an absolute clock. */
async function publishAtRate(publisher: Publisher, first: number, rate: number): Promise<number> {
  const total = rate * RATE_SECONDS;
  const start = Date.now();
  let sent = 0;
  const pending: Promise<unknown>[] = [];
  while (sent < total) {
    const due = Math.min(total, Math.floor(((Date.now() - start) / 1000) * rate) + 1);
    if (due > sent) {
      const batch = Array.from({ length: Math.min(100, due - sent) }, (_, k) =>
        notification(first + sent + k),
      );
      sent += batch.length;
      pending.push(publisher.publishBatch(batch));
    }
    await sleep(10);
  }
  await Promise.all(pending);
  return total;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** CPU time (user + system, µs) a process has used so far, from /proc (Linux; 10 ms ticks). */
function cpuMicros(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  if (pid === process.pid) {
    const u = process.cpuUsage();
    return u.user + u.system;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after the pid and the command.
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return NaN;
  }
}

/** CPU µs per notification of each named process between two snapshots. */
function cpuPer(
  before: Record<string, number>,
  after: Record<string, number>,
  n: number,
): Record<string, number> {
  return Object.fromEntries(Object.keys(before).map((k) => [k, (after[k]! - before[k]!) / n]));
}

interface RunResult {
  scenario: string;
  perSecond: number;
  /** CPU µs per notification during the throughput phase, by process. */
  cpu: Record<string, number>;
  p50?: number;
  p99?: number;
  latencyCount?: number;
}

async function runBaseline(): Promise<RunResult> {
  const dir = mkdtempSync(join(os.tmpdir(), "gw-ingest-"));
  const sb = await herald([
    "emulator",
    "servicebus",
    "--config",
    writeConfig(dir),
    "--port",
    "0",
    "--management-port",
    "0",
    "--quiet",
  ]);
  const connectionString = emulatorConnectionString(Number(new URL(sb.url).port));
  const consumer = fork(
    BARE_CONSUMER,
    [connectionString, "baseline", "bare", CONCURRENCY ?? "32", PREFETCH ?? "100"],
    { stdio: ["ignore", "inherit", "inherit", "ipc"] },
  );
  children.add(consumer);
  let completed = 0;
  consumer.on("message", (m: { type: string; completed?: number }) => {
    if (m.type === "count") completed = m.completed ?? 0;
  });
  const poll = setInterval(() => consumer.send({ type: "count" }), 20);
  const publisher = Publisher.fromConnectionString(connectionString, { topic: "baseline" });
  try {
    await publishAll(publisher, 500, 0);
    await until(() => completed >= 500, "baseline warm-up");
    const pids = { servicebus: sb.child.pid, consumer: consumer.pid, clients: process.pid };
    const snapshot = (): Record<string, number> =>
      Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuMicros(pid)]));
    const cpuBefore = snapshot();
    const started = performance.now();
    await publishAll(publisher, NOTIFICATIONS, 1000);
    await until(() => completed >= 500 + NOTIFICATIONS, "baseline completions");
    const seconds = (performance.now() - started) / 1000;
    return {
      scenario: "baseline",
      perSecond: NOTIFICATIONS / seconds,
      cpu: cpuPer(cpuBefore, snapshot(), NOTIFICATIONS),
    };
  } finally {
    clearInterval(poll);
    await publisher.close();
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => consumer.kill("SIGKILL"), 10_000);
      consumer.once("exit", () => {
        clearTimeout(kill);
        resolve();
      });
      consumer.send({ type: "stop" });
    });
    await sb.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runGateway(store: "memory" | "table", run: number): Promise<RunResult> {
  const dir = mkdtempSync(join(os.tmpdir(), "gw-ingest-"));
  const stops: (() => Promise<void>)[] = [];
  const clients: WebPubSubClient[] = [];
  try {
    const sb = await herald([
      "emulator",
      "servicebus",
      "--config",
      writeConfig(dir),
      "--port",
      "0",
      "--management-port",
      "0",
      "--quiet",
    ]);
    stops.push(() => sb.stop());
    const wps = await herald(["emulator", "webpubsub", "--port", "0"]);
    stops.push(() => wps.stop());
    const busConnection = emulatorConnectionString(Number(new URL(sb.url).port));
    const wpsConnection = `Endpoint=http://localhost;Port=${new URL(wps.url).port};AccessKey=${DEV_ACCESS_KEY};Version=1.0;`;
    const gatewayEnv: Record<string, string> = {
      HERALD_SERVICEBUS: busConnection,
      HERALD_WEBPUBSUB: wpsConnection,
      HERALD_JWT_SECRET: "herald-bench-secret-0123456789abcdef",
      HERALD_PORT: "0",
      HERALD_HOST: "127.0.0.1",
      HERALD_LOG_LEVEL: "warn",
      HERALD_STORE: store,
      ...(CONCURRENCY ? { HERALD_CONCURRENCY: CONCURRENCY } : {}),
      ...(PREFETCH ? { HERALD_PREFETCH: PREFETCH } : {}),
    };
    let azuritePid: number | undefined;
    if (store === "table") {
      const azurite = await startAzurite();
      azuritePid = azurite.pid;
      stops.push(() => azurite.close());
      gatewayEnv["HERALD_STORAGE"] = azurite.connectionString;
    }
    const prof = PROF_DIR
      ? [`--cpu-prof`, `--cpu-prof-dir=${PROF_DIR}`, `--cpu-prof-name=gateway-${store}-${run}.cpuprofile`]
      : [];
    const gateway = await herald(["gateway"], gatewayEnv, prof);
    stops.push(() => gateway.stop());

    // One Web PubSub client per user, in this process.
    const service = new WebPubSubServiceClient(wpsConnection, "herald", { allowInsecureConnection: true });
    let received = 0;
    const latencies: number[] = [];
    let measuring = false;
    for (let u = 0; u < USERS; u++) {
      const { url } = await service.getClientAccessToken({ userId: `u${u}` });
      const client = new WebPubSubClient(url);
      client.on("server-message", (e) => {
        received++;
        if (measuring) latencies.push(Date.now() - (e.message.data as Frame).ts);
      });
      await client.start();
      clients.push(client);
    }
    const publisher = Publisher.fromConnectionString(busConnection);
    stops.push(() => publisher.close());

    await publishAll(publisher, 500, 0);
    await until(() => received >= 500, "warm-up frames");

    const pids: Record<string, number | undefined> = {
      servicebus: sb.child.pid,
      webpubsub: wps.child.pid,
      gateway: gateway.child.pid,
      clients: process.pid,
      ...(azuritePid ? { azurite: azuritePid } : {}),
    };
    const snapshot = (): Record<string, number> =>
      Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuMicros(pid)]));
    const cpuBefore = snapshot();
    const started = performance.now();
    await publishAll(publisher, NOTIFICATIONS, 1000);
    await until(() => received >= 500 + NOTIFICATIONS, "throughput frames");
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuPer(cpuBefore, snapshot(), NOTIFICATIONS);

    await sleep(500);
    const base = received;
    measuring = true;
    const sent = await publishAtRate(publisher, 1000 + NOTIFICATIONS, store === "table" ? TABLE_RATE : RATE);
    await until(() => received >= base + sent, "fixed-rate frames");
    const sorted = latencies.sort((a, b) => a - b);
    return {
      scenario: store,
      perSecond: NOTIFICATIONS / seconds,
      cpu,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      latencyCount: sorted.length,
    };
  } finally {
    for (const client of clients) client.stop();
    for (const stop of stops.reverse()) await stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: RunResult[] = [];
for (let run = 1; run <= RUNS; run++) {
  // Interleaved: each run measures every scenario, so drift on the shared machine hits all of them.
  for (const scenario of SCENARIOS) {
    const result =
      scenario === "baseline" ? await runBaseline() : await runGateway(scenario as "memory" | "table", run);
    results.push(result);
    process.stdout.write(`run ${run} ${JSON.stringify(result)}\n`);
  }
}

const fmt = (n: number | undefined, digits = 0): string =>
  n === undefined || Number.isNaN(n) ? "-" : n.toLocaleString("en-US", { maximumFractionDigits: digits });
const byScenario = (s: string): RunResult[] => results.filter((r) => r.scenario === s);
const baselineRate = SCENARIOS.includes("baseline")
  ? median(byScenario("baseline").map((r) => r.perSecond))
  : NaN;
const totalCpu = (r: RunResult): number => Object.values(r.cpu).reduce((a, b) => a + b, 0);
const label = (s: string): string =>
  s === "baseline" ? "baseline: bare send -> receive -> complete" : `gateway, ${s} store`;
const rows = SCENARIOS.map((s) => {
  const rs = byScenario(s);
  const rate = median(rs.map((r) => r.perSecond));
  const pick = (f: (r: RunResult) => number | undefined): number | undefined =>
    rs.every((r) => f(r) !== undefined) ? median(rs.map((r) => f(r)!)) : undefined;
  const total = pick(totalCpu);
  return `| ${label(s)} | ${fmt(rate)} | ${s === "baseline" ? "1" : fmt(rate / baselineRate, 2)} | ${fmt(
    pick((r) => r.cpu["gateway"] ?? r.cpu["consumer"]),
  )} | ${fmt(total)} | ${fmt(total ? 2e6 / total : undefined)} | ${fmt(pick((r) => r.p50))} | ${fmt(
    pick((r) => r.p99),
  )} |`;
});
const raw = results.map(
  (r) =>
    `| ${r.scenario} | ${fmt(r.perSecond)} | ${Object.entries(r.cpu)
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(", ")} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.latencyCount)} |`,
);
const cpuModel = os.cpus()[0]?.model.trim() ?? "unknown";
const settings = `concurrency ${CONCURRENCY ?? "default"}, prefetch ${PREFETCH ?? "default"}`;
writeFileSync(
  RESULTS,
  `# Gateway ingest: results

- command: \`npm run bench:gateway-ingest\` (BENCH_RUNS=${RUNS}, BENCH_NOTIFICATIONS=${NOTIFICATIONS}, BENCH_USERS=${USERS}, BENCH_RATE=${RATE}, BENCH_TABLE_RATE=${TABLE_RATE}, BENCH_RATE_SECONDS=${RATE_SECONDS}; gateway ${settings})
- machine: ${execSync("nproc").toString().trim()} cores (${cpuModel}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}; shared with other work while running (load average at the end: ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(", ")})
- date: ${new Date().toISOString()}

Medians of ${RUNS} interleaved runs. Throughput: ${NOTIFICATIONS.toLocaleString("en-US")} notifications published as fast as
the publisher goes (batches of 100, 4 in flight) until the last one reaches its Web PubSub client (baseline: until
the last is completed). CPU: µs of CPU time per notification during the throughput phase, of the consumer process
(the gateway, or the baseline's bare consumer) and of every process in the loop together (Service Bus emulator,
Web PubSub emulator, Azurite, gateway, and this process with the publisher and the clients); "2 cores / CPU" is the
rate the whole loop could reach if it had both cores to itself. Latency: enqueue time (the frame's \`ts\`) to
receipt at the client, at ${RATE}/s (table store: ${TABLE_RATE}/s) for ${RATE_SECONDS} s.

| scenario | notifications/s | vs baseline | consumer CPU µs/n | all processes CPU µs/n | 2 cores / CPU (n/s) | p50 ms | p99 ms |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join("\n")}

Every run:

| scenario | notifications/s | CPU µs/notification by process | p50 ms | p99 ms | latency samples |
| --- | ---: | --- | ---: | ---: | ---: |
${raw.join("\n")}
`,
);
process.stdout.write(`wrote ${RESULTS}\n`);
