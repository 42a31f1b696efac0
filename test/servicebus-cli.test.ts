import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { afterEach, describe, expect, it } from "vitest";
import { emulatorConnectionString } from "../emulator/servicebus/index.js";
import { runHerald, startHerald, type RunningServer } from "./helpers/cli.js";
import { FAST_RETRY, FROM_START } from "./helpers/servicebus.js";

describe("herald emulator servicebus (CLI)", () => {
  const dirs: string[] = [];
  const servers: RunningServer[] = [];
  const blockers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop();
    for (const b of blockers.splice(0)) await new Promise((r) => b.close(r));
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), "herald-cli-"));
    dirs.push(d);
    return d;
  };

  it("starts from Microsoft's sample Config.json, serves the SDK, and stops on SIGTERM", async () => {
    const server = await startHerald([
      "emulator",
      "servicebus",
      "--port",
      "0",
      "--management-port",
      "0",
      "--config",
      "emulator/servicebus/Config.example.json",
    ]);
    servers.push(server);
    expect(server.url).toMatch(/^amqp:\/\/localhost:\d+$/);
    const port = Number(new URL(server.url).port);
    const client = new ServiceBusClient(emulatorConnectionString(port), FAST_RETRY);
    try {
      await client
        .createSender("topic.1")
        .sendMessages({ body: "hi", applicationProperties: { prop3: "value3" } });
      const [m] = await client.createReceiver("topic.1", "subscription.2").peekMessages(1, FROM_START);
      expect(m!.body).toBe("hi");
    } finally {
      await client.close();
    }
    expect(server.stderr()).toMatch(/connection string: Endpoint=sb:\/\/localhost:\d+;/);
    expect(await server.stop("SIGTERM")).toBe(0);
  });

  it("refuses a bad Config.json with the file, JSON path and problem", async () => {
    const dir = tempDir();
    const file = join(dir, "Config.json");
    writeFileSync(
      file,
      JSON.stringify({
        UserConfig: {
          Namespaces: [
            {
              Name: "sbemulatorns",
              Queues: [{ Name: "a" }, { Name: "b" }, { Name: "c", Properties: { LockDuration: "1m" } }],
            },
          ],
          Logging: { Type: "File" },
        },
      }),
    );
    const r = await runHerald(["emulator", "servicebus", "--port", "0", "--config", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `herald: HERALD_INVALID_CONFIG: ${file}: UserConfig.Namespaces[0].Queues[2].Properties.LockDuration: `,
    );
    const missing = await runHerald([
      "emulator",
      "servicebus",
      "--port",
      "0",
      "--config",
      join(dir, "nope.json"),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /HERALD_INVALID_CONFIG: .*nope\.json: cannot read the config file \(ENOENT\)/,
    );
  });

  it("refuses non-loopback hosts, unknown options and a taken port", async () => {
    const host = await runHerald(["emulator", "servicebus", "--port", "0", "--host", "0.0.0.0"]);
    expect(host.code).toBe(1);
    expect(host.stderr).toMatch(/HERALD_INVALID_CONFIG: host must be a loopback address/);
    const unknown = await runHerald(["emulator", "servicebus", "--frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/HERALD_USAGE/);
    const blocker = createServer();
    blockers.push(blocker);
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
    const port = (blocker.address() as { port: number }).port;
    const taken = await runHerald(["emulator", "servicebus", "--port", String(port), "--host", "127.0.0.1"]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/HERALD_PORT_IN_USE/);
  });
});
