/**
 * Appends per second for the memory and Table (Azurite) stream stores. Bounded: every scenario stops
 * after its append count or its time limit, whichever comes first. Writes results.md beside this file.
 *
 *   npm run build && npx tsc -p bench/stream-store/tsconfig.json && node dist/bench/stream-store/run.js [--runs 3] [--quick]
 */
import { execSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { MemoryStreamStore } from "../../gateway/store/memory.js";
import { TableStreamStore } from "../../gateway/store/table.js";
import type { StreamStore, StreamStoreStats } from "../../gateway/store/types.js";
import { startAzurite, type RunningAzurite } from "../../emulator/azurite.js";

interface Scenario {
  name: string;
  kind: "memory" | "table";
  /** Streams the appends are spread over, round-robin. */
  streams: number;
  /** Appends in flight at once (per replica). */
  concurrency: number;
  /** Store instances sharing the storage (gateway replicas). */
  replicas: number;
  count: number;
  timeLimitMs: number;
}

interface RunResult {
  perSecond: number;
  appended: number;
  failed: number;
  elapsedMs: number;
  conflicts: number;
}

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf("--runs") + 1] ?? 3) || 3;
const quick = args.includes("--quick");
const scale = quick ? 0.1 : 1;

const scenarios: Scenario[] = [
  {
    name: "memory, 1 stream",
    kind: "memory",
    streams: 1,
    concurrency: 1,
    replicas: 1,
    count: 200_000,
    timeLimitMs: 20_000,
  },
  {
    name: "memory, 1000 streams",
    kind: "memory",
    streams: 1000,
    concurrency: 1,
    replicas: 1,
    count: 200_000,
    timeLimitMs: 20_000,
  },
  {
    name: "table, 1 stream, 1 in flight",
    kind: "table",
    streams: 1,
    concurrency: 1,
    replicas: 1,
    count: 500,
    timeLimitMs: 20_000,
  },
  {
    name: "table, 1 stream, 32 in flight",
    kind: "table",
    streams: 1,
    concurrency: 32,
    replicas: 1,
    count: 3000,
    timeLimitMs: 30_000,
  },
  {
    name: "table, 100 streams, 32 in flight",
    kind: "table",
    streams: 100,
    concurrency: 32,
    replicas: 1,
    count: 3000,
    timeLimitMs: 30_000,
  },
  {
    name: "table, 1 stream, 2 replicas x 16 in flight",
    kind: "table",
    streams: 1,
    concurrency: 16,
    replicas: 2,
    count: 3000,
    timeLimitMs: 30_000,
  },
  {
    name: "table, 1 stream, 4 replicas x 8 in flight",
    kind: "table",
    streams: 1,
    concurrency: 8,
    replicas: 4,
    count: 3000,
    timeLimitMs: 30_000,
  },
];

const data = { order: 12345, status: "shipped", items: [{ sku: "A-1", qty: 2 }], note: "x".repeat(120) };

let tables = 0;
async function openStores(scenario: Scenario, azurite: RunningAzurite | undefined): Promise<StreamStore[]> {
  if (scenario.kind === "memory") return [new MemoryStreamStore({ sweepIntervalMs: 0 })];
  const tableName = `bench${process.pid}x${++tables}`;
  const stores: StreamStore[] = [];
  for (let i = 0; i < scenario.replicas; i++) {
    stores.push(
      await TableStreamStore.open(
        { connectionString: azurite!.connectionString },
        { tableName, sweepIntervalMs: 0 },
      ),
    );
  }
  return stores;
}

async function runOnce(
  scenario: Scenario,
  azurite: RunningAzurite | undefined,
  run: number,
): Promise<RunResult> {
  const stores = await openStores(scenario, azurite);
  const count = Math.max(1, Math.round(scenario.count * scale));
  const streams = Array.from({ length: scenario.streams }, (_, i) => `group:g${i}`);
  let next = 0;
  let appended = 0;
  let failed = 0;
  const start = performance.now();
  const deadline = start + scenario.timeLimitMs;
  const worker = async (store: StreamStore, w: number): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= count || performance.now() > deadline) return;
      try {
        await store.append({ id: `r${run}-${i}-${w}`, type: "order.shipped", data, ts: Date.now() }, [
          streams[i % streams.length]!,
        ]);
        appended++;
      } catch (err) {
        // The gateway would abandon the message and get it again; count it and go on.
        failed++;
        if (failed === 1) console.error(`${scenario.name}: ${(err as Error).message}`);
      }
    }
  };
  const workers: Promise<void>[] = [];
  for (const [r, store] of stores.entries()) {
    for (let w = 0; w < scenario.concurrency; w++) workers.push(worker(store, r * 1000 + w));
  }
  await Promise.all(workers);
  const elapsedMs = performance.now() - start;
  // Every offset must be there once: a benchmark that lost frames would measure the wrong thing.
  let total = 0;
  for (const stream of streams) total += (await stores[0]!.read(stream, 0, 1)).head;
  if (total !== appended) throw new Error(`${scenario.name}: ${appended} appends but heads sum to ${total}`);
  const stats: StreamStoreStats[] = stores.map((s) => s.stats());
  await Promise.all(stores.map((s) => s.close()));
  return {
    perSecond: (appended / elapsedMs) * 1000,
    appended,
    failed,
    elapsedMs,
    conflicts: stats.reduce((sum, s) => sum + s.conflicts, 0),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const azurite = scenarios.some((s) => s.kind === "table") ? await startAzurite() : undefined;
  const lines: string[] = [];
  try {
    for (const scenario of scenarios) {
      const results: RunResult[] = [];
      for (let run = 0; run < runs; run++) results.push(await runOnce(scenario, azurite, run));
      const perSecond = results.map((r) => r.perSecond);
      const line =
        `| ${scenario.name} | ${Math.round(median(perSecond))} | ${perSecond.map((v) => Math.round(v)).join(", ")} | ` +
        `${results.map((r) => r.appended).join(", ")} | ${results.map((r) => r.conflicts).join(", ")} | ${results.map((r) => r.failed).join(", ")} |`;
      console.log(line);
      lines.push(line);
    }
  } finally {
    await azurite?.close();
  }
  const cpu = cpus()[0]?.model ?? "unknown";
  const azuriteVersion = execSync("node -p \"require('azurite/package.json').version\"", {
    encoding: "utf8",
  }).trim();
  const report = [
    "# Stream store benchmark results",
    "",
    `- command: \`npm run build && npx tsc -p bench/stream-store/tsconfig.json && node dist/bench/stream-store/run.js${args.length > 0 ? ` ${args.join(" ")}` : ""}\``,
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpus().length} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}, Azurite ${azuriteVersion} (in memory, loopback)`,
    `- runs per scenario: ${runs}${quick ? " (quick: counts scaled by 0.1)" : ""}`,
    "",
    "| scenario | median appends/s | each run | appends per run | conflicts per run | failed appends per run |",
    "| --- | --- | --- | --- | --- | --- |",
    ...lines,
    "",
  ].join("\n");
  // Results live beside the source; hand-written notes after "## Notes" are kept.
  const file = new URL("./results.md", import.meta.url.replace("/dist/bench/", "/bench/"));
  const previous = existsSync(file) ? readFileSync(file, "utf8") : "";
  const notes = previous.indexOf("\n## Notes");
  writeFileSync(file, notes >= 0 ? report + previous.slice(notes) : report);
}

await main();
