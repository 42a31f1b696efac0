import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServiceBusClient, type ServiceBusReceivedMessage } from "@azure/service-bus";
import { afterEach, describe, expect, it } from "vitest";
import { emulatorConnectionString, startServiceBusEmulator } from "../emulator/servicebus/index.js";
import { startHerald, type RunningServer } from "./helpers/cli.js";
import { FAST_RETRY, queue, topic, waitFor, FROM_START } from "./helpers/servicebus.js";

const CONFIG = {
  UserConfig: {
    Namespaces: [
      {
        Name: "sbemulatorns",
        Queues: [
          { Name: "orders", Properties: { LockDuration: "PT1S" } },
          { Name: "sessions", Properties: { RequiresSession: true } },
        ],
        Topics: [{ Name: "events", Subscriptions: [{ Name: "all" }] }],
      },
    ],
    Logging: { Type: "Console" },
  },
};

async function drain(
  client: ServiceBusClient,
  count: number,
  open: () => ReturnType<ServiceBusClient["createReceiver"]>,
): Promise<ServiceBusReceivedMessage[]> {
  const r = open();
  const out: ServiceBusReceivedMessage[] = [];
  const deadline = Date.now() + 15_000;
  while (out.length < count && Date.now() < deadline) {
    out.push(...(await r.receiveMessages(Math.min(500, count - out.length), { maxWaitTimeInMs: 500 })));
  }
  out.push(...(await r.receiveMessages(10, { maxWaitTimeInMs: 200 })));
  await r.close();
  return out;
}

