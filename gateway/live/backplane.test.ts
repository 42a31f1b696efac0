import { describe, expect, it } from "vitest";
import type { Frame } from "../../core/streams.js";
import {
  MAX_TARGETS_PER_MESSAGE,
  decodeDelivery,
  encodeDelivery,
  replicaSubscriptionName,
} from "./backplane.js";

const frame = (stream: string, offset: number, id = "n1"): Frame => ({
  id,
  type: "order.shipped",
  data: { big: "x".repeat(100) },
  stream,
  offset,
  ts: 1700000000000,
});

describe("delivery messages", () => {
  it("write a notification's data once for all its streams and round-trip the frames", () => {
    const frames = [frame("user:alice", 3), frame("group:ops", 9), frame("broadcast", 1, "n2")];
    const bodies = encodeDelivery(frames);
    expect(bodies).toHaveLength(2);
    expect(bodies[0]!.toString().match(/"big"/g)).toHaveLength(1);
    expect(bodies.flatMap((b) => decodeDelivery(b))).toEqual(frames);
    // The SDK hands JSON bodies over parsed.
    expect(decodeDelivery(JSON.parse(bodies[0]!.toString()))).toEqual(frames.slice(0, 2));
  });

  it("split a notification to many streams over several messages", () => {
    const frames = Array.from({ length: MAX_TARGETS_PER_MESSAGE * 2 + 1 }, (_, i) => frame(`user:u${i}`, 1));
    const bodies = encodeDelivery(frames);
    expect(bodies).toHaveLength(3);
    expect(bodies.flatMap((b) => decodeDelivery(b))).toEqual(frames);
  });

  it.each([
    ["not json", /not valid JSON/],
    [{ v: 2, n: [] }, /expected \{ v: 1/],
    [{ v: 1, n: [null] }, /not an object/],
    [{ v: 1, n: [{ id: "x", type: "t", ts: 1, at: [["broadcast", 1]] }] }, /lacks id, type, ts or data/],
    [{ v: 1, n: [{ id: "x", type: "t", ts: 1, data: 1, at: [] }] }, /no stream positions/],
    [{ v: 1, n: [{ id: "x", type: "t", ts: 1, data: 1, at: [["nowhere", 1]] }] }, /not \[stream id/],
    [{ v: 1, n: [{ id: "x", type: "t", ts: 1, data: 1, at: [["broadcast", 1.5]] }] }, /not \[stream id/],
    [42, /expected/],
  ])("reject %j", (body, reason) => {
    expect(() => decodeDelivery(typeof body === "string" ? Buffer.from(body) : body)).toThrow(reason);
  });

  it("name each replica's subscription uniquely within Service Bus' rules", () => {
    const a = replicaSubscriptionName();
    expect(a).toMatch(/^[A-Za-z0-9.-]{1,50}$/);
    expect(a).not.toBe(replicaSubscriptionName());
  });
});
