import azureFunctions from "@azure/functions";
import { describe, expect, it } from "vitest";
import type { DeliveryContext } from "../gateway/delivery.js";
import { createLogger } from "../gateway/log.js";
import { MemoryStreamStore } from "../gateway/store/memory.js";
import { fromServiceBusMessage } from "../publisher/message.js";
import {
  createFanoutHandler,
  DeliveryFailedError,
  InvalidNotificationError,
  toDeliverableMessage,
} from "./fanout.js";

const { InvocationContext } = azureFunctions;

describe("toDeliverableMessage", () => {
  it("reads the system properties from the trigger metadata", () => {
    const message = toDeliverableMessage(
      { type: "t", to: { broadcast: true } },
      {
        messageId: "m-1",
        subject: "t",
        contentType: "application/json",
        enqueuedTimeUtc: "2026-01-01T00:00:00.000Z",
        expiresAtUtc: "2026-01-02T00:00:00Z",
        deliveryCount: 2,
      },
    );
    expect(message).toEqual({
      messageId: "m-1",
      subject: "t",
      contentType: "application/json",
      body: { type: "t", to: { broadcast: true } },
      enqueuedTimeUtc: new Date("2026-01-01T00:00:00.000Z"),
      expiresAtUtc: new Date("2026-01-02T00:00:00Z"),
    });
  });

  it("takes the legacy `label` for the subject, and leaves out what is missing or unreadable", () => {
    expect(toDeliverableMessage({}, { messageId: 5, label: "t", enqueuedTimeUtc: "not a date" })).toEqual({
      messageId: 5,
      subject: "t",
      contentType: undefined,
      body: {},
      enqueuedTimeUtc: undefined,
      expiresAtUtc: undefined,
    });
    expect(toDeliverableMessage({}, undefined).messageId).toBeUndefined();
    const dotnet = toDeliverableMessage({}, { expiresAtUtc: "9999-12-31T23:59:59.9999999" });
    expect(dotnet.expiresAtUtc?.toISOString()).toBe("9999-12-31T23:59:59.999Z");
  });

  it("passes the application properties on, so a replayed dead letter keeps its notification id", () => {
    const body = { type: "t", to: { broadcast: true }, data: 1 };
    const replayed = toDeliverableMessage(body, {
      messageId: "new-message-id",
      subject: "t",
      applicationProperties: { "herald-notification-id": "original-id" },
    });
    expect(replayed.applicationProperties).toEqual({ "herald-notification-id": "original-id" });
    expect(fromServiceBusMessage(replayed).id).toBe("original-id");
    const older = toDeliverableMessage(body, { messageId: "m", userProperties: { a: 1 } });
    expect(older.applicationProperties).toEqual({ a: 1 });
    expect(
      toDeliverableMessage(body, { messageId: "m", applicationProperties: "x" }).applicationProperties,
    ).toBe(undefined);
  });

  it("turns text back into bytes so the strict JSON parse applies", () => {
    const message = toDeliverableMessage("not json", { messageId: "m" });
    expect(message.body).toEqual(new TextEncoder().encode("not json"));
  });
});

describe("createFanoutHandler", () => {
  const log = createLogger({ level: "silent" });
  const logged: string[] = [];
  const context = (metadata: Record<string, unknown>) =>
    new InvocationContext({
      functionName: "fanout",
      triggerMetadata: metadata,
      logHandler: (level, ...args) => logged.push(`${level} ${args.join(" ")}`),
    });

  it("returns on delivery and throws for an invalid or undeliverable message", async () => {
    const store = new MemoryStreamStore({ sweepIntervalMs: 0 });
    let fail = true;
    const delivery = async (): Promise<DeliveryContext> => ({
      store,
      sinks: [
        {
          name: "webpubsub",
          push: async () => {
            if (fail) throw new Error("ECONNRESET");
          },
        },
      ],
      maxDataBytes: 1000,
    });
    const handler = createFanoutHandler(delivery, log);
    const body = { type: "t", to: { users: ["a"] }, data: 1 };
    const error = await handler(body, context({ messageId: "m-1" })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryFailedError);
    expect((error as DeliveryFailedError).stage).toBe("webpubsub");
    fail = false;
    await expect(handler(body, context({ messageId: "m-1" }))).resolves.toBeUndefined();
    const invalid = await handler({ type: "t" }, context({ messageId: "m-2" })).catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(InvalidNotificationError);
    expect((invalid as InvalidNotificationError).reason).toBe("InvalidNotification");
    expect((invalid as InvalidNotificationError).message).toMatch(
      /^InvalidNotification: HERALD_MISSING_TARGET/,
    );
    expect(logged).toEqual([
      "warning notification m-1: delivery failed at webpubsub: ECONNRESET",
      expect.stringMatching(/^warning notification m-2: InvalidNotification: HERALD_MISSING_TARGET: /),
    ]);
    await store.close();
  });

  it("throws when the store cannot be opened, so the host retries the message", async () => {
    const handler = createFanoutHandler(() => Promise.reject(new Error("table unreachable")), log);
    await expect(handler({}, context({ messageId: "m" }))).rejects.toThrow("table unreachable");
  });
});
