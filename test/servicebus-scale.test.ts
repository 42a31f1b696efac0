import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { afterEach, describe, expect, it } from "vitest";
import { startServiceBusEmulator } from "../emulator/servicebus/index.js";
import { FAST_RETRY, queue, startBus, useCleanup, waitFor } from "./helpers/servicebus.js";

describe("Service Bus emulator: no artificial quotas", () => {
  const register = useCleanup();
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("serves 300 concurrent client connections", async () => {
    const { emulator } = await startBus(register, { queues: [queue("shared")] });
    const N = 300;
    const clients = Array.from({ length: N }, () => {
      const c = new ServiceBusClient(emulator.connectionString, FAST_RETRY);
      register(c);
      return c;
    });
    // Open them in waves so the single test process is not swamped by 300 handshakes at once.
    for (let i = 0; i < N; i += 50) {
      await Promise.all(
        clients.slice(i, i + 50).map((c, j) => c.createSender("shared").sendMessages({ body: i + j })),
      );
    }
    expect(emulator.connectionCount).toBeGreaterThanOrEqual(N);
    const receiver = clients[0]!.createReceiver("shared", { receiveMode: "receiveAndDelete" });
    const bodies: number[] = [];
    await waitFor(async () => {
      bodies.push(
        ...(await receiver.receiveMessages(N, { maxWaitTimeInMs: 300 })).map((m) => m.body as number),
      );
      return bodies.length >= N ? true : undefined;
    }, 15_000);
    expect(new Set(bodies).size).toBe(N);
  });

  it("loads 2,000 queues from a Config.json and creates 2,000 more at runtime", async () => {
    const dir = mkdtempSync(join(tmpdir(), "herald-scale-"));
    dirs.push(dir);
    const file = join(dir, "Config.json");
    const queues = Array.from({ length: 2000 }, (_, i) => ({
      Name: `q-${i}`,
      Properties: { LockDuration: "PT30S" },
    }));
    writeFileSync(
      file,
      JSON.stringify({
        UserConfig: { Namespaces: [{ Name: "sbemulatorns", Queues: queues }], Logging: { Type: "File" } },
      }),
    );
    const emulator = await startServiceBusEmulator({ port: 0, managementPort: 0, configFile: file });
    register(emulator);
    expect(emulator.entities.listQueues()).toHaveLength(2000);
    for (let i = 0; i < 2000; i++) emulator.entities.createQueue(`runtime-${i}`, {});
    expect(emulator.entities.listQueues()).toHaveLength(4000);
    const client = new ServiceBusClient(emulator.connectionString, FAST_RETRY);
    register(client);
    for (const name of ["q-0", "q-1999", "runtime-1999"]) {
      await client.createSender(name).sendMessages({ body: name });
      const [m] = await client
        .createReceiver(name, { receiveMode: "receiveAndDelete" })
        .receiveMessages(1, { maxWaitTimeInMs: 1000 });
      expect(m!.body).toBe(name);
    }
  });
});
