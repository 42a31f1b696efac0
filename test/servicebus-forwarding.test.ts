import type { ServiceBusClient, ServiceBusReceivedMessage } from "@azure/service-bus";
import { describe, expect, it } from "vitest";
import { queue, startBus, topic, useCleanup, FROM_START } from "./helpers/servicebus.js";

async function take(
  client: ServiceBusClient,
  entity: string,
  count: number,
  sub?: string,
): Promise<ServiceBusReceivedMessage[]> {
  const r = sub
    ? client.createReceiver(entity, sub, { receiveMode: "receiveAndDelete" })
    : client.createReceiver(entity, { receiveMode: "receiveAndDelete" });
  const out: ServiceBusReceivedMessage[] = [];
  const deadline = Date.now() + 5000;
  while (out.length < count && Date.now() < deadline) {
    out.push(...(await r.receiveMessages(count - out.length, { maxWaitTimeInMs: 300 })));
  }
  await r.close();
  return out;
}

describe("Service Bus emulator: auto-forwarding", () => {
  const register = useCleanup();

  it("forwards from a queue and from a subscription, through chains, with new sequence numbers", async () => {
    const { client } = await startBus(register, {
      queues: [
        queue("inbox", { forwardTo: "middle" }),
        queue("middle", { forwardTo: "final" }),
        queue("final"),
      ],
      topics: [topic("t", [{ name: "fwd", options: { forwardTo: "final" } }, { name: "keep" }])],
    });
    await client.createSender("inbox").sendMessages({ body: "via-chain", messageId: "m1" });
    await client.createSender("t").sendMessages({ body: "via-sub" });
    const got = await take(client, "final", 2);
    expect(got.map((m) => m.body).sort()).toEqual(["via-chain", "via-sub"]);
    expect(got.find((m) => m.body === "via-chain")!.messageId).toBe("m1");
    expect(new Set(got.map((m) => m.sequenceNumber!.toNumber()))).toEqual(new Set([1, 2]));
    expect(await client.createReceiver("inbox").peekMessages(5, FROM_START)).toEqual([]);
    expect(await client.createReceiver("t", "fwd").peekMessages(5, FROM_START)).toEqual([]);
    expect((await take(client, "t", 1, "keep")).map((m) => m.body)).toEqual(["via-sub"]);
  });

  it("forwards dead-lettered messages with their reason and dead-letter source", async () => {
    const { client } = await startBus(register, {
      queues: [
        queue("work", { forwardDeadLetteredMessagesTo: "poison", maxDeliveryCount: 1 }),
        queue("poison"),
      ],
    });
    await client.createSender("work").sendMessages([{ body: "explicit" }, { body: "retries" }]);
    const r = client.createReceiver("work");
    const [a, b] = await r.receiveMessages(2, { maxWaitTimeInMs: 500 });
    await r.deadLetterMessage(a!, { deadLetterReason: "Bad", deadLetterErrorDescription: "bad input" });
    await r.abandonMessage(b!);
    const got = await take(client, "poison", 2);
    expect(got.map((m) => [m.body, m.deadLetterReason, m.deadLetterSource])).toEqual([
      ["explicit", "Bad", "work"],
      ["retries", "MaxDeliveryCountExceeded", "work"],
    ]);
    expect(
      await client.createReceiver("work", { subQueueType: "deadLetter" }).peekMessages(5, FROM_START),
    ).toEqual([]);
  });

  it("stops a forwarding loop after four hops by dead-lettering", async () => {
    const { client, emulator } = await startBus(register, { queues: [queue("a"), queue("b")] });
    emulator.entities.updateQueue("a", { forwardTo: "b" });
    emulator.entities.updateQueue("b", { forwardTo: "a" });
    await client.createSender("a").sendMessages({ body: "loop" });
    const dlqA = await client.createReceiver("a", { subQueueType: "deadLetter" }).peekMessages(5, FROM_START);
    const dlqB = await client.createReceiver("b", { subQueueType: "deadLetter" }).peekMessages(5, FROM_START);
    const dead = [...dlqA, ...dlqB];
    expect(dead).toHaveLength(1);
    expect(dead[0]!.deadLetterReason).toBe("MaxTransferHopCountExceeded");
  });
});
