import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import type {
  ServiceBusClient,
  ServiceBusMessage,
  ServiceBusReceivedMessage,
  ServiceBusReceiver,
} from "@azure/service-bus";
import { HeraldError } from "../core/errors.js";
import { NOTIFICATION_ID_PROPERTY } from "../publisher/message.js";
import { usageError, type Command } from "./command.js";
import { CLI_BUS_OPTIONS, busConnectionString, unreachable } from "./servicebus.js";
import { cliSetting } from "./settings.js";

/** One dead-lettered notification as `dlq list` shows it. */
export interface DeadLetter {
  sequenceNumber: string;
  id: string | undefined;
  type: string | undefined;
  reason: string | undefined;
  description: string | undefined;
  enqueuedAt: string | undefined;
  deliveryCount: number | undefined;
}

/** Application property a replayed message carries: the dead-letter sequence number it came from. */
export const REPLAYED_FROM_PROPERTY = "herald-replayed-from";

const PEEK_PAGE = 100;
/** Dead letters locked per receive call while replaying. */
const RECEIVE_BATCH = 50;
const DEFAULT_MAX = 1000;

const COMMON_OPTIONS = {
  servicebus: { type: "string" },
  topic: { type: "string" },
  subscription: { type: "string" },
  max: { type: "string" },
} as const;

const COMMON_USAGE = `  --servicebus CONN   Service Bus connection string (default: HERALD_SERVICEBUS, then local.settings.json)
  --topic NAME        topic (default: HERALD_TOPIC, then local.settings.json, then notifications)
  --subscription NAME subscription whose dead-letter queue is read (default: HERALD_SUBSCRIPTION, gateway)
  --max N             look at most at N dead-lettered messages (default ${DEFAULT_MAX})`;

interface Target {
  connectionString: string;
  topic: string;
  subscription: string;
  max: number;
}

function target(values: {
  servicebus?: string;
  topic?: string;
  subscription?: string;
  max?: string;
}): Target {
  const max = values.max === undefined ? DEFAULT_MAX : Number(values.max);
  if (values.max !== undefined && (!/^\d+$/.test(values.max) || max < 1 || max > 100_000)) {
    usageError(`--max must be a whole number from 1 to 100000, got "${values.max}"`, "--max");
  }
  return {
    connectionString: busConnectionString(values.servicebus),
    topic: values.topic ?? cliSetting("HERALD_TOPIC") ?? "notifications",
    subscription: values.subscription ?? cliSetting("HERALD_SUBSCRIPTION") ?? "gateway",
    max,
  };
}

/** Text that reached Service Bus from producers: no terminal control sequences on the way out. */
function printable(value: string | undefined): string {
  // eslint-disable-next-line no-control-regex
  return (value ?? "").replace(/[\u0000-\u001f\u007f-\u009f]/g, " ");
}

function notificationId(m: ServiceBusReceivedMessage): string | undefined {
  const carried = m.applicationProperties?.[NOTIFICATION_ID_PROPERTY];
  if (typeof carried === "string" && carried !== "") return carried;
  return m.messageId === undefined ? undefined : String(m.messageId);
}

function describe(m: ServiceBusReceivedMessage): DeadLetter {
  const body = m.body as { type?: unknown } | undefined;
  const type = m.subject ?? (body && typeof body.type === "string" ? body.type : undefined);
  return {
    sequenceNumber: m.sequenceNumber?.toString() ?? "",
    id: notificationId(m),
    type,
    reason: m.deadLetterReason,
    description: m.deadLetterErrorDescription,
    enqueuedAt: m.enqueuedTimeUtc?.toISOString(),
    deliveryCount: m.deliveryCount,
  };
}

/** Runs `work` with a client and a dead-letter receiver; translates connection failures once. */
async function withDeadLetters<T>(
  t: Target,
  receiveMode: "peekLock" | "receiveAndDelete",
  work: (client: ServiceBusClient, receiver: ServiceBusReceiver) => Promise<T>,
): Promise<T> {
  const { ServiceBusClient } = await import("@azure/service-bus");
  const client = new ServiceBusClient(t.connectionString, CLI_BUS_OPTIONS);
  const receiver = client.createReceiver(t.topic, t.subscription, {
    subQueueType: "deadLetter",
    receiveMode,
  });
  try {
    return await work(client, receiver);
  } catch (err) {
    if (err instanceof HeraldError) throw err;
    throw unreachable(t.connectionString, err, `subscription ${t.topic}/${t.subscription}`);
  } finally {
    await receiver.close().catch(() => undefined);
    await client.close().catch(() => undefined);
  }
}

