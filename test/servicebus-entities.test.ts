import { EntityError } from "../emulator/servicebus/model.js";
import { describe, expect, it } from "vitest";
import { queue, startBus, topic, useCleanup, FROM_START } from "./helpers/servicebus.js";

describe("Service Bus emulator: entity management surface", () => {
  const register = useCleanup();

  it("creates, reads, lists, updates and deletes queues, topics, subscriptions and rules", async () => {
    const { emulator, client } = await startBus(register, {});
    const m = emulator.entities;
    const q = m.createQueue("Orders", { lockDurationMs: 30_000, requiresSession: false });
    expect(q).toMatchObject({ name: "Orders", options: { lockDurationMs: 30_000, maxDeliveryCount: 10 } });
    expect(m.getQueue("orders")?.name).toBe("Orders");
    expect(() => m.createQueue("ORDERS", {})).toThrow(EntityError);
    expect(() => m.createTopic("orders", {})).toThrow(/already exists/);
    expect(() => m.createQueue("bad name!", {})).toThrow(/Invalid queue name/);
    expect(() => m.createQueue("q2", { lockDurationMs: 0 })).toThrow(/lockDuration/);
    expect(() => m.createQueue("q2", { forwardTo: "nowhere" })).toThrow(/forwardTo/);
    expect(m.updateQueue("orders", { maxDeliveryCount: 3 }).options.maxDeliveryCount).toBe(3);
    expect(() => m.updateQueue("orders", { requiresSession: true })).toThrow(/requiresSession/);

    m.createTopic("events", {});
    const sub = m.createSubscription("events", "audit", { maxDeliveryCount: 2 });
    expect(sub.rules).toEqual([{ name: "$Default", filter: { kind: "sql", sqlExpression: "1=1" } }]);
    m.createSubscription(
      "events",
      "filtered",
      {},
      { name: "only-red", filter: { kind: "correlation", applicationProperties: { color: "red" } } },
    );
    expect(m.listSubscriptions("events").map((s) => s.name)).toEqual(["audit", "filtered"]);
    m.createRule("events", "filtered", {
      name: "blue",
      filter: { kind: "sql", sqlExpression: "color = 'blue'" },
    });
    m.updateRule("events", "filtered", {
      name: "blue",
      filter: { kind: "sql", sqlExpression: "color = 'navy'" },
    });
    expect(m.listRules("events", "filtered").map((r) => r.name)).toEqual(["only-red", "blue"]);
    expect(m.getRule("events", "filtered", "BLUE")?.filter).toEqual({
      kind: "sql",
      sqlExpression: "color = 'navy'",
    });
    expect(() =>
      m.createRule("events", "filtered", { name: "x", filter: { kind: "sql", sqlExpression: "((" } }),
    ).toThrow(EntityError);
    m.deleteRule("events", "filtered", "blue");
    expect(() => m.deleteRule("events", "filtered", "blue")).toThrow(/does not exist/);

    // Entities made at runtime are usable at once by the real client.
    await client.createSender("orders").sendMessages({ body: "x" });
    await client
      .createSender("events")
      .sendMessages([{ body: "r", applicationProperties: { color: "red" } }, { body: "g" }]);
    expect(
      (await client.createReceiver("events", "filtered").peekMessages(5, FROM_START)).map((p) => p.body),
    ).toEqual(["r"]);
    expect(
      (await client.createReceiver("events", "audit").peekMessages(5, FROM_START)).map((p) => p.body),
    ).toEqual(["r", "g"]);

    m.deleteSubscription("events", "filtered");
    expect(m.getSubscription("events", "filtered")).toBeUndefined();
    m.deleteTopic("events");
    m.deleteQueue("orders");
    expect(m.listQueues()).toEqual([]);
    expect(m.listTopics()).toEqual([]);
    expect(() => m.deleteQueue("orders")).toThrow(/does not exist/);
    const gone = await client
      .createSender("orders")
      .sendMessages({ body: "x" })
      .catch((e: unknown) => e);
    expect((gone as { code?: string }).code).toBe("MessagingEntityNotFound");
  });

  it("reports runtime counts: active, locked, deferred, scheduled, dead-lettered, size", async () => {
    const { emulator, client } = await startBus(register, {
      queues: [queue("q")],
      topics: [topic("t", [{ name: "s" }])],
    });
    const sender = client.createSender("q");
    await sender.sendMessages(
      Array.from({ length: 6 }, (_, i) => ({ body: "x".repeat(100), messageId: `m${i}` })),
    );
    await sender.scheduleMessages([{ body: "later" }], new Date(Date.now() + 3_600_000));
    const r = client.createReceiver("q");
    const [a, b, c] = await r.receiveMessages(3, { maxWaitTimeInMs: 500 });
    await r.deferMessage(a!);
    await r.deadLetterMessage(b!);
    await r.completeMessage(c!);
    const counts = emulator.entities.queueRuntime("q");
    expect(counts).toMatchObject({
      activeMessageCount: 3,
      deadLetterMessageCount: 1,
      scheduledMessageCount: 1,
      totalMessageCount: 6,
    });
    expect(counts.sizeInBytes).toBeGreaterThan(500);
    expect(counts.createdAt.getTime()).toBeLessThanOrEqual(counts.updatedAt.getTime());

    await client.createSender("t").sendMessages([{ body: 1 }, { body: 2 }]);
    await client.createSender("t").scheduleMessages([{ body: 3 }], new Date(Date.now() + 3_600_000));
    expect(emulator.entities.subscriptionRuntime("t", "s")).toMatchObject({
      activeMessageCount: 2,
      totalMessageCount: 2,
    });
    expect(emulator.entities.topicRuntime("t")).toMatchObject({
      subscriptionCount: 1,
      scheduledMessageCount: 1,
    });
  });
});
