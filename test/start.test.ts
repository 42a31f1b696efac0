import { execFileSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { startHerald, type RunningServer } from "./helpers/cli.js";
import { waitFor } from "./helpers/wait.js";

const FREE_PORTS = [
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
let running: RunningServer | undefined;
afterEach(async () => {
  await running?.stop("SIGKILL");
  running = undefined;
});

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

describe("herald start", () => {
  it("runs the whole stack, delivers a published notification, and leaves nothing behind on Ctrl-C", async () => {
    running = await startHerald(["start", "--memory", ...FREE_PORTS], { timeoutMs: 30_000 });
    const url = running.url;
    expect(running.stdout()).toMatch(
      /Service Bus\s+Endpoint=sb:\/\/localhost:\d+;.*UseDevelopmentEmulator=true;/,
    );
    expect(running.stdout()).toMatch(/curl -X POST http:\/\/localhost:\d+\/api\/notifications/);
    const lines = running.stdout().trimEnd().split("\n");
    expect(lines.at(-1)).toBe(`ready ${url}`);
    const helpers = children(running.child.pid!);
    expect(helpers.length).toBeGreaterThan(0); // Azurite runs as a child process

    const res = await fetch(`${url}/api/notifications`, {
      method: "POST",
      headers: { authorization: "Bearer herald-local-publish-key", "content-type": "application/json" },
      body: JSON.stringify({ type: "hello", to: { broadcast: true }, data: { text: "hi" } }),
    });
    expect(res.status).toBe(202);
    await waitFor(
      async () => /^herald_messages_completed_total 1$/m.test(await (await fetch(`${url}/metrics`)).text()),
      {
        message: "the notification to be consumed and completed",
      },
    );

    expect(await running.stop("SIGINT")).toBe(0);
    await waitFor(() => helpers.every((pid) => !alive(pid)), { message: "Azurite to exit" });
  });

  it("names the port and the flag when a port is taken", async () => {
    const first = await startHerald(["emulator", "webpubsub", "--port", "0"]);
    try {
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
    } finally {
      await first.stop();
    }
  });
});
