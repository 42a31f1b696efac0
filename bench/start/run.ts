/**
 * Time from spawning `herald start` to its `ready <url>` line (and from Ctrl-C to exit), in memory
 * and persistent (a fresh data folder, then a restart on the same folder with data in it). The runs
 * of the modes are interleaved so load from other work on the machine spreads over all of them.
 * Writes results.md beside this file.
 *
 *   npm run bench:start     # BENCH_RUNS=5 by default
 */
import { execSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { START_FREE_PORTS as FREE_PORTS } from "../../test/helpers/cli.js";

const BIN = fileURLToPath(new URL("../../../bin/herald.js", import.meta.url));
const RESULTS = fileURLToPath(new URL("../../../bench/start/results.md", import.meta.url));
const runs = Number(process.env.BENCH_RUNS ?? 5);
const LIMIT_MS = 60_000;

interface Timing {
  readyMs: number;
  stopMs: number;
}

/** Spawns `herald start`, waits for `ready`, publishes nothing, sends SIGINT and waits for exit. */
function once(args: string[]): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, "start", ...args, ...FREE_PORTS], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    let readyMs = -1;
    let stopAt = 0;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`no ready line in ${LIMIT_MS} ms: ${err}`));
    }, LIMIT_MS);
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (readyMs < 0 && /^ready \S+$/m.test(out)) {
        readyMs = performance.now() - started;
        stopAt = performance.now();
        child.kill("SIGINT");
      }
    });
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (readyMs < 0 || code !== 0) reject(new Error(`herald start exited with ${code}: ${err}`));
      else resolve({ readyMs, stopMs: performance.now() - stopAt });
    });
  });
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const modes = {
  "--memory": [] as Timing[],
  "persistent, fresh data folder": [] as Timing[],
  "persistent, restart on the same folder": [] as Timing[],
};

for (let i = 0; i < runs; i++) {
  modes["--memory"].push(await once(["--memory"]));
  const dir = mkdtempSync(join(tmpdir(), "herald-bench-start-"));
  try {
    modes["persistent, fresh data folder"].push(await once(["--data-dir", dir]));
    modes["persistent, restart on the same folder"].push(await once(["--data-dir", dir]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`run ${i + 1}/${runs} done\n`);
}

const cpu = cpus()[0]?.model ?? "unknown CPU";
const machine = `${cpus().length} cores (nproc ${execSync("nproc").toString().trim()}), ${cpu}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, ${process.platform}`;
const rows = Object.entries(modes).map(
  ([mode, t]) =>
    `| ${mode} | ${median(t.map((x) => x.readyMs)).toFixed(0)} | ${t.map((x) => x.readyMs.toFixed(0)).join(", ")} | ${median(t.map((x) => x.stopMs)).toFixed(0)} |`,
);
const report = `# \`herald start\`: time to ready

Command: \`npm run bench:start\` (BENCH_RUNS=${runs}); every part on a free port (\`--port 0\` …) so the run
does not clash with anything on the default ports.
Date: ${new Date().toISOString()}
Machine: ${machine}

Time from spawning \`node bin/herald.js start\` to its \`ready <url>\` line (Service Bus emulator, Web PubSub
emulator, Azurite as a child process, gateway consuming), then from SIGINT to the process's exit.
Target: ready in under 5 s on a 2-core machine.

| mode | ready, median ms | ready, each run ms | stop, median ms |
| --- | ---: | --- | ---: |
${rows.join("\n")}
`;
writeFileSync(RESULTS, report);
process.stdout.write(report);
