/**
 * Credit, drain and release against the real client: `receiveMessages(n)` and `subscribe()` drain
 * the credit they did not use, and after a drain the emulator must not hand messages to that link
 * (it would lock them for a receiver that never gets them). Also the `released` outcome, which
 * 7.9.5 never sends but other AMQP clients do: the message is back at once, its delivery not counted.
 */
import type { ServiceBusReceivedMessage, ServiceBusReceiver } from "@azure/service-bus";
import rhea, { type EventContext } from "rhea";
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { rawConnect } from "./helpers/amqp.js";
import { queue, sleep, startBus, topic, useCleanup, waitFor, FROM_START } from "./helpers/servicebus.js";

/** Messages peeked from the start whose lock is still running (none should be, in these tests). */
async function lockedNow(r: ServiceBusReceiver): Promise<number> {
  const peeked = await r.peekMessages(100, FROM_START);
  return peeked.filter((m) => (m.lockedUntilUtc?.getTime() ?? 0) > Date.now()).length;
}

/** Receives until `count` messages arrived; at most 20 calls of up to 2 s each, and about 10 s in all. */
async function receiveAll(
  r: ServiceBusReceiver,
  n: number,
  count: number,
): Promise<ServiceBusReceivedMessage[]> {
  const out: ServiceBusReceivedMessage[] = [];
  const deadline = Date.now() + 10_000;
  for (let i = 0; i < 20 && out.length < count && Date.now() < deadline; i++) {
    out.push(...(await r.receiveMessages(n, { maxWaitTimeInMs: 2000 })));
  }
  return out;
}

