import { ServiceBusError, type ServiceBusReceivedMessage } from "@azure/service-bus";
import { describe, expect, it } from "vitest";
import { queue, startBus, useCleanup } from "./helpers/servicebus.js";

async function receiveAll(
  receive: (n: number) => Promise<ServiceBusReceivedMessage[]>,
  count: number,
): Promise<ServiceBusReceivedMessage[]> {
  const out: ServiceBusReceivedMessage[] = [];
  const deadline = Date.now() + 10_000;
  while (out.length < count && Date.now() < deadline) out.push(...(await receive(count - out.length)));
  return out;
}

describe("Service Bus emulator: sending", () => {
  const register = useCleanup();

  it("keeps every message property, body type and application property type", async () => {
    const { client } = await startBus(register, { queues: [queue("q")] });
    const sender = client.createSender("q");
    const when = new Date("2024-05-06T07:08:09.123Z");
    await sender.sendMessages({
      body: Buffer.from([1, 2, 3]),
      messageId: "id-1",
      correlationId: "corr",
      contentType: "application/octet-stream",
      subject: "label",
      to: "dest",
      replyTo: "reply-q",
      replyToSessionId: "rs",
      timeToLive: 60_000,
      partitionKey: "pk",
      applicationProperties: { s: "x", i: 42, neg: -7, f: 1.5, b: true, d: when, big: 2 ** 40 },
    });
    await sender.sendMessages({ body: "plain string" });
    await sender.sendMessages({ body: [1, "two", { three: 3 }] });
    const receiver = client.createReceiver("q", { receiveMode: "receiveAndDelete" });
    const [a, b, c] = await receiveAll((n) => receiver.receiveMessages(n, { maxWaitTimeInMs: 1000 }), 3);
    expect(Buffer.isBuffer(a!.body) && [...(a!.body as Buffer)]).toEqual([1, 2, 3]);
    expect(a).toMatchObject({
      messageId: "id-1",
      correlationId: "corr",
      contentType: "application/octet-stream",
      subject: "label",
      to: "dest",
      replyTo: "reply-q",
      replyToSessionId: "rs",
      timeToLive: 60_000,
      partitionKey: "pk",
    });
    expect(a!.applicationProperties).toEqual({
      s: "x",
      i: 42,
      neg: -7,
      f: 1.5,
      b: true,
      d: when.getTime(),
      big: 2 ** 40,
    });
    expect(a!.enqueuedTimeUtc!.getTime()).toBeGreaterThan(Date.now() - 10_000);
    expect(a!.expiresAtUtc!.getTime() - a!.enqueuedTimeUtc!.getTime()).toBe(60_000);
    expect(b!.body).toBe("plain string");
    expect(c!.body).toEqual([1, "two", { three: 3 }]);
    expect([a, b, c].map((m) => m!.sequenceNumber!.toNumber())).toEqual([1, 2, 3]);
  });

  it("sends arrays and batches (inner messages decoded one by one) in order", async () => {
    const { client } = await startBus(register, { queues: [queue("q")] });
    const sender = client.createSender("q");
    await sender.sendMessages([
      { body: "a1", messageId: "a1" },
      { body: "a2", messageId: "a2", applicationProperties: { n: 2 } },
    ]);
    const batch = await sender.createMessageBatch();
    for (let i = 0; i < 50; i++) expect(batch.tryAddMessage({ body: `b${i}`, subject: `s${i}` })).toBe(true);
    await sender.sendMessages(batch);
    const receiver = client.createReceiver("q", { receiveMode: "receiveAndDelete" });
    const got = await receiveAll((n) => receiver.receiveMessages(n, { maxWaitTimeInMs: 1000 }), 52);
    expect(got.map((m) => m.body)).toEqual(["a1", "a2", ...Array.from({ length: 50 }, (_, i) => `b${i}`)]);
    expect(got[1]!.applicationProperties).toEqual({ n: 2 });
    expect(got[51]!.subject).toBe("s49");
  });

  it("reports the link's max message size: a batch fills up and an oversize send is MessageSizeExceeded", async () => {
    const { client } = await startBus(register, { queues: [queue("q")] });
    const sender = client.createSender("q");
    const batch = await sender.createMessageBatch();
    expect(batch.maxSizeInBytes).toBe(262_144);
    let added = 0;
    while (batch.tryAddMessage({ body: Buffer.alloc(10_000) })) added++;
    expect(added).toBeGreaterThan(20);
    expect(added).toBeLessThan(27);
    const err = await sender.sendMessages({ body: Buffer.alloc(300_000) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceBusError);
    expect((err as ServiceBusError).code).toBe("MessageSizeExceeded");
    // Larger than a frame: it arrives in several transfer frames and is still refused politely.
    const huge = await sender.sendMessages({ body: Buffer.alloc(2_500_000) }).catch((e: unknown) => e);
    expect((huge as ServiceBusError).code).toBe("MessageSizeExceeded");
    // The link stays usable.
    await sender.sendMessages({ body: "small" });
    const receiver = client.createReceiver("q", { receiveMode: "receiveAndDelete" });
    const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    expect(m?.body).toBe("small");
  });

  it("drops duplicates within the detection window and accepts the id again after it", async () => {
    const { client } = await startBus(register, {
      queues: [
        queue("dedup", { requiresDuplicateDetection: true, duplicateDetectionHistoryTimeWindowMs: 400 }),
      ],
    });
    const sender = client.createSender("dedup");
    await sender.sendMessages({ body: 1, messageId: "same" });
    await sender.sendMessages({ body: 2, messageId: "same" });
    await sender.sendMessages([
      { body: 3, messageId: "other" },
      { body: 4, messageId: "same" },
    ]);
    await new Promise((r) => setTimeout(r, 500));
    await sender.sendMessages({ body: 5, messageId: "same" });
    const receiver = client.createReceiver("dedup", { receiveMode: "receiveAndDelete" });
    const got = await receiveAll((n) => receiver.receiveMessages(n, { maxWaitTimeInMs: 300 }), 3);
    expect(got.map((m) => m.body)).toEqual([1, 3, 5]);
  });
});
