/**
 * `herald publish` (straight to Service Bus) and `herald dlq list / replay` in child processes,
 * against the Service Bus emulator running the repository's Config.json; the official SDK
 * dead-letters messages and reads what the replay put back.
 */
import { ServiceBusClient, type ServiceBusReceiver } from "@azure/service-bus";
import Long from "long";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromServiceBusMessage, NOTIFICATION_ID_PROPERTY } from "../publisher/message.js";
import { runHerald, startHerald, type RunningServer } from "./helpers/cli.js";

let emulator: RunningServer;
let connectionString: string;
let client: ServiceBusClient;
let receiver: ServiceBusReceiver;
let deadLetters: ServiceBusReceiver;

beforeAll(async () => {
  emulator = await startHerald([
    "emulator",
    "servicebus",
    "--config",
    "emulator/servicebus/Config.json",
    "--port",
    "0",
    "--management-port",
    "0",
    "--quiet",
  ]);
  const port = new URL(emulator.url).port;
  connectionString = `Endpoint=sb://localhost:${port};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;`;
  client = new ServiceBusClient(connectionString);
  receiver = client.createReceiver("notifications", "gateway");
  deadLetters = client.createReceiver("notifications", "gateway", { subQueueType: "deadLetter" });
});
afterAll(async () => {
  await deadLetters?.close();
  await receiver?.close();
  await client?.close();
  await emulator?.stop();
});

// The subscription is named: local.settings.json (the Functions host's settings) names its own.
const herald = (...args: string[]) =>
  runHerald([
    ...args,
    "--servicebus",
    connectionString,
    ...(args[0] === "dlq" ? ["--subscription", "gateway"] : []),
  ]);

async function publishAndDeadLetter(id: string, reason: string, description: string): Promise<void> {
  const r = await herald("publish", "--user", "alice", "--type", "order.shipped", "--id", id, '{"order":7}');
  expect(r.stderr).toBe("");
  expect(r.stdout).toBe(`${id}\n`);
  const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
  expect(m?.messageId).toBe(id);
  await receiver.deadLetterMessage(m!, { deadLetterReason: reason, deadLetterErrorDescription: description });
}

/** The ids on the dead-letter queue, peeked with the SDK (fewer CLI processes in the test). */
async function onDeadLetterQueue(): Promise<string[]> {
  return (await deadLetters.peekMessages(100, { fromSequenceNumber: Long.ZERO })).map((m) =>
    String(m.applicationProperties?.[NOTIFICATION_ID_PROPERTY] ?? m.messageId),
  );
}

async function listed(): Promise<
  {
    id: string;
    type: string;
    reason: string;
    description: string;
    deliveryCount: number;
    enqueuedAt: string;
  }[]
> {
  const r = await herald("dlq", "list", "--json");
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as never;
}

describe("herald dlq", () => {
  it("lists dead-lettered notifications without consuming them, and replays one by id", async () => {
    await publishAndDeadLetter("n-1", "SinkUnavailable", "web pubsub \u001b[31mdown");

    const first = await listed();
    expect(first).toEqual([
      expect.objectContaining({
        id: "n-1",
        type: "order.shipped",
        reason: "SinkUnavailable",
        description: "web pubsub \u001b[31mdown",
        deliveryCount: 1,
      }),
    ]);
    expect(Date.parse(first[0]!.enqueuedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(await onDeadLetterQueue()).toEqual(["n-1"]); // listing consumed nothing

    const table = await herald("dlq", "list");
    expect(table.stdout).toMatch(/^ID\s+TYPE\s+REASON\s+ENQUEUED\s+DELIVERIES\s+DESCRIPTION$/m);
    expect(table.stdout).toMatch(/n-1\s+order\.shipped\s+SinkUnavailable/);
    expect(table.stdout).not.toContain("\u001b"); // no terminal escapes from message text

    const dry = await herald("dlq", "replay", "--id", "n-1", "--dry-run");
    expect(dry.stdout).toMatch(/^would replay n-1 order\.shipped \(SinkUnavailable\)$/m);
    expect(await onDeadLetterQueue()).toEqual(["n-1"]);

    const replay = await herald("dlq", "replay", "--id", "n-1");
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toBe("replayed n-1\n");
    expect(await onDeadLetterQueue()).toEqual([]);

    // The copy is back on the subscription under a new message id, carrying the notification id.
    const [copy] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    expect(copy).toBeDefined();
    expect(copy!.messageId).not.toBe("n-1");
    expect(copy!.applicationProperties?.[NOTIFICATION_ID_PROPERTY]).toBe("n-1");
    expect(fromServiceBusMessage(copy!)).toMatchObject({
      id: "n-1",
      type: "order.shipped",
      to: { users: ["alice"] },
      data: { order: 7 },
    });
    await receiver.completeMessage(copy!);

    const again = await herald("dlq", "replay", "--id", "n-1");
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^herald: HERALD_NOT_FOUND: no dead-lettered notification with id "n-1"/);
  });

  it("replays only the chosen id, then --all the rest", async () => {
    await publishAndDeadLetter("n-2", "MaxDeliveryCountExceeded", "tried 10 times");
    await publishAndDeadLetter("n-3", "MaxDeliveryCountExceeded", "tried 10 times");

    expect((await herald("dlq", "replay", "--id", "n-3")).stdout).toBe("replayed n-3\n");
    expect(await onDeadLetterQueue()).toEqual(["n-2"]);

    const all = await herald("dlq", "replay", "--all");
    expect(all.stdout).toBe("replayed n-2\n");
    expect(await onDeadLetterQueue()).toEqual([]);
    const copies = await receiver.receiveMessages(2, { maxWaitTimeInMs: 5000 });
    expect(copies.map((m) => m.applicationProperties?.[NOTIFICATION_ID_PROPERTY]).sort()).toEqual([
      "n-2",
      "n-3",
    ]);
    for (const m of copies) await receiver.completeMessage(m);

    expect((await herald("dlq", "replay", "--all")).stdout).toMatch(
      /^no dead-lettered notifications on notifications\/gateway$/m,
    );
  });
});
