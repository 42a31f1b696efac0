import { describe, expect, it } from "vitest";
import { queue, sleep, startBus, topic, useCleanup, waitFor, FROM_START } from "./helpers/servicebus.js";

describe("Service Bus emulator: scheduling and time-to-live", () => {
  const register = useCleanup();

  it("scheduleMessages holds messages until their time; cancelScheduledMessages drops them", async () => {
    const { client } = await startBus(register, { queues: [queue("q")] });
    const sender = client.createSender("q");
    const later = new Date(Date.now() + 3_600_000);
    const [keep, cancel] = await sender.scheduleMessages([{ body: "keep" }, { body: "cancel" }], later);
    expect(keep!.toNumber()).toBeLessThan(cancel!.toNumber());
    const receiver = client.createReceiver("q", { receiveMode: "receiveAndDelete" });
    const peeked = await receiver.peekMessages(5, FROM_START);
    expect(peeked.map((m) => [m.body, m.state])).toEqual([
      ["keep", "scheduled"],
      ["cancel", "scheduled"],
    ]);
    expect(peeked[0]!.scheduledEnqueueTimeUtc!.getTime()).toBe(later.getTime());
    await sender.cancelScheduledMessages([cancel!]);
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 100 })).toEqual([]);
    const soon = new Date(Date.now() + 200);
    const [soonSeq] = await sender.scheduleMessages([{ body: "soon" }], soon);
    const m = await waitFor(async () => (await receiver.receiveMessages(1, { maxWaitTimeInMs: 200 }))[0]);
    expect(m.body).toBe("soon");
    expect(m.sequenceNumber!.toNumber()).toBe(soonSeq!.toNumber());
    expect(m.enqueuedTimeUtc!.getTime()).toBeGreaterThanOrEqual(soon.getTime());
    expect((await receiver.peekMessages(5, { fromSequenceNumber: keep! })).map((p) => p.body)).toEqual([
      "keep",
    ]);
  });

  it("honours scheduledEnqueueTimeUtc on a plain send, also on topics", async () => {
    const { client } = await startBus(register, {
      queues: [queue("q")],
      topics: [topic("t", [{ name: "s" }])],
    });
    const at = new Date(Date.now() + 1000);
    const st = client.createSender("t");
    await client.createSender("q").sendMessages({ body: "later", scheduledEnqueueTimeUtc: at });
    await st.sendMessages({ body: "later-t", scheduledEnqueueTimeUtc: at });
    const [scheduledSeq] = await st.scheduleMessages([{ body: "gone" }], new Date(Date.now() + 1000));
    await st.cancelScheduledMessages([scheduledSeq!]);
    const rq = client.createReceiver("q", { receiveMode: "receiveAndDelete" });
    const rt = client.createReceiver("t", "s", { receiveMode: "receiveAndDelete" });
    // Not there before its time (a peek shows it as scheduled).
    expect((await rq.peekMessages(1, FROM_START))[0]?.state).toBe("scheduled");
    const mq = await waitFor(async () => (await rq.receiveMessages(1, { maxWaitTimeInMs: 200 }))[0]);
    const mt = await waitFor(async () => (await rt.receiveMessages(1, { maxWaitTimeInMs: 200 }))[0]);
    expect(mq.body).toBe("later");
    expect(mt.body).toBe("later-t");
    expect(mq.enqueuedTimeUtc!.getTime()).toBeGreaterThanOrEqual(at.getTime());
    expect(mt.enqueuedTimeUtc!.getTime()).toBeGreaterThanOrEqual(at.getTime());
    expect(await rt.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);
  });

  it("expired messages are dropped, or dead-lettered with TTLExpiredException when the entity says so", async () => {
    const { client } = await startBus(register, {
      queues: [
        queue("drop"),
        queue("dl", { deadLetteringOnMessageExpiration: true, defaultMessageTimeToLiveMs: 200 }),
      ],
    });
    await client.createSender("drop").sendMessages([{ body: "short", timeToLive: 150 }, { body: "long" }]);
    await client.createSender("dl").sendMessages({ body: "entity-default" });
    await sleep(350);
    const drop = client.createReceiver("drop", { receiveMode: "receiveAndDelete" });
    const got = await drop.receiveMessages(5, { maxWaitTimeInMs: 300 });
    expect(got.map((m) => m.body)).toEqual(["long"]);
    const dlq = client.createReceiver("dl", { subQueueType: "deadLetter", receiveMode: "receiveAndDelete" });
    const [d] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    expect(d!.body).toBe("entity-default");
    expect(d!.deadLetterReason).toBe("TTLExpiredException");
    expect(await client.createReceiver("dl").peekMessages(5, FROM_START)).toEqual([]);
  });

  it("a message TTL is capped by the entity's default TTL and reported back", async () => {
    const { client } = await startBus(register, {
      queues: [queue("q", { defaultMessageTimeToLiveMs: 60_000 })],
    });
    await client.createSender("q").sendMessages([{ body: 1, timeToLive: 3_600_000 }, { body: 2 }]);
    const got = await client
      .createReceiver("q", { receiveMode: "receiveAndDelete" })
      .receiveMessages(2, { maxWaitTimeInMs: 500 });
    // The expiry follows the capped TTL; the client derives timeToLive from the sender's own
    // (immutable) creation/expiry properties when they are there, as with Azure.
    expect(got.map((m) => m.expiresAtUtc!.getTime() - m.enqueuedTimeUtc!.getTime())).toEqual([
      60_000, 60_000,
    ]);
    expect(got[1]!.timeToLive).toBe(60_000);
  });

  it("a locked message that expires is not taken from its receiver; it expires once abandoned", async () => {
    const { client } = await startBus(register, {
      queues: [queue("q", { deadLetteringOnMessageExpiration: true })],
    });
    await client.createSender("q").sendMessages({ body: "x", timeToLive: 200 });
    const receiver = client.createReceiver("q");
    const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 500 });
    await sleep(300);
    await receiver.abandonMessage(m!);
    const dlq = client.createReceiver("q", { subQueueType: "deadLetter", receiveMode: "receiveAndDelete" });
    const [d] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    expect(d!.deadLetterReason).toBe("TTLExpiredException");
  });
});
