import { HeraldError } from "../core/errors.js";

/** One CLI command. `run` resolves to the process exit code. */
export interface Command {
  /** Words that select the command, e.g. ["emulator", "servicebus"]. */
  readonly path: readonly string[];
  readonly summary: string;
  /** Full help text printed by `--help`. */
  readonly usage: string;
  run(argv: string[]): Promise<number>;
}

/** Throws a usage error that the CLI prints as one line with a non-zero exit. */
export function usageError(message: string, target?: string): never {
  throw new HeraldError("HERALD_USAGE", message, target === undefined ? {} : { target });
}

/** Parses a TCP port argument (0 = any free port). */
export function parsePort(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535)
    usageError(`${flag} must be a port number 0-65535, got "${value}"`, flag);
  return port;
}

export interface Closable {
  close(): Promise<void>;
}

/**
 * Prints `ready <url>` and keeps the server running until SIGINT or SIGTERM, then closes it.
 * Resolves to the exit code.
 */
export function serveUntilSignal(server: Closable, url: string): Promise<number> {
  return new Promise((resolve) => {
    let closing = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (closing) return;
      closing = true;
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      server.close().then(
        () => resolve(0),
        (err: unknown) => {
          process.stderr.write(`herald: error while stopping after ${signal}: ${String(err)}\n`);
          resolve(1);
        },
      );
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    // Only now: a caller that signals as soon as it reads the line (stdout to a pipe is written
    // synchronously) must not find the default handler, which kills the process without cleanup.
    process.stdout.write(`ready ${url}\n`);
  });
}
