import { describe, expect, it } from "vitest";
import { queue, startBus, useCleanup } from "./helpers/servicebus.js";

describe("Service Bus emulator: queues with the real client", () => {
  const register = useCleanup();

  it("sends, receives and completes one message", async () => {
    const { client } = await startBus(register, { queues: [queue("orders")] });
    const sender = client.createSender("orders");
    await sender.sendMessages({ body: { id: 1 }, messageId: "m1", applicationProperties: { kind: "new" } });
    const receiver = client.createReceiver("orders");
    const [msg] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2000 });
    expect(msg?.body).toEqual({ id: 1 });
    expect(msg?.messageId).toBe("m1");
    expect(msg?.applicationProperties).toEqual({ kind: "new" });
    expect(msg?.deliveryCount).toBe(0);
    expect(msg?.sequenceNumber?.toNumber()).toBe(1);
    await receiver.completeMessage(msg!);
    const none = await receiver.receiveMessages(1, { maxWaitTimeInMs: 200 });
    expect(none).toHaveLength(0);
  });
});
