import rhea from "rhea";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseMessage } from "../amqp/codec.js";
import { Broker } from "./broker.js";
import { BrokerError } from "./errors.js";
import { MessageState, type StoredMessage } from "./message.js";
import type { Consumer } from "./store.js";

const encode = (m: object): Buffer => rhea.message.encode(m as Parameters<typeof rhea.message.encode>[0]);

class FakeConsumer implements Consumer {
  readonly linkName = "fake";
  readonly got: Array<{ msg: StoredMessage; count: number; token: string | undefined }> = [];
  terminated: string | undefined;
  constructor(
    public creditLeft: number,
    readonly receiveAndDelete = false,
  ) {}
  credit(): number {
    return this.creditLeft;
  }
  deliver(msg: StoredMessage, count: number, token?: string): void {
    this.creditLeft--;
    this.got.push({ msg, count, token });
  }
  terminate(code: string): void {
    this.terminated = code;
  }
}

describe("message store (broker logic, fake timers)", () => {
  let broker: Broker;
  beforeEach(() => {
    vi.useFakeTimers();
    broker = new Broker("ns");
  });
  afterEach(() => {
    broker.close();
    vi.useRealTimers();
  });

  const send = (entity: string, n: number, extra: object = {}): void =>
    broker.send(
      broker.resolveSendTarget(entity),
      Array.from({ length: n }, (_, i) => parseMessage(encode({ message_id: `m${i}`, body: i, ...extra }))),
    );

  it("locks, completes, abandons and defers with exact counts", () => {
    broker.createQueue("q", { lockDurationMs: 1000, maxDeliveryCount: 2 });
    send("q", 5);
    const store = broker.resolveStore("q");
    const c = new FakeConsumer(3);
    store.attachConsumer(c);
    store.onCredit(c, undefined);
    expect(c.got.map((g) => g.msg.seq)).toEqual([1, 2, 3]);
    expect(store.lockedCount).toBe(3);
    expect(store.availableCount).toBe(2);
    const [a, b, d] = c.got.map((g) => g.token!);
    store.complete(a!);
    store.abandon(b!);
    store.defer(d!);
    expect(() => store.complete(a!)).toThrow(BrokerError);
    expect(store.lockedCount).toBe(0);
    expect(store.deferredCount).toBe(1);
    expect(store.availableCount).toBe(3);
    expect(store.messages.size).toBe(4);
    // The abandoned message comes back first (lowest sequence number), its delivery counted.
    c.creditLeft = 1;
    store.onCredit(c, undefined);
    expect(c.got[3]).toMatchObject({ count: 1 });
    expect(c.got[3]!.msg.seq).toBe(2);
    // Its second lock expires: MaxDeliveryCount 2 is used up, so it is dead-lettered.
    vi.advanceTimersByTime(1500);
    expect(store.messages.has(2)).toBe(false);
    expect(store.deadLetterStore!.messages.get(2)?.state).toBe(MessageState.Available);
  });

  it("receive-and-delete removes on delivery; TTL expiry dead-letters when asked", () => {
    broker.createQueue("rad", {});
    broker.createQueue("ttl", { defaultMessageTimeToLiveMs: 500, deadLetteringOnMessageExpiration: true });
    send("rad", 3);
    send("ttl", 2);
    const rad = broker.resolveStore("rad");
    const c = new FakeConsumer(10, true);
    rad.attachConsumer(c);
    rad.onCredit(c, undefined);
    expect(c.got.map((g) => g.token)).toEqual([undefined, undefined, undefined]);
    expect(rad.messages.size).toBe(0);
    vi.advanceTimersByTime(600);
    const ttl = broker.resolveStore("ttl");
    expect(ttl.messages.size).toBe(0);
    expect(ttl.deadLetterStore!.messages.size).toBe(2);
  });

  it("drops the queue entries of messages that expire with nobody receiving", () => {
    broker.createQueue("q", { defaultMessageTimeToLiveMs: 1000 });
    send("q", 3000);
    vi.advanceTimersByTime(1500);
    const store = broker.resolveStore("q");
    expect(store.messages.size).toBe(0);
    expect(store.availableCount).toBe(0);
    const main = (store as unknown as { main: { fresh: { size: number } } }).main;
    expect(main.fresh.size).toBeLessThan(1024);
  });

  it("hands out sessions one receiver at a time, releases them with their messages", () => {
    broker.createQueue("s", { requiresSession: true, lockDurationMs: 1000 });
    send("s", 2, { group_id: "A" });
    send("s", 1, { group_id: "B" });
    const store = broker.resolveStore("s");
    const c1 = new FakeConsumer(10);
    const entry = store.acceptSession(c1, undefined)!;
    expect(entry.id).toBe("A");
    store.onCredit(c1, entry);
    expect(c1.got.map((g) => g.msg.sessionId)).toEqual(["A", "A"]);
    const c2 = new FakeConsumer(10);
    expect(() => store.acceptSession(c2, "A")).toThrow(/cannot be accepted/);
    expect(store.acceptSession(c2, undefined)!.id).toBe("B");
    // The session lock expires: the holder is told and the messages come back.
    vi.advanceTimersByTime(1500);
    expect(c1.terminated).toBe("SessionLockLost");
    expect(store.sessions.get("A")!.partition.available).toBe(2);
    expect(() => store.complete(c1.got[0]!.token!, c1)).toThrow(/session lock/i);
  });
});
