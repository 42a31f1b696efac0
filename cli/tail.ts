import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { EventSource } from "eventsource";
import WebSocket from "ws";
import { connect } from "../client/index.js";
import type { TransportName } from "../core/live.js";
import type { HeraldError } from "../core/errors.js";
import { signDevToken } from "../gateway/auth/tokens.js";
import { usageError, type Command } from "./command.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TRANSPORTS: readonly TransportName[] = ["websocket", "sse", "long-polling"];

/** The local development secret: HERALD_JWT_SECRET, else local.settings.json's. */
function devSecret(): string {
  const fromEnv = process.env.HERALD_JWT_SECRET;
  if (fromEnv) return fromEnv;
  try {
    const parsed = JSON.parse(readFileSync(join(ROOT, "local.settings.json"), "utf8")) as {
      Values?: Record<string, string>;
    };
    const secret = parsed.Values?.HERALD_JWT_SECRET;
    if (secret) return secret;
  } catch {
    // reported below
  }
  usageError(
    "--user needs HERALD_JWT_SECRET (environment or local.settings.json) to sign a dev token",
    "--user",
  );
}

function parseTransports(values: string[] | undefined): TransportName[] | undefined {
  if (!values) return undefined;
  const names = values.flatMap((v) => v.split(",")).map((v) => v.trim());
  for (const name of names) {
    if (!TRANSPORTS.includes(name as TransportName)) {
      usageError(`--transport must be ${TRANSPORTS.join(", ")}; got "${name}"`, "--transport");
    }
  }
  return names as TransportName[];
}

function positive(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1)
    usageError(`${flag} must be a positive integer, got "${value}"`, flag);
  return Number(value);
}

export const tailCommand: Command = {
  path: ["tail"],
  summary: "Print notifications as they arrive (the client library in a terminal)",
  usage: `Usage: herald tail [--gateway URL] (--token JWT | --user ID [--groups a,b])
                   [--transport websocket,sse,long-polling] [--count N] [--connect-timeout S]
                   [--cursor C] [--quiet]

Connects to a gateway with the client library and prints each notification once, as one JSON line
on stdout: {"id":"…","type":"…","data":…,"ts":…}. Connection state, transport and retried failures
go to stderr, so scripts can read stdout line by line.

Options:
  --gateway URL          the gateway (default http://localhost:3000)
  --token JWT            an application JWT for negotiate
  --user ID              instead of --token: sign a dev token for this user with HERALD_JWT_SECRET
                         (environment, else local.settings.json)
  --groups a,b           the dev token's groups (with --user)
  --transport LIST       transports to use, in order (repeatable or comma-separated;
                         default websocket,sse,long-polling)
  --count N              exit after N notifications
  --connect-timeout S    give up when not connected within S seconds (default 15)
  --cursor C             resume from a cursor printed earlier (on stderr at exit)
  --quiet                nothing on stderr but errors

Exit status: 0 after --count notifications or on Ctrl-C; 1 when the gateway refuses the token or no
transport connects in time; 2 for bad arguments.`,
  async run(argv) {
    let values;
    try {
      ({ values } = parseArgs({
        args: argv,
        strict: true,
        allowPositionals: false,
        options: {
          gateway: { type: "string" },
          token: { type: "string" },
          user: { type: "string" },
          groups: { type: "string" },
          transport: { type: "string", multiple: true },
          count: { type: "string" },
          "connect-timeout": { type: "string" },
          cursor: { type: "string" },
          quiet: { type: "boolean" },
        },
      }));
    } catch (err) {
      usageError(err instanceof Error ? err.message : String(err));
    }
    const gateway = values.gateway ?? "http://localhost:3000";
    if (!/^https?:\/\/[^\s]+$/.test(gateway))
      usageError(`--gateway must be an http(s) URL, got "${gateway}"`, "--gateway");
    if (values.token !== undefined && values.user !== undefined)
      usageError("give --token or --user, not both");
    if (values.token === undefined && values.user === undefined) usageError("give --token JWT or --user ID");
    if (values.groups !== undefined && values.user === undefined)
      usageError("--groups needs --user", "--groups");
    const transports = parseTransports(values.transport);
    const count = positive(values.count, "--count");
    const connectTimeoutS = positive(values["connect-timeout"], "--connect-timeout") ?? 15;
    const user = values.user;
    const groups =
      values.groups
        ?.split(",")
        .map((g) => g.trim())
        .filter(Boolean) ?? [];
    const secret = user === undefined ? undefined : devSecret();
    const token =
      user === undefined || secret === undefined
        ? (values.token ?? "")
        : () => signDevToken(secret, { userId: user, groups });
    const status = (line: string): void => {
      if (!values.quiet) process.stderr.write(`${line}\n`);
    };

    const herald = connect({
      gateway,
      token,
      transports,
      cursor: values.cursor,
      WebSocket,
      EventSource,
      fetch,
      storage: null,
      environment: null,
    });

    return new Promise<number>((resolve) => {
      let printed = 0;
      let lastError: HeraldError | undefined;
      let finished = false;
      const finish = (code: number, message?: string): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        herald.close();
        if (message) process.stderr.write(`${message}\n`);
        if (herald.cursor) status(`cursor ${herald.cursor}`);
        // Let stdout drain before the exit code is handed back.
        process.stdout.write("", () => resolve(code));
      };
      const onSignal = (): void => finish(0);
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      const timer = setTimeout(() => {
        if (herald.state !== "connected") {
          const why = lastError ? `; last: ${lastError.message}` : "";
          finish(
            1,
            `herald: HERALD_CONNECT_FAILED: not connected to ${gateway} within ${connectTimeoutS} s${why}`,
          );
        }
      }, connectTimeoutS * 1000);

      herald.on("*", (n) => {
        if (finished) return;
        process.stdout.write(`${JSON.stringify(n)}\n`);
        if (count !== undefined && ++printed >= count) finish(0);
      });
      herald.on("state", (state) => {
        if (state === "closed") {
          finish(
            1,
            `herald: ${lastError ? `${lastError.code}: ${lastError.message}` : "the connection closed"}`,
          );
          return;
        }
        status(`${state}${state === "connected" ? ` (${herald.transport})` : ""}`);
      });
      herald.on("error", (err) => {
        lastError = err;
        // A fatal error closes the client right after this event: then `finish` reports it instead.
        queueMicrotask(() => {
          if (!finished) status(`retrying after ${err.code}: ${err.message}`);
        });
      });
      herald.on("not-recovered", (m) =>
        status(`not recovered: ${m.stream} ${m.after + 1}..${m.resumeAfter} (${m.reason})`),
      );
    });
  },
};
