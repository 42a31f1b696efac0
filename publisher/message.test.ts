import { describe, expect, it } from "vitest";
import { HeraldError } from "../core/errors.js";
import { NOTIFICATION_ID_PROPERTY, fromServiceBusMessage, toServiceBusMessage } from "./message.js";

describe("notification <-> Service Bus message", () => {
  it("maps every field onto the message", () => {
    const m = toServiceBusMessage(
      {
        id: "n1",
        type: "order.shipped",
        to: { users: ["alice"], groups: ["ops"] },
        data: { order: 7 },
        ttlSeconds: 30,
        deliverAt: "2030-01-01T00:00:00Z",
      },
      { tenant: "t1" },
    );
    expect(m).toEqual({
      messageId: "n1",
      subject: "order.shipped",
      contentType: "application/json",
      body: { type: "order.shipped", to: { users: ["alice"], groups: ["ops"] }, data: { order: 7 } },
      timeToLive: 30_000,
      scheduledEnqueueTimeUtc: new Date("2030-01-01T00:00:00Z"),
      applicationProperties: { tenant: "t1" },
    });
  });

  it("reads back what it wrote, from an object or from JSON bytes", () => {
    const n = { id: "n2", type: "a.b", to: { broadcast: true as const }, data: [1, 2] };
    const m = toServiceBusMessage(n);
    expect(fromServiceBusMessage({ messageId: "n2", subject: "a.b", body: m.body })).toEqual(n);
    const bytes = new TextEncoder().encode(JSON.stringify(m.body));
    expect(fromServiceBusMessage({ messageId: "n2", subject: undefined, body: bytes })).toEqual(n);
  });

  it("takes the notification id from herald-notification-id when a replay set it", () => {
    const body = { type: "a.b", to: { broadcast: true }, data: 1 };
    const n = fromServiceBusMessage({
      messageId: "replay-uuid",
      subject: "a.b",
      body,
      applicationProperties: { [NOTIFICATION_ID_PROPERTY]: "n3" },
    });
    expect(n.id).toBe("n3");
    expect(
      fromServiceBusMessage({ messageId: "m", subject: "a.b", body, applicationProperties: {} }).id,
    ).toBe("m");
  });

  it.each([
    [{ messageId: "x", subject: "a", body: new Uint8Array([0xff, 0xfe]) }, "HERALD_MALFORMED_JSON", "body"],
    [{ messageId: "x", subject: "a", body: "text" }, "HERALD_INVALID_FIELD", "body"],
    [
      { messageId: undefined, subject: "a", body: { type: "a", to: { broadcast: true }, data: 1 } },
      "HERALD_INVALID_FIELD",
      "messageId",
    ],
    [{ messageId: "x", subject: "a", body: { type: "a", to: {}, data: 1 } }, "HERALD_MISSING_TARGET", "to"],
    [
      { messageId: "x", subject: "b", body: { type: "a", to: { broadcast: true }, data: 1 } },
      "HERALD_INVALID_TYPE",
      "subject",
    ],
    [
      { messageId: "x", subject: "a", body: { type: "a", to: { broadcast: true }, data: 1, id: "y" } },
      "HERALD_UNKNOWN_FIELD",
      "body.id",
    ],
  ])("rejects an invalid message (%#) with %s at %s", (message, code, target) => {
    let caught: unknown;
    try {
      fromServiceBusMessage(message);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(HeraldError);
    expect({ code: (caught as HeraldError).code, target: (caught as HeraldError).target }).toEqual({
      code,
      target,
    });
  });
});