describe("Service Bus emulator: --data-dir persistence", () => {
  const dirs: string[] = [];
  const servers: RunningServer[] = [];
  const clients: ServiceBusClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close().catch(() => {});
    for (const s of servers.splice(0)) await s.stop("SIGKILL");
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function tempDir(): string {
    const d = mkdtempSync(join(tmpdir(), "herald-sb-"));
    dirs.push(d);
    return d;
  }

  async function start(
    dataDir: string,
    configFile: string,
  ): Promise<{ server: RunningServer; client: ServiceBusClient }> {
    const server = await startHerald([
      "emulator",
      "servicebus",
      "--port",
      "0",
      "--management-port",
      "0",
      "--data-dir",
      dataDir,
      "--config",
      configFile,
      "--quiet",
    ]);
    servers.push(server);
    const port = Number(new URL(server.url).port);
    const client = new ServiceBusClient(emulatorConnectionString(port), FAST_RETRY);
    clients.push(client);
    return { server, client };
  }

  it("a send the client saw accepted survives kill -9; so do locks, deferrals, state, rules and sequence numbers", async () => {
    const dir = tempDir();
    const configFile = join(dir, "Config.json");
    writeFileSync(configFile, JSON.stringify(CONFIG));
    const data = join(dir, "data");
    const first = await start(data, configFile);
    const sender = first.client.createSender("orders");
    const N = 600;
    const sent = Array.from({ length: N }, (_, i) => ({
      body: { i, pad: "x".repeat(i % 50) },
      messageId: `m-${i}`,
      applicationProperties: { i, even: i % 2 === 0 },
    }));
    // Batches, arrays and single sends all count.
    for (let i = 0; i < 500; i += 100) await sender.sendMessages(sent.slice(i, i + 100));
    const batch = await sender.createMessageBatch();
    for (const m of sent.slice(500, 580)) batch.tryAddMessage(m);
    await sender.sendMessages(batch);
    for (const m of sent.slice(580)) await sender.sendMessages(m);

    // State that must survive too: a held lock (delivery counted), a deferral, session state,
    // a rule created at runtime, a scheduled message and a topic message.
    const held = first.client.createReceiver("orders", { maxAutoLockRenewalDurationInMs: 0 });
    const [locked] = await held.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    expect(locked!.messageId).toBe("m-0");
    const [toDefer] = await held.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    await held.deferMessage(toDefer!);
    await first.client.createSender("sessions").sendMessages({ body: "s", sessionId: "S1" });
    const sess = await first.client.acceptSession("sessions", "S1");
    await sess.setSessionState("checkpoint-7");
    await sess.close();
    const rules = first.client.createRuleManager("events", "all");
    await rules.createRule("extra", { sqlExpression: "x = 1" });
    const [scheduled] = await first.client
      .createSender("events")
      .scheduleMessages([{ body: "future" }], new Date(Date.now() + 3_600_000));

    process.kill(first.server.child.pid!, "SIGKILL");
    await first.server.stop("SIGKILL");

    const second = await start(data, configFile);
    const client = second.client;
    const got = await drain(client, N - 1, () =>
      client.createReceiver("orders", { receiveMode: "receiveAndDelete" }),
    );
    // The message locked before the crash comes back once its lock expires, its delivery counted.
    const ids = got.map((m) => m.messageId);
    expect(ids).toHaveLength(N - 1);
    expect(new Set(ids).size).toBe(N - 1);
    const byId = new Map(got.map((m) => [m.messageId, m]));
    for (const s of sent) {
      if (s.messageId === toDefer!.messageId) continue;
      const m = byId.get(s.messageId)!;
      expect(m.body).toEqual(s.body);
      expect(m.applicationProperties).toEqual(s.applicationProperties);
    }
    expect(byId.get("m-0")!.deliveryCount).toBe(1);
    expect(byId.get("m-0")!.sequenceNumber!.toNumber()).toBe(locked!.sequenceNumber!.toNumber());

    const r = client.createReceiver("orders");
    const [deferred] = await r.receiveDeferredMessages([toDefer!.sequenceNumber!]);
    expect(deferred!.messageId).toBe(toDefer!.messageId);
    await r.completeMessage(deferred!);

    const s2 = await client.acceptSession("sessions", "S1");
    expect(await s2.getSessionState()).toBe("checkpoint-7");
    const rulesAfter: string[] = [];
    for await (const rule of client.createRuleManager("events", "all").listRules())
      rulesAfter.push(rule.name);
    expect(rulesAfter).toEqual(["$Default", "extra"]);
    const peekTopic = await client.createReceiver("events", "all").peekMessages(5, FROM_START);
    expect(peekTopic).toEqual([]);
    // Sequence numbers continue after the ones handed out before the crash.
    await client.createSender("orders").sendMessages({ body: "after" });
    const [after] = await client.createReceiver("orders").peekMessages(1, FROM_START);
    expect(after!.sequenceNumber!.toNumber()).toBe(N + 1);
    expect(scheduled!.toNumber()).toBeGreaterThan(0);
  });

  it("restarts after a clean stop with completed messages gone and the journal compacted", async () => {
    const dir = tempDir();
    const data = join(dir, "data");
    const ns = { name: "sbemulatorns", queues: [queue("q")], topics: [topic("t", [{ name: "s" }])] };
    const a = await startServiceBusEmulator({ port: 0, managementPort: 0, namespace: ns, dataDir: data });
    const ca = new ServiceBusClient(a.connectionString, FAST_RETRY);
    await ca.createSender("q").sendMessages(Array.from({ length: 10 }, (_, i) => ({ body: i })));
    const r = ca.createReceiver("q");
    const done = await r.receiveMessages(4, { maxWaitTimeInMs: 500 });
    for (const m of done) await r.completeMessage(m);
    await ca.close();
    await a.close();

    // A second emulator cannot take a data dir that is in use.
    const b = await startServiceBusEmulator({ port: 0, managementPort: 0, namespace: ns, dataDir: data });
    const busy = await startServiceBusEmulator({
      port: 0,
      managementPort: 0,
      namespace: ns,
      dataDir: data,
    }).catch((e: unknown) => e);
    expect(String(busy)).toMatch(/data directory .* is in use/);
    const cb = new ServiceBusClient(b.connectionString, FAST_RETRY);
    try {
      const left = await waitFor(async () => {
        const p = await cb.createReceiver("q").peekMessages(20, FROM_START);
        return p.length === 6 ? p : undefined;
      });
      expect(left.map((m) => m.body)).toEqual([4, 5, 6, 7, 8, 9]);
    } finally {
      await cb.close();
      await b.close();
    }
  });
});
