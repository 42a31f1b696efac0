import { ServiceBusClient, ServiceBusError } from "@azure/service-bus";
import { describe, expect, it } from "vitest";
import rhea from "rhea";
import { rawConnect } from "./helpers/amqp.js";
import { queue, sleep, startBus, topic, useCleanup, FROM_START } from "./helpers/servicebus.js";

describe("Service Bus emulator: sessions", () => {
  const register = useCleanup();

  it("accepts a named session and receives only its messages, in order", async () => {
    const { client } = await startBus(register, { queues: [queue("sq", { requiresSession: true })] });
    const sender = client.createSender("sq");
    await sender.sendMessages([
      { body: "a1", sessionId: "A" },
      { body: "b1", sessionId: "B" },
      { body: "a2", sessionId: "A" },
      { body: "b2", sessionId: "B" },
      { body: "a3", sessionId: "A" },
    ]);
    const a = await client.acceptSession("sq", "A");
    expect(a.sessionId).toBe("A");
    expect(a.sessionLockedUntilUtc!.getTime()).toBeGreaterThan(Date.now() + 30_000);
    const got = await a.receiveMessages(10, { maxWaitTimeInMs: 500 });
    expect(got.map((m) => m.body)).toEqual(["a1", "a2", "a3"]);
    expect(got.every((m) => m.sessionId === "A")).toBe(true);
    for (const m of got) await a.completeMessage(m);
    await a.close();
    const b = await client.acceptNextSession("sq");
    expect(b.sessionId).toBe("B");
    const gotB = await b.receiveMessages(10, { maxWaitTimeInMs: 500 });
    expect(gotB.map((m) => m.body)).toEqual(["b1", "b2"]);
  });

  it("keeps session state, renews the session lock, and locks a session to one receiver", async () => {
    const { client } = await startBus(register, { queues: [queue("sq", { requiresSession: true })] });
    await client.createSender("sq").sendMessages({ body: 1, sessionId: "S" });
    const r = await client.acceptSession("sq", "S", { maxAutoLockRenewalDurationInMs: 0 });
    expect(await r.getSessionState()).toBeNull();
    await r.setSessionState({ step: 2 });
    expect(await r.getSessionState()).toEqual({ step: 2 });
    const before = r.sessionLockedUntilUtc!.getTime();
    await sleep(20);
    await r.renewSessionLock();
    expect(r.sessionLockedUntilUtc!.getTime()).toBeGreaterThan(before);

    const other = await client.acceptSession("sq", "S").catch((e: unknown) => e);
    expect((other as ServiceBusError).code).toBe("SessionCannotBeLocked");

    await r.close();
    const again = await client.acceptSession("sq", "S");
    expect(await again.getSessionState()).toEqual({ step: 2 });
    // The unsettled message from the closed receiver comes back with its delivery counted.
    const [m] = await again.receiveMessages(1, { maxWaitTimeInMs: 500 });
    expect(m!.body).toBe(1);
    await again.completeMessage(m!);
    await again.setSessionState(null);
    expect(await again.getSessionState()).toBeNull();
  });

  it("acceptNextSession waits for a session to get messages, or times out", async () => {
    const { client, emulator } = await startBus(register, {
      queues: [queue("sq", { requiresSession: true })],
    });
    const pending = client.acceptNextSession("sq", { maxAutoLockRenewalDurationInMs: 0 });
    await sleep(150);
    await client.createSender("sq").sendMessages({ body: "hi", sessionId: "late" });
    const r = await pending;
    expect(r.sessionId).toBe("late");
    const [m] = await r.receiveMessages(1, { maxWaitTimeInMs: 500 });
    expect(m!.body).toBe("hi");
    await r.completeMessage(m!);

    const impatient = new ServiceBusClient(emulator.connectionString, {
      retryOptions: { maxRetries: 0, timeoutInMs: 300 },
    });
    register(impatient);
    const err = await impatient.acceptNextSession("sq").catch((e: unknown) => e);
    expect((err as ServiceBusError).code).toBe("ServiceTimeout");
  });

  it("a session whose lock expires is released: settling then is SessionLockLost", async () => {
    const { client } = await startBus(register, {
      queues: [queue("sq", { requiresSession: true, lockDurationMs: 300 })],
    });
    await client.createSender("sq").sendMessages({ body: "x", sessionId: "E" });
    const r = await client.acceptSession("sq", "E", { maxAutoLockRenewalDurationInMs: 0 });
    const [m] = await r.receiveMessages(1, { maxWaitTimeInMs: 500 });
    await sleep(500);
    const err = await r.completeMessage(m!).catch((e: unknown) => e);
    expect((err as ServiceBusError).code).toBe("SessionLockLost");
    const r2 = await client.acceptSession("sq", "E");
    const [m2] = await r2.receiveMessages(1, { maxWaitTimeInMs: 500 });
    expect(m2!.deliveryCount).toBe(1);
    await r2.completeMessage(m2!);
  });

  it("automatic session lock renewal keeps a session past its lock duration", async () => {
    const { client } = await startBus(register, {
      queues: [queue("sq", { requiresSession: true, lockDurationMs: 1500 })],
    });
    await client.createSender("sq").sendMessages({ body: "x", sessionId: "R" });
    const r = await client.acceptSession("sq", "R", { maxAutoLockRenewalDurationInMs: 10_000 });
    const first = r.sessionLockedUntilUtc!.getTime();
    await sleep(2000);
    expect(r.sessionLockedUntilUtc!.getTime()).toBeGreaterThan(first);
    const [m] = await r.receiveMessages(1, { maxWaitTimeInMs: 500 });
    await r.completeMessage(m!);
  });

  it("session subscriptions, receivers without a session are refused, messages without one are rejected", async () => {
    const { client } = await startBus(register, {
      queues: [queue("sq", { requiresSession: true })],
      topics: [topic("t", [{ name: "s", options: { requiresSession: true } }])],
    });
    await client.createSender("t").sendMessages([
      { body: 1, sessionId: "one" },
      { body: 2, sessionId: "one" },
    ]);
    const r = await client.acceptSession("t", "s", "one");
    const got = await r.receiveMessages(5, { maxWaitTimeInMs: 500 });
    expect(got.map((m) => m.body)).toEqual([1, 2]);
    const peeked = await r.peekMessages(5, FROM_START);
    expect(peeked.map((m) => m.body)).toEqual([1, 2]);

    const noSession = await client
      .createSender("sq")
      .sendMessages({ body: "x" })
      .catch((e: unknown) => e);
    expect(noSession).toBeInstanceOf(ServiceBusError);
    const plain = await client
      .createReceiver("sq")
      .receiveMessages(1, { maxWaitTimeInMs: 500 })
      .catch((e: unknown) => e);
    expect(plain).toBeInstanceOf(Error);
  });

  it("defers session messages and receives them by sequence number within the session", async () => {
    const { client } = await startBus(register, { queues: [queue("sq", { requiresSession: true })] });
    await client.createSender("sq").sendMessages([
      { body: "first", sessionId: "D" },
      { body: "second", sessionId: "D" },
    ]);
    const r = await client.acceptSession("sq", "D");
    const [a, b] = await r.receiveMessages(2, { maxWaitTimeInMs: 500 });
    await r.deferMessage(a!);
    await r.completeMessage(b!);
    const [d] = await r.receiveDeferredMessages([a!.sequenceNumber!]);
    expect(d!.body).toBe("first");
    await r.completeMessage(d!);
    expect(await r.peekMessages(5, FROM_START)).toEqual([]);
  });

  it("lists the sessions that have messages or state ($management get-message-sessions)", async () => {
    const { client, emulator } = await startBus(register, {
      queues: [queue("sq", { requiresSession: true })],
    });
    await client.createSender("sq").sendMessages([
      { body: 1, sessionId: "A" },
      { body: 2, sessionId: "B" },
    ]);
    const r = await client.acceptSession("sq", "C");
    await r.setSessionState("only state");
    await r.close();
    const conn = await rawConnect(emulator.port);
    register(conn);
    const reply = await conn.request("sq/$management", {
      application_properties: { operation: "com.microsoft:get-message-sessions" },
      body: { "last-updated-time": new Date(0), skip: rhea.types.wrap_int(0), top: rhea.types.wrap_int(10) },
    });
    expect(reply.application_properties?.["statusCode"]).toBe(200);
    expect(((reply.body as Record<string, unknown>)["sessions-ids"] as string[]).sort()).toEqual([
      "A",
      "B",
      "C",
    ]);
  });

  it("subscribe() on a session receiver processes the session's messages", async () => {
    const { client } = await startBus(register, { queues: [queue("sq", { requiresSession: true })] });
    await client
      .createSender("sq")
      .sendMessages(Array.from({ length: 5 }, (_, i) => ({ body: i, sessionId: "S" })));
    const r = await client.acceptSession("sq", "S");
    const seen: number[] = [];
    await new Promise<void>((resolve, reject) => {
      r.subscribe({
        async processMessage(m) {
          seen.push(m.body as number);
          if (seen.length === 5) resolve();
        },
        async processError(args) {
          reject(args.error);
        },
      });
    });
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });
});
