/**
 * Service Bus emulator benchmark: the real @azure/service-bus client (this process) against the
 * emulator (a child process). Measures batch send, receive + complete, and the emulator's heap
 * with 100,000 queued 1 KB messages. Each figure is the median of several runs, each on a fresh
 * emulator. Writes bench/servicebus/results.md. See README.md.
 */
import { fork, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { ServiceBusClient, type ServiceBusMessage, type ServiceBusSender } from "@azure/service-bus";

const RUNS = Number(process.env["BENCH_RUNS"] ?? 3);
const MESSAGES = Number(process.env["BENCH_MESSAGES"] ?? 50_000);
const MEMORY_MESSAGES = Number(process.env["BENCH_MEMORY_MESSAGES"] ?? 100_000);
const RECEIVERS = Number(process.env["BENCH_RECEIVERS"] ?? 1);
const BATCH = Number(process.env["BENCH_BATCH"] ?? 1000);
const RESULTS = fileURLToPath(new URL("../../../bench/servicebus/results.md", import.meta.url));
const EMULATOR = fileURLToPath(new URL("./emulator-process.js", import.meta.url));

interface Memory {
  heapUsed: number;
  heapTotal: number;
  rss: number;
  external: number;
  arrayBuffers: number;
  gc: boolean;
}

interface Emulator {
  connectionString: string;
  memory(): Promise<Memory>;
  /** CPU time (user + system, µs) the emulator process has used so far. */
  cpu(): Promise<number>;
  stop(): Promise<void>;
}

function startEmulator(): Promise<Emulator> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = fork(EMULATOR, [], {
      execArgv: [
        "--expose-gc",
        ...(process.env["BENCH_PROF"] ? ["--cpu-prof", "--cpu-prof-dir=/tmp/sbprof"] : []),
      ],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error("emulator did not start"));
    }, 20_000);
    child.once("exit", (code) => reject(new Error(`emulator exited with ${code}`)));
    child.once("message", (msg: { type: string; connectionString: string }) => {
      clearTimeout(timer);
      resolve({
        connectionString: msg.connectionString,
        memory: () =>
          new Promise((res) => {
            child.once("message", (m: Memory) => res(m));
            child.send({ type: "memory" });
          }),
        cpu: () =>
          new Promise((res) => {
            child.once("message", (m: { micros: number }) => res(m.micros));
            child.send({ type: "cpu" });
          }),
        stop: () =>
          new Promise((res) => {
            child.removeAllListeners("exit");
            child.once("exit", () => res());
            child.send({ type: "stop" });
            setTimeout(() => child.kill("SIGKILL"), 5000).unref();
          }),
      });
    });
  });
}

/** Sends `n` messages in full batches, keeping a few batches in flight. */
async function sendAll(
  sender: ServiceBusSender,
  n: number,
  make: (i: number) => ServiceBusMessage,
): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  let batch = await sender.createMessageBatch();
  const flush = async (): Promise<void> => {
    const b = batch;
    batch = await sender.createMessageBatch();
    const p = sender.sendMessages(b).then(() => {
      inFlight.delete(p);
    });
    inFlight.add(p);
    if (inFlight.size >= 4) await Promise.race(inFlight);
  };
  for (let i = 0; i < n; i++) {
    const m = make(i);
    if (!batch.tryAddMessage(m)) {
      await flush();
      if (!batch.tryAddMessage(m)) throw new Error("message does not fit in an empty batch");
    }
  }
  if (batch.count > 0) await flush();
  await Promise.all(inFlight);
}

interface Throughput {
  send: number;
  receiveComplete: number;
  overall: number;
  /** CPU µs per message (send + receive + complete) spent by the emulator and by the client. */
  emulatorCpuPerMessage: number;
  clientCpuPerMessage: number;
}

async function throughput(bodySize: number, n: number): Promise<Throughput> {
  const emulator = await startEmulator();
  const client = new ServiceBusClient(emulator.connectionString);
  try {
    // A JSON string whose encoding is exactly `bodySize` bytes (Herald's payloads are JSON; the
    // client JSON-decodes every body it receives).
    const body = "a".repeat(bodySize - 2);
    const sender = client.createSender("bench");
    // Open and warm up every link outside the measurement (link setup costs a CBS round trip).
    await sender.sendMessages({ body });
    const receivers = Array.from({ length: RECEIVERS }, () =>
      client.createReceiver("bench", { maxAutoLockRenewalDurationInMs: 0 }),
    );
    for (const r of receivers) {
      for (const m of await r.receiveMessages(1, { maxWaitTimeInMs: 200 })) await r.completeMessage(m);
    }

    const cpu0 = await emulator.cpu();
    const own0 = process.cpuUsage();
    const t0 = performance.now();
    await sendAll(sender, n, () => ({ body }));
    const t1 = performance.now();
    let received = 0;
    await Promise.all(
      receivers.map(async (receiver) => {
        while (received < n) {
          const msgs = await receiver.receiveMessages(Math.min(BATCH, n - received), {
            maxWaitTimeInMs: 1000,
          });
          received += msgs.length;
          await Promise.all(msgs.map((m) => receiver.completeMessage(m)));
        }
      }),
    );
    const t2 = performance.now();
    const own = process.cpuUsage(own0);
    const cpu1 = await emulator.cpu();
    if (received !== n) throw new Error(`received ${received} of ${n}`);
    return {
      send: n / ((t1 - t0) / 1000),
      receiveComplete: n / ((t2 - t1) / 1000),
      overall: n / ((t2 - t0) / 1000),
      emulatorCpuPerMessage: (cpu1 - cpu0) / n,
      clientCpuPerMessage: (own.user + own.system) / n,
    };
  } finally {
    await client.close();
    await emulator.stop();
  }
}

