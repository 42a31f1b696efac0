/**
 * `herald tail` as a child process against `herald start --memory` on free ports: one JSON line per
 * notification on stdout over each transport, one-line errors and exit codes.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  HERALD_BIN,
  runHerald,
  startHerald,
  type RunningServer,
  START_FREE_PORTS as FREE_PORTS,
} from "./helpers/cli.js";
import { waitFor } from "./helpers/wait.js";

const PUBLISH_KEY = "herald-local-publish-key";

let stack: RunningServer | undefined;
const children: ChildProcess[] = [];

beforeAll(async () => {
  stack = await startHerald(["start", "--memory", ...FREE_PORTS], { timeoutMs: 30_000 });
}, 40_000);

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await stack?.stop("SIGINT");
});

interface Tail {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Spawns `herald tail …` without the test's HERALD_* environment (the dev secret comes from local.settings.json). */
function tail(args: string[]): Tail {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("HERALD_")));
  const child = spawn(process.execPath, [HERALD_BIN, "tail", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env,
  });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function publish(body: unknown): Promise<string> {
  const res = await fetch(`${stack!.url}/api/notifications`, {
    method: "POST",
    headers: { authorization: `Bearer ${PUBLISH_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { ids: string[] }).ids[0]!;
}

describe("herald tail", () => {
  it("prints each notification as one JSON line over each transport and exits 0 after --count", async () => {
    const transports = ["websocket", "sse", "long-polling"] as const;
    const tails = transports.map((t) =>
      tail([
        "--gateway",
        stack!.url,
        "--user",
        `tail-${t}`,
        "--groups",
        "ops",
        "--transport",
        t,
        "--count",
        "2",
      ]),
    );
    for (const [i, t] of tails.entries()) {
      await waitFor(() => t.stderr().includes(`connected (${transports[i]})`), {
        message: `tail over ${transports[i]} to connect`,
        timeoutMs: 20_000,
        onTimeout: async () => t.stderr(),
      });
    }
    const direct = await Promise.all(
      transports.map((t) => publish({ type: "order.shipped", to: { users: [`tail-${t}`] }, data: { t } })),
    );
    // To the group and to broadcast: each tail sees it once.
    const shared = await publish({
      type: "incident.opened",
      to: { groups: ["ops"], broadcast: true },
      data: { sev: 1 },
    });
    const codes = await Promise.all(tails.map((t) => t.exited));
    expect(codes).toEqual([0, 0, 0]);
    for (const [i, t] of tails.entries()) {
      const lines = t.stdout().trimEnd().split("\n");
      expect(lines).toHaveLength(2);
      const parsed = lines.map(
        (l) => JSON.parse(l) as { id: string; type: string; data: unknown; ts: number },
      );
      expect(parsed.map((n) => n.id).sort()).toEqual([direct[i], shared].sort());
      const own = parsed.find((n) => n.id === direct[i])!;
      expect(own).toEqual({
        id: direct[i],
        type: "order.shipped",
        data: { t: transports[i] },
        ts: expect.any(Number),
      });
    }
  });

  it("fails with one line and exit 1 when the gateway refuses the token", async () => {
    const t = tail(["--gateway", stack!.url, "--token", "not-a-jwt"]);
    expect(await t.exited).toBe(1);
    expect(t.stdout()).toBe("");
    const lines = t.stderr().trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^herald: HERALD_UNAUTHORIZED: negotiate: /);
  });

  it("fails with exit 1 when nothing connects in time, and exit 2 with a usage line for bad arguments", async () => {
    // Independent processes: run them side by side.
    const down = tail([
      "--gateway",
      "http://127.0.0.1:9",
      "--user",
      "x",
      "--connect-timeout",
      "1",
      "--quiet",
    ]);
    const [usage, badCount, help] = await Promise.all([
      runHerald(["tail", "--user", "a", "--transport", "pigeon"]),
      runHerald(["tail", "--user", "a", "--count", "0"]),
      runHerald(["tail", "--help"]),
    ]);
    expect(await down.exited).toBe(1);
    expect(down.stderr().trimEnd()).toMatch(
      /^herald: HERALD_CONNECT_FAILED: not connected to http:\/\/127\.0\.0\.1:9 within 1 s; last: negotiate: /,
    );
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe(
      'herald: HERALD_USAGE: --transport must be websocket, sse, long-polling; got "pigeon"\n',
    );
    expect(badCount.code).toBe(2);
    expect(badCount.stderr).toMatch(/^herald: HERALD_USAGE: --count must be a positive integer, got "0"\n$/);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: herald tail/);
  });
});
