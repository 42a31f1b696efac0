import type { ServiceBusError } from "@azure/service-bus";
import { type ServiceBusReceivedMessage } from "@azure/service-bus";
import { describe, expect, it } from "vitest";
import { queue, sleep, startBus, useCleanup, waitFor, FROM_START } from "./helpers/servicebus.js";

describe("Service Bus emulator: receiving and settling", () => {
  const register = useCleanup();

  it("receiveAndDelete removes messages; receiveMessages returns what there is", async () => {
    const { client } = await startBus(register, { queues: [queue("q")] });
    await client.createSender("q").sendMessages([{ body: 1 }, { body: 2 }, { body: 3 }]);
    const receiver = client.createReceiver("q", { receiveMode: "receiveAndDelete" });
    const got = await receiver.receiveMessages(10, { maxWaitTimeInMs: 500 });
    expect(got.map((m) => m.body)).toEqual([1, 2, 3]);
    expect(got[0]!.lockToken).toBeUndefined();
    expect(await receiver.receiveMessages(5, { maxWaitTimeInMs: 100 })).toEqual([]);
    expect(await receiver.peekMessages(10, FROM_START)).toEqual([]);
  });

  it("abandon redelivers with a higher delivery count; complete removes", async () => {
    const { client } = await startBus(register, { queues: [queue("q")] });
    await client.createSender("q").sendMessages({ body: "x" });
    const receiver = client.createReceiver("q");
    const [first] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    expect(first!.deliveryCount).toBe(0);
    expect(first!.lockToken).toMatch(/^[0-9a-f-]{36}$/);
    expect(first!.lockedUntilUtc!.getTime()).toBeGreaterThan(Date.now() + 50_000);
    await receiver.abandonMessage(first!, { retried: true });
    const [second] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    expect(second!.deliveryCount).toBe(1);
    expect(second!.applicationProperties).toEqual({ retried: true });
    expect(second!.lockToken).not.toBe(first!.lockToken);
    await receiver.completeMessage(second!);
    expect(await receiver.peekMessages(5, FROM_START)).toEqual([]);
  });

  it("dead-letters with reason and description into the $DeadLetterQueue subqueue", async () => {
    const { client } = await startBus(register, { queues: [queue("q")] });
    await client
      .createSender("q")
      .sendMessages({ body: "bad", messageId: "m-bad", applicationProperties: { a: 1 } });
    const receiver = client.createReceiver("q");
    const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    await receiver.deadLetterMessage(m!, {
      deadLetterReason: "Invalid",
      deadLetterErrorDescription: "no schema",
    });
    const dlq = client.createReceiver("q", { subQueueType: "deadLetter" });
    const [d] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    expect(d!.body).toBe("bad");
    expect(d!.messageId).toBe("m-bad");
    expect(d!.deadLetterReason).toBe("Invalid");
    expect(d!.deadLetterErrorDescription).toBe("no schema");
    expect(d!.applicationProperties).toMatchObject({ a: 1, DeadLetterReason: "Invalid" });
    expect(d!.sequenceNumber!.toNumber()).toBe(m!.sequenceNumber!.toNumber());
    await dlq.completeMessage(d!);
    expect(await dlq.peekMessages(5, FROM_START)).toEqual([]);
  });

  it("defers, then receives deferred messages by sequence number and settles them", async () => {
    const { client } = await startBus(register, { queues: [queue("q")] });
    await client.createSender("q").sendMessages([{ body: "later" }, { body: "now" }]);
    const receiver = client.createReceiver("q");
    const [a, b] = await receiver.receiveMessages(2, { maxWaitTimeInMs: 1000 });
    await receiver.deferMessage(a!);
    await receiver.completeMessage(b!);
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 200 })).toEqual([]);
    const peeked = await receiver.peekMessages(5, FROM_START);
    expect(peeked.map((m) => m.state)).toEqual(["deferred"]);
    const [deferred] = await receiver.receiveDeferredMessages([a!.sequenceNumber!]);
    expect(deferred!.body).toBe("later");
    expect(deferred!.state).toBe("deferred");
    expect(deferred!.lockToken).toBeDefined();
    // Deferred messages settle through $management (update-disposition): abandon keeps one
    // deferred, dead-lettering moves it with its reason.
    await receiver.abandonMessage(deferred!);
    expect((await receiver.peekMessages(5, FROM_START)).map((m) => m.state)).toEqual(["deferred"]);
    const [again] = await receiver.receiveDeferredMessages([a!.sequenceNumber!]);
    expect(again!.deliveryCount).toBe(2);
    await receiver.deadLetterMessage(again!, { deadLetterReason: "r", deadLetterErrorDescription: "d" });
    const [dead] = await client
      .createReceiver("q", { subQueueType: "deadLetter" })
      .peekMessages(1, FROM_START);
    expect([dead!.body, dead!.deadLetterReason]).toEqual(["later", "r"]);
    expect(await receiver.peekMessages(5, FROM_START)).toEqual([]);
    const missing = await receiver.receiveDeferredMessages([a!.sequenceNumber!]).catch((e: unknown) => e);
    expect((missing as ServiceBusError).code).toBe("MessageNotFound");
    // In receive-and-delete mode a deferred message is removed as it is received.
    await client.createSender("q").sendMessages({ body: "third" });
    const [t] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    await receiver.deferMessage(t!);
    const rad = client.createReceiver("q", { receiveMode: "receiveAndDelete" });
    const [gone] = await rad.receiveDeferredMessages([t!.sequenceNumber!]);
    expect(gone!.body).toBe("third");
    expect(await receiver.peekMessages(5, FROM_START)).toEqual([]);
  });

  it("lock expiry redelivers with an incremented delivery count; settling the old lock is MessageLockLost", async () => {
    const { client } = await startBus(register, { queues: [queue("q", { lockDurationMs: 300 })] });
    await client.createSender("q").sendMessages({ body: "slow" });
    const receiver = client.createReceiver("q", { maxAutoLockRenewalDurationInMs: 0 });
    const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    const again = await waitFor(async () => {
      const r = await receiver.receiveMessages(1, { maxWaitTimeInMs: 200 });
      return r[0];
    });
    expect(again.deliveryCount).toBe(1);
    const err = await receiver.completeMessage(m!).catch((e: unknown) => e);
    expect((err as ServiceBusError).code).toBe("MessageLockLost");
    await receiver.completeMessage(again);
  });

  it("renewMessageLock extends the lock; automatic renewal keeps a slow handler's lock", async () => {
    const { client } = await startBus(register, { queues: [queue("q", { lockDurationMs: 1500 })] });
    await client.createSender("q").sendMessages([{ body: 1 }, { body: 2 }]);
    const receiver = client.createReceiver("q", { maxAutoLockRenewalDurationInMs: 0 });
    const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    const before = m!.lockedUntilUtc!.getTime();
    await sleep(50);
    const renewed = await receiver.renewMessageLock(m!);
    expect(renewed.getTime()).toBeGreaterThan(before);
    await receiver.completeMessage(m!);

    // subscribe() renews locks automatically while the handler runs past the lock duration.
    const auto = client.createReceiver("q", { maxAutoLockRenewalDurationInMs: 10_000 });
    const done = new Promise<ServiceBusReceivedMessage>((resolve, reject) => {
      const sub = auto.subscribe(
        {
          async processMessage(msg) {
            await sleep(2200);
            resolve(msg);
            await sub.close();
          },
          async processError(args) {
            reject(args.error);
          },
        },
        { autoCompleteMessages: true },
      );
    });
    const slow = await done;
    expect(slow.body).toBe(2);
    expect(slow.deliveryCount).toBe(0);
    await waitFor(
      async () => ((await auto.peekMessages(1, FROM_START)).length === 0 ? true : undefined),
      3000,
    );
  });

  it("dead-letters after MaxDeliveryCount with reason MaxDeliveryCountExceeded", async () => {
    const { client } = await startBus(register, { queues: [queue("q", { maxDeliveryCount: 2 })] });
    await client.createSender("q").sendMessages({ body: "poison" });
    const receiver = client.createReceiver("q");
    for (let i = 0; i < 2; i++) {
      const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
      expect(m!.deliveryCount).toBe(i);
      await receiver.abandonMessage(m!);
    }
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 200 })).toEqual([]);
    const dlq = client.createReceiver("q", { subQueueType: "deadLetter", receiveMode: "receiveAndDelete" });
    const [d] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    expect(d!.body).toBe("poison");
    expect(d!.deadLetterReason).toBe("MaxDeliveryCountExceeded");
    expect(d!.deadLetterErrorDescription).toMatch(/2 delivery attempts/);
  });

  it("subscribe() with maxConcurrentCalls delivers every message once, in parallel", async () => {
    const { client } = await startBus(register, { queues: [queue("q")] });
    const sender = client.createSender("q");
    await sender.sendMessages(Array.from({ length: 40 }, (_, i) => ({ body: i })));
    const receiver = client.createReceiver("q");
    const seen: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    await new Promise<void>((resolve, reject) => {
      const sub = receiver.subscribe(
        {
          async processMessage(msg) {
            inFlight++;
            maxInFlight = Math.max(maxInFlight, inFlight);
            await sleep(10);
            seen.push(msg.body as number);
            inFlight--;
            if (seen.length === 40) {
              await sub.close();
              resolve();
            }
          },
          async processError(args) {
            reject(args.error);
          },
        },
        { maxConcurrentCalls: 5 },
      );
    });
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(maxInFlight).toBeGreaterThan(1);
    expect(maxInFlight).toBeLessThanOrEqual(5);
    await waitFor(
      async () => ((await receiver.peekMessages(1, FROM_START)).length === 0 ? true : undefined),
      3000,
    );
  });

  it("competing receivers share a queue without duplicates", async () => {
    const { client } = await startBus(register, { queues: [queue("q")] });
    await client.createSender("q").sendMessages(Array.from({ length: 30 }, (_, i) => ({ body: i })));
    const r1 = client.createReceiver("q");
    const r2 = client.createReceiver("q");
    const got: number[] = [];
    for (let round = 0; round < 20 && got.length < 30; round++) {
      const [a, b] = await Promise.all([
        r1.receiveMessages(4, { maxWaitTimeInMs: 300 }),
        r2.receiveMessages(4, { maxWaitTimeInMs: 300 }),
      ]);
      for (const m of a) await r1.completeMessage(m);
      for (const m of b) await r2.completeMessage(m);
      got.push(...[...a, ...b].map((m) => m.body as number));
    }
    expect([...got].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it("peeks from the start, then onward; an empty entity peeks to an empty list", async () => {
    const { client } = await startBus(register, { queues: [queue("q"), queue("empty")] });
    expect(await client.createReceiver("empty").peekMessages(10, FROM_START)).toEqual([]);
    await client.createSender("q").sendMessages(Array.from({ length: 5 }, (_, i) => ({ body: i })));
    const receiver = client.createReceiver("q");
    const first = await receiver.peekMessages(3);
    expect(first.map((m) => m.body)).toEqual([0, 1, 2]);
    const next = await receiver.peekMessages(3);
    expect(next.map((m) => m.body)).toEqual([3, 4]);
    const from = await receiver.peekMessages(2, { fromSequenceNumber: first[1]!.sequenceNumber! });
    expect(from.map((m) => m.body)).toEqual([1, 2]);
    // Peeked messages are not locked: they can still be received.
    const got = await receiver.receiveMessages(5, { maxWaitTimeInMs: 1000 });
    expect(got).toHaveLength(5);
  });
});