/** Peeks (never locks or consumes) up to `max` dead-lettered messages, oldest first. */
async function peekAll(receiver: ServiceBusReceiver, max: number): Promise<ServiceBusReceivedMessage[]> {
  const out: ServiceBusReceivedMessage[] = [];
  let from: ServiceBusReceivedMessage["sequenceNumber"];
  while (out.length < max) {
    const page = await receiver.peekMessages(
      Math.min(PEEK_PAGE, max - out.length),
      from === undefined ? {} : { fromSequenceNumber: from },
    );
    if (page.length === 0) break;
    out.push(...page);
    const last = page.at(-1)!.sequenceNumber;
    if (last === undefined) break;
    from = last.add(1);
  }
  return out;
}

function table(rows: DeadLetter[]): string {
  const head = ["ID", "TYPE", "REASON", "ENQUEUED", "DELIVERIES", "DESCRIPTION"];
  const cells = rows.map((r) => [
    printable(r.id) || "-",
    printable(r.type) || "-",
    printable(r.reason) || "-",
    r.enqueuedAt ?? "-",
    String(r.deliveryCount ?? "-"),
    printable(r.description) || "-",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string =>
    c
      .map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(head), ...cells.map(line)].join("\n");
}

export const dlqListCommand: Command = {
  path: ["dlq", "list"],
  summary: "List dead-lettered notifications with their reason (peeks; consumes nothing)",
  usage: `Usage: herald dlq list [--json] [--servicebus CONN] [--topic NAME] [--subscription NAME] [--max N]

Lists the notifications on the gateway subscription's dead-letter queue: id, type, dead-letter
reason and description, enqueue time and delivery count. It peeks: nothing is locked or removed.

Options:
  --json              one JSON array instead of a table
${COMMON_USAGE}`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: { ...COMMON_OPTIONS, json: { type: "boolean" } },
    });
    if (positionals.length > 0) usageError(`unexpected argument "${positionals[0]}"`, positionals[0]);
    const t = target(values);
    const rows = (await withDeadLetters(t, "peekLock", (_c, r) => peekAll(r, t.max))).map(describe);
    if (values.json) process.stdout.write(JSON.stringify(rows, null, 2) + "\n");
    else if (rows.length === 0)
      process.stdout.write(`no dead-lettered notifications on ${t.topic}/${t.subscription}\n`);
    else process.stdout.write(table(rows) + "\n");
    return 0;
  },
};

/** The message that puts a dead-lettered notification back on the topic. */
export function replayMessage(m: ServiceBusReceivedMessage, now: number): ServiceBusMessage {
  const id = notificationId(m);
  const message: ServiceBusMessage = {
    // A new message id: the topic's duplicate detection would drop the original one inside its window.
    messageId: randomUUID(),
    body: m.body,
    applicationProperties: {
      ...(m.applicationProperties ?? {}),
      ...(id === undefined ? {} : { [NOTIFICATION_ID_PROPERTY]: id }),
      [REPLAYED_FROM_PROPERTY]: m.sequenceNumber?.toString() ?? "",
    },
  };
  if (m.subject !== undefined) message.subject = m.subject;
  if (m.contentType !== undefined) message.contentType = m.contentType;
  // The notification keeps what is left of its time to live, not a fresh one.
  if (m.expiresAtUtc && m.timeToLive !== undefined)
    message.timeToLive = Math.max(1000, m.expiresAtUtc.getTime() - now);
  return message;
}

function expired(m: ServiceBusReceivedMessage, now: number): boolean {
  return m.expiresAtUtc !== undefined && m.timeToLive !== undefined && m.expiresAtUtc.getTime() <= now;
}