describe("Service Bus emulator: drained credit and released messages", () => {
  const register = useCleanup();
  let consoleError: MockInstance<typeof console.error>;
  beforeEach(() => {
    consoleError = vi.spyOn(console, "error");
  });
  afterEach(() => {
    consoleError.mockRestore();
  });
  /** rhea's complaint when a queued delivery vanished from its session (the old failure). */
  const rheaLostDelivery = (): unknown[][] =>
    consoleError.mock.calls.filter((c) => String(c[0]).includes("Next pending delivery not found"));

  it("a message abandoned after a drained batch goes to the next receiver that asks", async () => {
    const { client } = await startBus(register, { queues: [queue("q")] });
    await client.createSender("q").sendMessages([1, 2, 3].map((body) => ({ body })));
    const first = client.createReceiver("q");
    // 10 credits, 3 messages: the client drains the other 7 after the wait.
    const got = await first.receiveMessages(10, { maxWaitTimeInMs: 300 });
    expect(got.map((m) => m.body)).toEqual([1, 2, 3]);
    for (const m of got) await first.abandonMessage(m);
    expect(await lockedNow(first)).toBe(0);

    const second = client.createReceiver("q");
    const again = await receiveAll(second, 10, 3);
    expect(again.map((m) => [m.body, m.deliveryCount])).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
    ]);
    for (const m of again) await second.completeMessage(m);
    await first.close();
    expect(rheaLostDelivery()).toEqual([]);
  });

  it("messages sent after an empty, drained receive are not held for that receiver", async () => {
    const { client } = await startBus(register, { queues: [queue("q")] });
    const idle = client.createReceiver("q");
    expect(await idle.receiveMessages(5, { maxWaitTimeInMs: 100 })).toEqual([]);
    await client.createSender("q").sendMessages([{ body: "a" }, { body: "b" }]);
    await sleep(100);
    expect(await lockedNow(idle)).toBe(0);
    const other = client.createReceiver("q");
    const got = await receiveAll(other, 5, 2);
    expect(got.map((m) => [m.body, m.deliveryCount])).toEqual([
      ["a", 0],
      ["b", 0],
    ]);
    // The idle receiver is closed with nothing queued for it: rhea loses nothing.
    await idle.close();
    expect(rheaLostDelivery()).toEqual([]);
  });

  for (const n of [5, 10, 50]) {
    it(`subscription dead-letter queue: batches of ${n}, repeated on one receiver, then closed`, async () => {
      const { client } = await startBus(register, { topics: [topic("t", [{ name: "s" }])] });
      const total = 7; // more than 5, fewer than 10 and 50
      await client.createSender("t").sendMessages(Array.from({ length: total }, (_, i) => ({ body: i })));
      const main = client.createReceiver("t", "s");
      for (const m of await receiveAll(main, 10, total)) await main.deadLetterMessage(m);

      // As `herald dlq replay` does: complete the even ones, abandon the odd ones, call again.
      const dlq = client.createReceiver("t", "s", { subQueueType: "deadLetter" });
      const seen = new Set<number>();
      for (let call = 0; call < 20 && seen.size < total; call++) {
        const batch = await dlq.receiveMessages(n, { maxWaitTimeInMs: 300 });
        expect(batch.length).toBeLessThanOrEqual(n);
        for (const m of batch) {
          const body = m.body as number;
          const again = seen.has(body); // an abandoned one coming round again
          seen.add(body);
          if (body % 2 === 0 && !again) await dlq.completeMessage(m);
          else await dlq.abandonMessage(m);
        }
      }
      expect(seen.size).toBe(total);
      // Odd ones abandoned and maybe received again: whatever this receiver still holds it
      // abandons, then closes.
      const leftovers = await dlq.receiveMessages(n, { maxWaitTimeInMs: 300 });
      for (const m of leftovers) await dlq.abandonMessage(m);
      await dlq.close();
      expect(rheaLostDelivery()).toEqual([]);

      const next = client.createReceiver("t", "s", { subQueueType: "deadLetter" });
      expect(await lockedNow(next)).toBe(0);
      const rest = await receiveAll(next, n, 3);
      expect(rest.map((m) => m.body as number).sort()).toEqual([1, 3, 5]);
      await next.close();
    });
  }

  it("subscribe(): after the subscription is closed (drained), new messages go to another receiver", async () => {
    const { client } = await startBus(register, { queues: [queue("q")] });
    const sender = client.createSender("q");
    await sender.sendMessages([{ body: 0 }, { body: 1 }]);
    const streaming = client.createReceiver("q");
    const handled: number[] = [];
    const sub = streaming.subscribe(
      {
        async processMessage(m) {
          handled.push(m.body as number);
        },
        async processError() {},
      },
      { maxConcurrentCalls: 5 },
    );
    await waitFor(() => (handled.length === 2 ? true : undefined), 10_000);
    await sub.close();
    await sender.sendMessages([{ body: 2 }, { body: 3 }]);
    await sleep(100);
    expect(await lockedNow(streaming)).toBe(0);
    const other = client.createReceiver("q");
    const got = await receiveAll(other, 5, 2);
    expect(got.map((m) => m.body)).toEqual([2, 3]);
    await streaming.close();
    expect(rheaLostDelivery()).toEqual([]);
  });

  it("a link closed while deliveries wait for the client's session window gives those back at once", async () => {
    const { emulator, client } = await startBus(register, { queues: [queue("q")] });
    await client.createSender("q").sendMessages([1, 2, 3, 4, 5].map((body) => ({ body })));
    // A session window of 2: the emulator can put 2 of the 5 credited messages on the wire;
    // the other 3 wait in its session queue, locked for a client that has not seen them.
    const container = rhea.create_container();
    container.on("error", () => {});
    const connection = container.connect({
      host: "127.0.0.1",
      port: emulator.port,
      reconnect: false,
      idle_time_out: 0,
      session_buffer_size: 2,
    } as never);
    register({
      close: () =>
        new Promise<void>((resolve) => {
          connection.once("connection_close", () => resolve());
          connection.once("disconnected", () => resolve());
          connection.close();
          setTimeout(resolve, 500);
        }),
    });
    const receiver = connection.open_receiver({
      source: { address: "q" },
      credit_window: 0,
      autoaccept: false,
      rcv_settle_mode: 1,
    });
    const seen: number[] = [];
    // The SDK sends bodies as one data section holding JSON.
    receiver.on("message", (ctx: EventContext) => {
      const body = ctx.message!.body as { content: Buffer };
      seen.push(JSON.parse(body.content.toString()) as number);
    });
    receiver.once("receiver_open", () => receiver.add_credit(5));
    await waitFor(() => (seen.length === 2 ? true : undefined));
    await sleep(100);
    expect(seen).toEqual([1, 2]);
    await new Promise<void>((resolve) => {
      receiver.once("receiver_close", () => resolve());
      receiver.close();
    });

    const other = client.createReceiver("q");
    const got = await receiveAll(other, 3, 3);
    expect(got.map((m) => [m.body, m.deliveryCount])).toEqual([
      [3, 0],
      [4, 0],
      [5, 0],
    ]);
    // The two it did receive stay locked until their lock runs out (as on Service Bus).
    expect(await lockedNow(other)).toBe(5);
    expect(rheaLostDelivery()).toEqual([]);
  });

  for (const settled of [false, true]) {
    it(`a released message (${settled ? "settled" : "unsettled"} disposition) is available at once, its delivery not counted`, async () => {
      const { emulator, client } = await startBus(register, { queues: [queue("q")] });
      await client.createSender("q").sendMessages([{ body: "p" }, { body: "q" }]);
      const conn = await rawConnect(emulator.port);
      register(conn);
      // A prefetching client: two messages in its buffer, released when it stops.
      const { receiver } = await conn.attachReceiver("q", {
        credit_window: 0,
        autoaccept: false,
        rcv_settle_mode: 1,
      });
      const deliveries: NonNullable<EventContext["delivery"]>[] = [];
      receiver.on("message", (ctx: EventContext) => deliveries.push(ctx.delivery!));
      receiver.add_credit(2);
      await waitFor(() => (deliveries.length === 2 ? true : undefined));
      const released = (rhea.message as unknown as { released(): { described(): unknown } }).released();
      for (const d of deliveries) d.update(settled, released.described() as never);
      // The emulator answers an unsettled release with its settlement; a settled one needs none.
      if (!settled) await waitFor(() => (deliveries.every((d) => d.remote_settled) ? true : undefined));

      const r = client.createReceiver("q");
      expect(await lockedNow(r)).toBe(0);
      const got = await receiveAll(r, 10, 2);
      expect(got.map((m) => [m.body, m.deliveryCount])).toEqual([
        ["p", 0],
        ["q", 0],
      ]);
    });
  }
});
