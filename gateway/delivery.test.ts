import { afterEach, describe, expect, it } from "vitest";
import type { Frame } from "../core/streams.js";
import { toServiceBusMessage } from "../publisher/message.js";
import { deliverNotification, type DeliverableMessage } from "./delivery.js";
import type { Sink } from "./sinks/types.js";
import { MemoryStreamStore } from "./store/memory.js";
import { StreamStoreError } from "./store/types.js";

const stores: MemoryStreamStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function store(): MemoryStreamStore {
  const s = new MemoryStreamStore({ sweepIntervalMs: 0 });
  stores.push(s);
  return s;
}

function collecting(): Sink & { pushed: Frame[][] } {
  const pushed: Frame[][] = [];
  return { name: "collect", pushed, push: async (frames) => void pushed.push([...frames]) };
}

const NOW = Date.UTC(2026, 0, 1);
const message = (overrides: Partial<DeliverableMessage> = {}): DeliverableMessage => ({
  messageId: "n-1",
  subject: "order.shipped",
  contentType: "application/json",
  body: { type: "order.shipped", to: { users: ["alice"], groups: ["ops"] }, data: { order: 7 } },
  enqueuedTimeUtc: new Date(NOW - 50),
  ...overrides,
});

describe("deliverNotification", () => {
  it("stores a valid notification in every target stream and pushes the frames to every sink", async () => {
    const sink = collecting();
    const outcome = await deliverNotification(message(), {
      store: store(),
      sinks: [sink],
      maxDataBytes: 1000,
      now: () => NOW,
    });
    expect(outcome).toEqual({ kind: "delivered", streams: 2, duplicate: false });
    expect(sink.pushed).toHaveLength(1);
    expect(sink.pushed[0]!.map((f) => [f.stream, f.offset, f.ts])).toEqual([
      ["user:alice", 1, NOW - 50],
      ["group:ops", 1, NOW - 50],
    ]);
  });

  it("gives a redelivery the original frames and says it was a duplicate", async () => {
    const s = store();
    const sink = collecting();
    const context = { store: s, sinks: [sink], maxDataBytes: 1000, now: () => NOW };
    await deliverNotification(message(), context);
    expect(await deliverNotification(message(), context)).toMatchObject({
      kind: "delivered",
      duplicate: true,
    });
    expect(sink.pushed[1]).toEqual(sink.pushed[0]);
  });

  it("reads the same wire format the publisher writes", async () => {
    const wire = toServiceBusMessage({ id: "w-1", type: "t", to: { broadcast: true }, data: "x" });
    const outcome = await deliverNotification(
      { ...wire, body: new TextEncoder().encode(JSON.stringify(wire.body)) } as DeliverableMessage,
      { store: store(), sinks: [], maxDataBytes: 1000 },
    );
    expect(outcome).toMatchObject({ kind: "delivered", streams: 1 });
  });

  it("calls an invalid message invalid, with the reason and the error code in the description", async () => {
    const s = store();
    const outcome = await deliverNotification(message({ body: { type: "x", to: {} }, subject: undefined }), {
      store: s,
      sinks: [],
      maxDataBytes: 1000,
    });
    expect(outcome).toMatchObject({ kind: "invalid", reason: "InvalidNotification" });
    expect(outcome.kind === "invalid" && outcome.description).toMatch(/^HERALD_MISSING_TARGET: /);
    const bytes = await deliverNotification(message({ body: new Uint8Array([0xff]) }), {
      store: s,
      sinks: [],
      maxDataBytes: 1000,
    });
    expect(bytes).toMatchObject({
      kind: "invalid",
      description: expect.stringMatching(/^HERALD_MALFORMED_JSON/),
    });
  });

  it("skips an expired message without storing it", async () => {
    const s = store();
    const outcome = await deliverNotification(message({ expiresAtUtc: new Date(NOW - 1) }), {
      store: s,
      sinks: [],
      maxDataBytes: 1000,
      now: () => NOW,
    });
    expect(outcome).toEqual({ kind: "expired" });
    expect((await s.read("user:alice", 0, 10)).frames).toEqual([]);
  });

  it("reports a store or sink failure as failed, naming the stage", async () => {
    const broken = store();
    broken.append = () => Promise.reject(new StreamStoreError("STORE_UNAVAILABLE", "down"));
    expect(
      await deliverNotification(message(), { store: broken, sinks: [], maxDataBytes: 1000 }),
    ).toMatchObject({
      kind: "failed",
      stage: "store",
    });
    const failing: Sink = { name: "webpubsub", push: () => Promise.reject(new Error("ECONNRESET")) };
    const outcome = await deliverNotification(message(), {
      store: store(),
      sinks: [collecting(), failing],
      maxDataBytes: 1000,
    });
    expect(outcome).toMatchObject({ kind: "failed", stage: "webpubsub" });
    expect(outcome.kind === "failed" && (outcome.error as Error).message).toBe("ECONNRESET");
  });
});
