import type { RuleProperties, ServiceBusClient, ServiceBusReceivedMessage } from "@azure/service-bus";
import { describe, expect, it } from "vitest";
import { startBus, topic, useCleanup, FROM_START } from "./helpers/servicebus.js";

async function drain(
  client: ServiceBusClient,
  t: string,
  s: string,
  expected: number,
): Promise<ServiceBusReceivedMessage[]> {
  const r = client.createReceiver(t, s, { receiveMode: "receiveAndDelete" });
  const out: ServiceBusReceivedMessage[] = [];
  const deadline = Date.now() + 5000;
  while (out.length < expected && Date.now() < deadline) {
    out.push(...(await r.receiveMessages(expected - out.length, { maxWaitTimeInMs: 300 })));
  }
  // Nothing more arrives.
  out.push(...(await r.receiveMessages(5, { maxWaitTimeInMs: 100 })));
  await r.close();
  return out;
}

describe("Service Bus emulator: topics and rules", () => {
  const register = useCleanup();

  it("fans a message out to every subscription with the default rule", async () => {
    const { client } = await startBus(register, {
      topics: [topic("events", [{ name: "a" }, { name: "b" }])],
    });
    await client.createSender("events").sendMessages([{ body: "e1" }, { body: "e2" }]);
    const a = await drain(client, "events", "a", 2);
    const b = await drain(client, "events", "b", 2);
    expect(a.map((m) => m.body)).toEqual(["e1", "e2"]);
    expect(b.map((m) => m.body)).toEqual(["e1", "e2"]);
    // Copies share the topic's sequence number.
    expect(a.map((m) => m.sequenceNumber!.toNumber())).toEqual(b.map((m) => m.sequenceNumber!.toNumber()));
  });

  it("routes through correlation filters on system and application properties", async () => {
    const { client } = await startBus(register, {
      topics: [
        topic("t", [
          {
            name: "red",
            rules: [{ name: "r", filter: { kind: "correlation", applicationProperties: { color: "red" } } }],
          },
          {
            name: "orders",
            rules: [
              {
                name: "o",
                filter: { kind: "correlation", subject: "order", contentType: "application/json" },
              },
            ],
          },
          { name: "byId", rules: [{ name: "c", filter: { kind: "correlation", correlationId: "c-1" } }] },
          {
            name: "num",
            rules: [{ name: "n", filter: { kind: "correlation", applicationProperties: { n: 5 } } }],
          },
        ]),
      ],
    });
    await client.createSender("t").sendMessages([
      { body: 1, applicationProperties: { color: "red" } },
      { body: 2, applicationProperties: { color: "blue" } },
      { body: 3, subject: "order", contentType: "application/json" },
      { body: 4, subject: "order", contentType: "text/plain" },
      { body: 5, correlationId: "c-1", applicationProperties: { n: 5 } },
      { body: 6, applicationProperties: { n: "5" } },
    ]);
    expect((await drain(client, "t", "red", 1)).map((m) => m.body)).toEqual([1]);
    expect((await drain(client, "t", "orders", 1)).map((m) => m.body)).toEqual([3]);
    expect((await drain(client, "t", "byId", 1)).map((m) => m.body)).toEqual([5]);
    expect((await drain(client, "t", "num", 1)).map((m) => m.body)).toEqual([5]);
  });

  it("applies SQL filters and actions (each matching rule with an action makes its own copy)", async () => {
    const { client } = await startBus(register, {
      topics: [
        topic("t", [
          {
            name: "high",
            rules: [
              { name: "h", filter: { kind: "sql", sqlExpression: "priority > 5 AND sys.Label LIKE 'al%'" } },
            ],
          },
          {
            name: "tagged",
            rules: [
              {
                name: "tag",
                filter: { kind: "sql", sqlExpression: "region = 'eu'" },
                action: { sqlExpression: "SET routed = 'yes'; SET sys.Label = 'rerouted'; REMOVE secret" },
              },
            ],
          },
          {
            name: "twice",
            rules: [
              { name: "plain1", filter: { kind: "sql", sqlExpression: "1=1" } },
              { name: "plain2", filter: { kind: "sql", sqlExpression: "EXISTS(region)" } },
              {
                name: "act",
                filter: { kind: "sql", sqlExpression: "1=1" },
                action: { sqlExpression: "SET copy = 2" },
              },
            ],
          },
          { name: "none", rules: [{ name: "never", filter: { kind: "sql", sqlExpression: "1=0" } }] },
        ]),
      ],
    });
    await client.createSender("t").sendMessages([
      { body: "a", subject: "alert", applicationProperties: { priority: 9 } },
      { body: "b", subject: "alert", applicationProperties: { priority: 1 } },
      { body: "c", applicationProperties: { region: "eu", secret: "s3cr3t", keep: 1 } },
    ]);
    expect((await drain(client, "t", "high", 1)).map((m) => m.body)).toEqual(["a"]);
    const [tagged] = await drain(client, "t", "tagged", 1);
    expect(tagged!.body).toBe("c");
    expect(tagged!.applicationProperties).toEqual({ region: "eu", keep: 1, routed: "yes" });
    expect(tagged!.subject).toBe("rerouted");
    const twice = await drain(client, "t", "twice", 6);
    // Per message: one copy for the action-less rules, one for the rule with an action.
    expect(twice.map((m) => m.body)).toEqual(["a", "a", "b", "b", "c", "c"]);
    expect(twice.filter((m) => m.applicationProperties?.copy === 2)).toHaveLength(3);
    expect(new Set(twice.map((m) => m.sequenceNumber!.toNumber())).size).toBe(6);
    expect(await drain(client, "t", "none", 0)).toEqual([]);
  });

  it("manages rules with the rule manager (add, list, remove) and routes by them at once", async () => {
    const { client } = await startBus(register, { topics: [topic("t", [{ name: "s" }])] });
    const rules = client.createRuleManager("t", "s");
    const list = async (): Promise<RuleProperties[]> => {
      const out: RuleProperties[] = [];
      // With no rules at all, the client's pager yields one undefined item (as against Azure).
      for await (const r of rules.listRules()) if (r) out.push(r);
      return out;
    };
    const initial = await list();
    expect(initial).toEqual([{ name: "$Default", filter: { sqlExpression: "1=1" }, action: {} }]);
    await rules.deleteRule("$Default");
    await rules.createRule("vip", { sqlExpression: "tier = 'gold'" }, { sqlExpression: "SET vip = true" });
    await rules.createRule("corr", { correlationId: "x", applicationProperties: { k: "v" } });
    const listed = await list();
    expect(listed.map((r) => r.name)).toEqual(["vip", "corr"]);
    expect(listed[0]).toEqual({
      name: "vip",
      filter: { sqlExpression: "tier = 'gold'" },
      action: { sqlExpression: "SET vip = true" },
    });
    expect(listed[1]!.filter).toMatchObject({ correlationId: "x", applicationProperties: { k: "v" } });

    const dup = await rules.createRule("vip", { sqlExpression: "1=1" }).catch((e: unknown) => e);
    expect((dup as { code?: string }).code).toBe("MessagingEntityAlreadyExists");
    const bad = await rules.createRule("bad", { sqlExpression: "tier = = 'x'" }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(Error);
    const gone = await rules.deleteRule("nope").catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(Error);

    await client.createSender("t").sendMessages([
      { body: 1, applicationProperties: { tier: "gold" } },
      { body: 2, applicationProperties: { tier: "silver" } },
      { body: 3, correlationId: "x", applicationProperties: { k: "v" } },
    ]);
    const got = await drain(client, "t", "s", 2);
    expect(got.map((m) => m.body)).toEqual([1, 3]);
    expect(got[0]!.applicationProperties).toMatchObject({ vip: true });
    // Without rules a subscription lists none and receives nothing.
    await rules.deleteRule("vip");
    await rules.deleteRule("corr");
    expect(await list()).toEqual([]);
    await client.createSender("t").sendMessages({ body: 4, applicationProperties: { tier: "gold" } });
    expect(await drain(client, "t", "s", 0)).toEqual([]);
  });

  it("dead-letters from a subscription into its own $DeadLetterQueue", async () => {
    const { client } = await startBus(register, {
      topics: [topic("t", [{ name: "s", options: { maxDeliveryCount: 1 } }, { name: "other" }])],
    });
    await client.createSender("t").sendMessages([{ body: "explicit" }, { body: "abandoned" }]);
    const r = client.createReceiver("t", "s");
    const [a, b] = await r.receiveMessages(2, { maxWaitTimeInMs: 500 });
    await r.deadLetterMessage(a!, { deadLetterReason: "nope", deadLetterErrorDescription: "bad" });
    await r.abandonMessage(b!);
    const dlq = client.createReceiver("t", "s", {
      subQueueType: "deadLetter",
      receiveMode: "receiveAndDelete",
    });
    const dead = await dlq.receiveMessages(5, { maxWaitTimeInMs: 500 });
    expect(dead.map((m) => [m.body, m.deadLetterReason])).toEqual([
      ["explicit", "nope"],
      ["abandoned", "MaxDeliveryCountExceeded"],
    ]);
    expect(
      await client.createReceiver("t", "other", { subQueueType: "deadLetter" }).peekMessages(5, FROM_START),
    ).toEqual([]);
    expect(
      (await client.createReceiver("t", "other").peekMessages(5, FROM_START)).map((m) => m.body),
    ).toEqual(["explicit", "abandoned"]);
  });

  it("a filter that cannot be evaluated dead-letters the message in that subscription only", async () => {
    const { client } = await startBus(register, {
      topics: [
        topic("t", [
          { name: "strict", rules: [{ name: "gt", filter: { kind: "sql", sqlExpression: "n > 5" } }] },
          {
            name: "lenient",
            options: { deadLetteringOnFilterEvaluationExceptions: false },
            rules: [{ name: "gt", filter: { kind: "sql", sqlExpression: "n > 5" } }],
          },
        ]),
      ],
    });
    await client.createSender("t").sendMessages([
      { body: "text", applicationProperties: { n: "abc" } },
      { body: "big", applicationProperties: { n: 9 } },
    ]);
    expect((await drain(client, "t", "strict", 1)).map((m) => m.body)).toEqual(["big"]);
    expect((await drain(client, "t", "lenient", 1)).map((m) => m.body)).toEqual(["big"]);
    const dlq = client.createReceiver("t", "strict", { subQueueType: "deadLetter" });
    const dead = await dlq.peekMessages(5, FROM_START);
    expect(dead.map((m) => [m.body, m.deadLetterReason])).toEqual([["text", "FilterEvaluationException"]]);
    expect(
      await client.createReceiver("t", "lenient", { subQueueType: "deadLetter" }).peekMessages(5, FROM_START),
    ).toEqual([]);
  });

  it("a topic without subscriptions accepts and drops messages", async () => {
    const { client } = await startBus(register, { topics: [topic("lonely", [])] });
    await client.createSender("lonely").sendMessages({ body: "into the void" });
    const err = await client
      .createReceiver("lonely", "missing")
      .receiveMessages(1, { maxWaitTimeInMs: 500 })
      .catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe("MessagingEntityNotFound");
  });
});
