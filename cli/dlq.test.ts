import type { ServiceBusReceivedMessage } from "@azure/service-bus";
import Long from "long";
import { describe, expect, it } from "vitest";
import { NOTIFICATION_ID_PROPERTY } from "../publisher/message.js";
import { REPLAYED_FROM_PROPERTY, replayMessage } from "./dlq.js";

function deadLettered(overrides: Partial<ServiceBusReceivedMessage> = {}): ServiceBusReceivedMessage {
  return {
    messageId: "n-1",
    subject: "order.shipped",
    contentType: "application/json",
    body: { type: "order.shipped", to: { users: ["alice"] }, data: 7 },
    applicationProperties: { tenant: "t1" },
    sequenceNumber: Long.fromNumber(42),
    enqueuedTimeUtc: new Date(1_000_000),
    timeToLive: 60_000,
    expiresAtUtc: new Date(1_060_000),
    deadLetterReason: "MaxDeliveryCountExceeded",
    ...overrides,
  } as ServiceBusReceivedMessage;
}

describe("replayMessage", () => {
  it("keeps body, type and properties, carries the notification id under a new message id", () => {
    const m = replayMessage(deadLettered(), 1_020_000);
    expect(m.messageId).not.toBe("n-1");
    expect(m).toMatchObject({
      subject: "order.shipped",
      contentType: "application/json",
      body: { type: "order.shipped", to: { users: ["alice"] }, data: 7 },
      applicationProperties: {
        tenant: "t1",
        [NOTIFICATION_ID_PROPERTY]: "n-1",
        [REPLAYED_FROM_PROPERTY]: "42",
      },
      // 40 s of the 60 s time to live were left
      timeToLive: 40_000,
    });
    expect(replayMessage(deadLettered(), 1_020_000).messageId).not.toBe(m.messageId);
  });

  it("keeps the id a previous replay carried, and sets no TTL when the message had none", () => {
    const m = replayMessage(
      deadLettered({
        messageId: "some-uuid",
        applicationProperties: { [NOTIFICATION_ID_PROPERTY]: "n-1" },
        timeToLive: undefined,
      }),
      2_000_000,
    );
    expect(m.applicationProperties?.[NOTIFICATION_ID_PROPERTY]).toBe("n-1");
    expect(m.timeToLive).toBeUndefined();
  });
});
