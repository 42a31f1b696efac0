import { ServiceBusAdministrationClient } from "@azure/service-bus";
import { describe, expect, it } from "vitest";
import { emulatorAdministrationOptions } from "../publisher/emulator-admin.js";
import { queue, startBus, useCleanup } from "./helpers/servicebus.js";

describe("Service Bus emulator: ServiceBusAdministrationClient against the full emulator", () => {
  const register = useCleanup();

  it("manages entities at runtime that the messaging client then uses", async () => {
    const { emulator, client } = await startBus(register, { queues: [queue("from-config")] });
    expect(emulator.managementUrl).toMatch(/^http:\/\/localhost:\d+$/);
    const options = emulatorAdministrationOptions(emulator.managementUrl);
    register({ close: async () => options.agent.destroy() });
    const admin = new ServiceBusAdministrationClient(emulator.connectionString, options);

    expect((await admin.getQueue("from-config")).name).toBe("from-config");
    const created = await admin.createQueue("orders", { lockDuration: "PT30S", maxDeliveryCount: 4 });
    expect(created).toMatchObject({ name: "orders", lockDuration: "PT30S", maxDeliveryCount: 4 });
    await client.createSender("orders").sendMessages([{ body: 1 }, { body: 2 }]);
    const runtime = await admin.getQueueRuntimeProperties("orders");
    expect(runtime.activeMessageCount).toBe(2);
    expect(runtime.totalMessageCount).toBe(2);

    await admin.createTopic("events");
    await admin.createSubscription("events", "red", {
      defaultRuleOptions: { name: "only-red", filter: { applicationProperties: { color: "red" } } },
    });
    await admin.createRule("events", "red", "also-blue", { sqlExpression: "color = 'blue'" });
    await client.createSender("events").sendMessages([
      { body: "r", applicationProperties: { color: "red" } },
      { body: "g", applicationProperties: { color: "green" } },
      { body: "b", applicationProperties: { color: "blue" } },
    ]);
    const got = await client
      .createReceiver("events", "red", { receiveMode: "receiveAndDelete" })
      .receiveMessages(5, { maxWaitTimeInMs: 500 });
    expect(got.map((m) => m.body)).toEqual(["r", "b"]);

    const names: string[] = [];
    for await (const q of admin.listQueues()) names.push(q.name);
    expect(names.sort()).toEqual(["from-config", "orders"]);
    await admin.deleteQueue("orders");
    expect(await admin.queueExists("orders")).toBe(false);
    const gone = await client
      .createSender("orders")
      .sendMessages({ body: 3 })
      .catch((e: unknown) => e);
    expect((gone as { code?: string }).code).toBe("MessagingEntityNotFound");
  });
});
