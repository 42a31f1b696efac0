import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { afterEach, describe, expect, it } from "vitest";
import { runHerald, startHerald, type RunningServer, START_FREE_PORTS as FREE_PORTS } from "./helpers/cli.js";
import { waitFor } from "./helpers/wait.js";

const running: RunningServer[] = [];
const tempDirs: string[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop("SIGKILL");
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(args: string[]): Promise<RunningServer> {
  const server = await startHerald(["start", ...args, ...FREE_PORTS], { timeoutMs: 40_000 });
  running.push(server);
  return server;
}

function children(pid: number): number[] {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" })
      .split("\n")
      .map((s) => Number(s.trim()))
      .filter((n) => n > 0);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops with Ctrl-C's signal and checks that the process and every child it had are gone. */
async function interrupt(server: RunningServer): Promise<void> {
  const pid = server.child.pid!;
  const helpers = children(pid);
  expect(await server.stop("SIGINT")).toBe(0);
  await waitFor(() => [pid, ...helpers].every((p) => !alive(p)), { message: "every process to exit" });
}

function serviceBusConnection(server: RunningServer): string {
  const m = /Service Bus\s+(Endpoint=sb:\/\/\S+)/.exec(server.stdout());
  expect(m, server.stdout()).not.toBeNull();
  return m![1]!;
}

async function herald(...args: string[]): Promise<string> {
  const r = await runHerald(args);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trimEnd().split("\n").at(-1)!;
}

/** What the user's streams hold, through negotiate and GET /api/streams with a dev token. */
async function streamFrames(
  gateway: string,
  user: string,
): Promise<{ id: string; data: unknown; offset: number; stream: string }[]> {
  const token = await herald("token", "--user", user);
  const negotiate = await fetch(`${gateway}/api/negotiate`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
  });
  expect(negotiate.status).toBe(200);
  const { streamsUrl } = (await negotiate.json()) as { streamsUrl: string };
  const res = await fetch(streamsUrl);
  expect(res.status).toBe(200);
  return ((await res.json()) as { frames: { id: string; data: unknown; offset: number; stream: string }[] })
    .frames;
}

describe("herald start", () => {
  it("runs the whole stack: herald publish (Service Bus and HTTP), consumption, dashboard, dead letters; Ctrl-C leaves nothing", async () => {
    const stack = await start(["--memory"]);
    const url = stack.url;
    expect(stack.stdout()).toMatch(
      /Service Bus\s+Endpoint=sb:\/\/localhost:\d+;.*UseDevelopmentEmulator=true;/,
    );
    expect(stack.stdout()).toMatch(/curl -X POST http:\/\/localhost:\d+\/api\/notifications/);
    expect(stack.stdout()).toContain(`dashboard        ${url}/dashboard`);
    const lines = stack.stdout().trimEnd().split("\n");
    expect(lines.at(-1)).toBe(`ready ${url}`);
    expect(children(stack.child.pid!).length).toBeGreaterThan(0); // Azurite runs as a child process
    const bus = serviceBusConnection(stack);

    // The sample curl from the banner.
    const res = await fetch(`${url}/api/notifications`, {
      method: "POST",
      headers: { authorization: "Bearer herald-local-publish-key", "content-type": "application/json" },
      body: JSON.stringify({ type: "hello", to: { broadcast: true }, data: { text: "hi" } }),
    });
    expect(res.status).toBe(202);

    const direct = await herald(
      "publish",
      "--servicebus",
      bus,
      "--user",
      "alice",
      "--type",
      "greeting",
      '{"via":"bus"}',
    );
    const publisherToken = await herald("token", "--publisher");
    const overHttp = await herald(
      "publish",
      "--gateway",
      url,
      "--token",
      publisherToken,
      "--user",
      "alice",
      "--type",
      "greeting",
      '"via http"',
    );
    await waitFor(
      async () => (await streamFrames(url, "alice")).filter((f) => f.stream === "user:alice").length === 2,
      {
        message: "both notifications in alice's stream",
        timeoutMs: 20_000,
      },
    );
    const frames = (await streamFrames(url, "alice")).filter((f) => f.stream === "user:alice");
    expect(frames.map((f) => [f.id, f.data])).toEqual([
      [direct, { via: "bus" }],
      [overHttp, "via http"],
    ]);

    // An invalid message straight on the topic is dead-lettered with its reason.
    const client = new ServiceBusClient(bus);
    try {
      await client.createSender("notifications").sendMessages({
        messageId: "bad-1",
        subject: "x",
        contentType: "application/json",
        body: { type: "x", to: {}, data: 1 },
      });
    } finally {
      await client.close();
    }
    await waitFor(
      async () =>
        /"reason": "InvalidNotification"/.test(
          (await runHerald(["dlq", "list", "--json", "--servicebus", bus, "--subscription", "gateway"]))
            .stdout,
        ),
      {
        message: "the invalid message on the dead-letter queue",
        timeoutMs: 20_000,
      },
    );

    // The dashboard, its script and the stats it draws.
    const page = await fetch(`${url}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThan(0);
    for (const asset of assets) {
      const a = await fetch(new URL(asset, `${url}/dashboard`));
      expect(a.status, asset).toBe(200);
    }
    await waitFor(
      async () => {
        const stats = (await (await fetch(`${url}/api/stats`)).json()) as {
          counters: { completed: number; deadLettered: number };
          deadLetterQueue: number | null;
        };
        return (
          stats.counters.completed >= 3 && stats.counters.deadLettered === 1 && stats.deadLetterQueue === 1
        );
      },
      { message: "/api/stats to count 3 delivered and 1 dead-lettered", timeoutMs: 20_000 },
    );

    await interrupt(stack);
  });

  /**
   * Persistence: the gateway is down while a notification is published. `--no-gateway` runs the
   * emulators and Azurite on the same data folder with nothing consuming, so the notification is
   * really published while no gateway runs and waits in Service Bus; the next `herald start`
   * delivers it, after the one from the first run, in the same stream.
   */
  it("delivers after a restart what was published while the gateway was down; streams survive", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "herald-start-"));
    tempDirs.push(dataDir);

    const first = await start(["--data-dir", dataDir]);
    const before = await herald(
      "publish",
      "--servicebus",
      serviceBusConnection(first),
      "--user",
      "bob",
      "--type",
      "t",
      '"before"',
    );
    await waitFor(async () => (await streamFrames(first.url, "bob")).some((f) => f.id === before), {
      message: "the first notification delivered",
      timeoutMs: 20_000,
    });
    await interrupt(first);

    const noGateway = await start(["--data-dir", dataDir, "--no-gateway"]);
    expect(noGateway.url).toMatch(/^amqp:\/\/localhost:\d+$/);
    const whileDown = await herald(
      "publish",
      "--servicebus",
      serviceBusConnection(noGateway),
      "--user",
      "bob",
      "--type",
      "t",
      '"while down"',
    );
    await interrupt(noGateway);

    const again = await start(["--data-dir", dataDir]);
    await waitFor(async () => (await streamFrames(again.url, "bob")).some((f) => f.id === whileDown), {
      message: "the notification published while the gateway was down",
      timeoutMs: 20_000,
    });
    const frames = (await streamFrames(again.url, "bob")).filter((f) => f.stream === "user:bob");
    expect(frames.map((f) => [f.id, f.offset, f.data])).toEqual([
      [before, 1, "before"],
      [whileDown, 2, "while down"],
    ]);
    await interrupt(again);
  });

  it("names the port and the flag when a port is taken", async () => {
    const first = await startHerald(["emulator", "webpubsub", "--port", "0"]);
    running.push(first);
    const port = new URL(first.url).port;
    const r = await startHerald([
      "start",
      "--memory",
      ...FREE_PORTS.slice(0, 6),
      "--webpubsub-port",
      port,
      "--table-port",
      "0",
    ]).then(
      () => "started",
      (err: Error) => err.message,
    );
    expect(r).toMatch(
      new RegExp(
        `HERALD_PORT_IN_USE: Web PubSub emulator: port ${port} is in use; choose another with --webpubsub-port`,
      ),
    );
  });
});
