/**
 * Runs a real Azurite (the `azurite` npm package) as a child process on loopback, in memory or on
 * disk, and stops it by its pid. Used by `herald start`, the integration tests and the benchmarks.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** Azurite's fixed development account; public, documented by Microsoft, not a secret. */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export type AzuriteService = "blob" | "queue" | "table";

export interface AzuriteOptions {
  /** Which services to run. Table only starts the lighter `azurite-table`. @default ["table"] */
  services?: AzuriteService[];
  /** How long to wait for the ports to accept connections. @default 20000 */
  timeoutMs?: number;
  /** Passes Azurite's own output through to this process's stderr (debugging). @default false */
  verbose?: boolean;
  /** Fixed ports per service (e.g. the usual 10000/10001/10002); free ports when absent. */
  ports?: Partial<Record<AzuriteService, number>>;
  /** Keep data in this folder across restarts; in memory when absent. */
  location?: string;
}

export interface RunningAzurite {
  /** e.g. `http://127.0.0.1:41875/devstoreaccount1` (path-style account). */
  tableUrl: string;
  blobUrl?: string;
  queueUrl?: string;
  /** A connection string naming every started service's endpoint. */
  connectionString: string;
  pid: number;
  /** Stops the process (SIGINT, then SIGKILL after 5 s) and removes its workspace. */
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);

/**
 * Preloaded into Azurite: exits when its parent (the test worker) is gone, so a crashed or killed test
 * run leaves no Azurite behind.
 */
const ORPHAN_GUARD =
  "--import=data:text/javascript,const p=process.ppid;" +
  "setInterval(()=>{if(process.ppid!==p)process.exit(0)},1000).unref();";

function azuriteScript(services: AzuriteService[]): string {
  const root = dirname(require.resolve("azurite/package.json"));
  const only = services.length === 1 ? services[0] : undefined;
  return join(root, "dist", "src", only ? `${only}/main.js` : "azurite.js");
}

/** A port the OS just handed out; it may be taken again before Azurite binds it, hence the retries. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    // SIGINT: azurite-table (table/main.js) closes its database, which saves the last writes, only on
    // SIGINT; on SIGTERM it dies at once and loses up to 5 s of writes (its autosave interval).
    child.kill("SIGINT");
  });
}

async function attempt(
  services: AzuriteService[],
  timeoutMs: number,
  verbose: boolean,
  fixed: Partial<Record<AzuriteService, number>>,
  location: string | undefined,
): Promise<RunningAzurite> {
  const ports: Partial<Record<AzuriteService, number>> = {};
  for (const service of services) ports[service] = fixed[service] || (await freePort());
  // Azurite writes debug and extent files under its workspace even in memory mode for some services.
  const workspace = location ?? mkdtempSync(join(tmpdir(), "herald-azurite-"));
  const args = [ORPHAN_GUARD, azuriteScript(services), "--skipApiVersionCheck", "--loose"];
  if (location) args.push("--location", location);
  else args.push("--inMemoryPersistence");
  args.push("--disableTelemetry", "--silent");
  for (const service of services) {
    args.push(`--${service}Host`, "127.0.0.1", `--${service}Port`, String(ports[service]));
  }
  const child = spawn(process.execPath, args, { cwd: workspace, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const collect = (d: Buffer): void => {
    output += d.toString();
    if (verbose) process.stderr.write(d);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const cleanup = async (): Promise<void> => {
    await stop(child);
    if (!location) rmSync(workspace, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`azurite exited early (${child.exitCode ?? child.signalCode}): ${output.trim()}`);
      }
      const up = await Promise.all(services.map((s) => canConnect(ports[s]!)));
      if (up.every(Boolean)) break;
      if (Date.now() > deadline)
        throw new Error(`azurite did not listen in ${timeoutMs} ms: ${output.trim()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  const url = (service: AzuriteService): string | undefined =>
    ports[service] === undefined ? undefined : `http://127.0.0.1:${ports[service]}/${AZURITE_ACCOUNT}`;
  const endpoints = services.map((s) => `${s[0]!.toUpperCase()}${s.slice(1)}Endpoint=${url(s)};`).join("");
  const running: RunningAzurite = {
    tableUrl: url("table") ?? "",
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};${endpoints}`,
    pid: child.pid!,
    close: cleanup,
  };
  const blob = url("blob");
  const queue = url("queue");
  if (blob) running.blobUrl = blob;
  if (queue) running.queueUrl = queue;
  return running;
}

/**
 * Starts Azurite in memory on free loopback ports and resolves once every port accepts connections.
 * Call `close()` when done (register it in afterAll right away).
 *
 * @example
 * const azurite = await startAzurite();
 * afterAll(() => azurite.close());
 * const client = TableClient.fromConnectionString(azurite.connectionString, "t", { allowInsecureConnection: true });
 */
export async function startAzurite(options: AzuriteOptions = {}): Promise<RunningAzurite> {
  const services = options.services ?? ["table"];
  if (services.length === 0) throw new Error("startAzurite needs at least one service");
  let last: unknown;
  // A port picked by freePort() can be taken by someone else before Azurite binds it.
  const tries = options.ports && Object.values(options.ports).some(Boolean) ? 1 : 3;
  for (let i = 0; i < tries; i++) {
    try {
      return await attempt(
        services,
        options.timeoutMs ?? 20_000,
        options.verbose ?? false,
        options.ports ?? {},
        options.location,
      );
    } catch (err) {
      last = err;
    }
  }
  throw last;
}
