import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/** `herald start` flags that put every part on a free port. */
export const START_FREE_PORTS: readonly string[] = [
  "--port",
  "0",
  "--servicebus-port",
  "0",
  "--management-port",
  "0",
  "--webpubsub-port",
  "0",
  "--table-port",
  "0",
];

export const HERALD_BIN = fileURLToPath(new URL("../../bin/herald.js", import.meta.url));

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `herald …` to completion (bounded by `timeoutMs`). */
export function runHerald(
  args: string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HERALD_BIN, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`herald ${args.join(" ")} did not exit in time; stderr: ${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

export interface RunningServer {
  child: ChildProcess;
  /** The URL from the `ready <url>` line. */
  url: string;
  stdout: () => string;
  stderr: () => string;
  /** Sends a signal and resolves with the exit code once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts a long-running `herald …` server and resolves once it prints `ready <url>`. */
export function startHerald(
  args: string[],
  options: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HERALD_BIN, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...options.env },
    });
    let stdout = "";
    let stderr = "";
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const server: RunningServer = {
      child,
      url: "",
      stdout: () => stdout,
      stderr: () => stderr,
      async stop(signal = "SIGTERM") {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        return exited;
      },
    };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`herald ${args.join(" ")} printed no ready line; stderr: ${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      const m = /^ready (\S+)$/m.exec(stdout);
      if (m && server.url === "") {
        clearTimeout(timer);
        server.url = m[1]!;
        resolve(server);
      }
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (server.url === "")
        reject(new Error(`herald ${args.join(" ")} exited with ${code}; stderr: ${stderr}`));
    });
  });
}