async function memory(n: number): Promise<{ before: Memory; after: Memory }> {
  const emulator = await startEmulator();
  const client = new ServiceBusClient(emulator.connectionString);
  try {
    const before = await emulator.memory();
    const body = "b".repeat(1022);
    await sendAll(client.createSender("memory"), n, (i) => ({ body, messageId: `m-${i}` }));
    const after = await emulator.memory();
    const peek = await client.createReceiver("memory").peekMessages(1);
    if (peek.length !== 1) throw new Error("messages are not queued");
    return { before, after };
  } finally {
    await client.close();
    await emulator.stop();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const mb = (b: number): string => (b / 1024 / 1024).toFixed(1);
const rate = (r: number): string => Math.round(r).toLocaleString("en-US");

async function main(): Promise<void> {
  const rows: string[] = [];
  const raw: string[] = [];
  for (const size of [100, 4096]) {
    const runs: Throughput[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await throughput(size, MESSAGES);
      runs.push(r);
      process.stdout.write(
        `${size} B run ${i + 1}: send ${rate(r.send)}/s, receive+complete ${rate(r.receiveComplete)}/s, overall ${rate(r.overall)}/s; ` +
          `CPU per message: emulator ${r.emulatorCpuPerMessage.toFixed(1)} µs, client ${r.clientCpuPerMessage.toFixed(1)} µs\n`,
      );
      raw.push(
        `| ${size} B | ${i + 1} | ${rate(r.send)} | ${rate(r.receiveComplete)} | ${rate(r.overall)} | ` +
          `${r.emulatorCpuPerMessage.toFixed(1)} | ${r.clientCpuPerMessage.toFixed(1)} |`,
      );
    }
    rows.push(
      `| ${size} B | ${rate(median(runs.map((r) => r.send)))} | ${rate(median(runs.map((r) => r.receiveComplete)))} | ${rate(median(runs.map((r) => r.overall)))} | ` +
        `${median(runs.map((r) => r.emulatorCpuPerMessage)).toFixed(1)} | ${median(runs.map((r) => r.clientCpuPerMessage)).toFixed(1)} |`,
    );
  }
  const mems: Array<{ before: Memory; after: Memory }> = [];
  for (let i = 0; i < RUNS; i++) {
    const m = await memory(MEMORY_MESSAGES);
    mems.push(m);
    process.stdout.write(
      `memory run ${i + 1}: heapUsed ${mb(m.after.heapUsed)} MB, rss ${mb(m.after.rss)} MB, buffers ${mb(m.after.arrayBuffers)} MB\n`,
    );
  }
  const med = (f: (m: { before: Memory; after: Memory }) => number): string => mb(median(mems.map(f)));
  const cpu = os.cpus()[0]?.model ?? "unknown";
  const out = `# Service Bus emulator benchmark results

Generated by \`npm run bench:servicebus\` (bench/servicebus/run.ts) on ${new Date().toISOString().slice(0, 10)}.

Machine: ${os.cpus().length} cores (\`nproc\`: ${os.availableParallelism()}), ${cpu}, ${mb(os.totalmem())} MB RAM, Node ${process.version}, ${os.platform()} ${os.release()}.
The machine was shared with other workloads while this ran (load average ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(
      " / ",
    )} at the end), so wall-clock figures are noisy; each is the median of ${RUNS} runs, every run on a fresh emulator process.

## Throughput (messages per second, real @azure/service-bus client in another process)

${MESSAGES.toLocaleString("en-US")} messages per run (JSON string bodies): sent in full batches (createMessageBatch, up to 4 batches in flight), then received in peek-lock by ${RECEIVERS} receiver(s) calling receiveMessages for up to ${BATCH} at a time and completing every message. Links are opened before the clock starts. CPU columns: CPU time per message (send + receive + complete) used by the emulator process and by the client process; 10^6 / that figure is what one dedicated core could sustain.

| body | send (msg/s) | receive + complete (msg/s) | overall send + receive + complete (msg/s) | emulator CPU (µs/msg) | client CPU (µs/msg) |
| --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

All runs:

| body | run | send | receive + complete | overall | emulator µs/msg | client µs/msg |
| --- | --- | --- | --- | --- | --- | --- |
${raw.join("\n")}

## Memory: ${MEMORY_MESSAGES.toLocaleString("en-US")} queued 1 KB messages

Emulator process after a full GC (\`--expose-gc\`), medians of ${RUNS} runs. Message bodies are kept as Buffers, which count in \`arrayBuffers\`/\`rss\`, not in the V8 heap.

| | empty emulator | with ${MEMORY_MESSAGES.toLocaleString("en-US")} messages |
| --- | --- | --- |
| heapUsed (MB) | ${med((m) => m.before.heapUsed)} | ${med((m) => m.after.heapUsed)} |
| arrayBuffers (MB) | ${med((m) => m.before.arrayBuffers)} | ${med((m) => m.after.arrayBuffers)} |
| rss (MB) | ${med((m) => m.before.rss)} | ${med((m) => m.after.rss)} |
`;
  writeFileSync(RESULTS, out);
  process.stdout.write(`\nwrote ${RESULTS}\n`);
}

await main();