export const dlqReplayCommand: Command = {
  path: ["dlq", "replay"],
  summary: "Send dead-lettered notifications back to the topic",
  usage: `Usage: herald dlq replay (--id ID ... | --all) [--dry-run] [--servicebus CONN] [--topic NAME]
                         [--subscription NAME] [--max N]

Sends dead-lettered notifications back to the topic, each removed from the dead-letter queue only
after Service Bus accepted the copy. The copy keeps the notification id (so clients and the stream
store see one notification), type, data, application properties and what is left of its time to
live; notifications whose time to live has passed are skipped and stay dead-lettered. The copy goes
to the topic, so every subscription whose rules match receives it again.

Options:
  --id ID             replay this notification (may be repeated)
  --all               replay every dead-lettered notification (up to --max)
  --dry-run           print what would be replayed; change nothing
${COMMON_USAGE}

Prints one line per notification: "replayed <id>", "skipped <id> (expired)", or with --dry-run
"would replay <id>".`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        ...COMMON_OPTIONS,
        id: { type: "string", multiple: true },
        all: { type: "boolean" },
        "dry-run": { type: "boolean" },
      },
    });
    if (positionals.length > 0) usageError(`unexpected argument "${positionals[0]}"`, positionals[0]);
    if (!values.id && !values.all) usageError("say which: --id ID or --all", "--id");
    if (values.id && values.all) usageError("pass --id or --all, not both", "--id");
    const t = target(values);
    const wanted = values.id ? new Set(values.id) : undefined;

    return withDeadLetters(t, "peekLock", async (client, receiver) => {
      const now = Date.now();
      const peeked = (await peekAll(receiver, t.max)).filter(
        (m) => !wanted || wanted.has(notificationId(m) ?? ""),
      );
      if (wanted) {
        const found = new Set(peeked.map(notificationId));
        const missing = [...wanted].filter((id) => !found.has(id));
        if (missing.length > 0) {
          throw new HeraldError(
            "HERALD_NOT_FOUND",
            `no dead-lettered notification with id ${missing.map((id) => `"${printable(id)}"`).join(", ")} on ${t.topic}/${t.subscription}`,
            { target: "--id" },
          );
        }
      }
      if (peeked.length === 0) {
        process.stdout.write(`no dead-lettered notifications on ${t.topic}/${t.subscription}\n`);
        return 0;
      }
      if (values["dry-run"]) {
        for (const m of peeked) {
          const what = expired(m, now) ? "skipped (expired)" : "would replay";
          process.stdout.write(
            `${what} ${printable(notificationId(m))} ${printable(m.subject)} (${printable(m.deadLetterReason)})\n`,
          );
        }
        return 0;
      }

      const targets = new Set(peeked.map((m) => m.sequenceNumber!.toString()));
      const sender = client.createSender(t.topic);
      // Messages received that are not targets stay locked until the end, so the loop moves on
      // to new ones; they are abandoned (left dead-lettered) afterwards.
      const held: ServiceBusReceivedMessage[] = [];
      let replayed = 0;
      let failed = 0;
      try {
        let received = 0;
        while (targets.size > 0 && received < t.max + targets.size) {
          const batch = await receiver.receiveMessages(Math.min(RECEIVE_BATCH, t.max), {
            maxWaitTimeInMs: 2000,
          });
          if (batch.length === 0) break;
          received += batch.length;
          for (const m of batch) {
            const seq = m.sequenceNumber?.toString() ?? "";
            if (!targets.delete(seq)) {
              held.push(m);
              continue;
            }
            const id = printable(notificationId(m));
            if (expired(m, Date.now())) {
              held.push(m);
              process.stdout.write(`skipped ${id} (expired)\n`);
              continue;
            }
            try {
              await sender.sendMessages(replayMessage(m, Date.now()));
            } catch (err) {
              failed++;
              held.push(m);
              const reason = err instanceof Error ? err.message : String(err);
              process.stderr.write(`herald: could not replay ${id}: ${printable(reason)}\n`);
              continue;
            }
            // Completed only once the copy is on the topic: a failure in between leaves both,
            // and the consumer's dedup by notification id absorbs the duplicate.
            await receiver.completeMessage(m);
            replayed++;
            process.stdout.write(`replayed ${id}\n`);
          }
        }
      } finally {
        for (const m of held) {
          await receiver.abandonMessage(m).catch((err: unknown) => {
            // Not fatal: the message stays dead-lettered and unlocks when its lock expires.
            const reason = err instanceof Error ? err.message : String(err);
            process.stderr.write(
              `herald: warning: ${printable(notificationId(m))} stays locked until its lock expires (${printable(reason)})\n`,
            );
          });
        }
        await sender.close().catch(() => undefined);
      }
      if (failed > 0 || targets.size > 0) {
        throw new HeraldError(
          "HERALD_BUS_UNAVAILABLE",
          `replayed ${replayed}; ${failed} failed to send and ${targets.size} could not be locked (another receiver holds them?); run again`,
        );
      }
      return 0;
    });
  },
};
