import { appendFileSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import rhea from "rhea";
import { afterEach, describe, expect, it } from "vitest";
import { parseMessage } from "./amqp/codec.js";
import { Broker } from "./broker/broker.js";
import { MessageState } from "./broker/message.js";
import { Journal } from "./journal.js";

const logger = { info() {}, warn() {} };
const encode = (m: object): Buffer => rhea.message.encode(m as Parameters<typeof rhea.message.encode>[0]);

describe("journal", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), "herald-journal-"));
    dirs.push(d);
    return d;
  };

  it("replays entities and messages, cuts a torn last record, and compacts on open", () => {
    const dir = tempDir();
    const b1 = new Broker("ns");
    const j1 = Journal.open(dir, b1, logger).journal;
    b1.createQueue("q", { maxDeliveryCount: 4 });
    b1.createTopic("t", {});
    b1.createSubscription(
      "t",
      "s",
      {},
      { name: "r", filter: { kind: "correlation", applicationProperties: { when: new Date(5) } } },
    );
    const q = b1.resolveSendTarget("q");
    b1.send(
      q,
      Array.from({ length: 100 }, (_, i) => parseMessage(encode({ message_id: `m${i}`, body: `body-${i}` }))),
    );
    const store = b1.resolveStore("q");
    for (const m of store.peek(0, 90)) store.removeMessage(m);
    j1.flush();
    const grown = statSync(join(dir, "journal.log")).size;
    j1.close();
    b1.close();

    // A crash in the middle of a write leaves half a record at the end.
    const torn = Buffer.alloc(20);
    torn.writeUInt32LE(1000, 0);
    appendFileSync(join(dir, "journal.log"), torn);

    const b2 = new Broker("ns");
    const { journal: j2, stats } = Journal.open(dir, b2, logger);
    try {
      expect(stats.truncated).toBe(20);
      expect(b2.getQueue("q")!.options.maxDeliveryCount).toBe(4);
      expect(b2.getRule("t", "s", "r")!.filter).toEqual({
        kind: "correlation",
        applicationProperties: { when: new Date(5) },
      });
      const left = b2.resolveStore("q").peek(0, 100);
      expect(left.map((m) => m.messageId)).toEqual(Array.from({ length: 10 }, (_, i) => `m${90 + i}`));
      expect(left.every((m) => m.state === MessageState.Available)).toBe(true);
      expect(statSync(join(dir, "journal.log")).size).toBeLessThan(grown / 3);
      // New sequence numbers continue after the old ones.
      b2.send(b2.resolveSendTarget("q"), [parseMessage(encode({ body: "next" }))]);
      expect(b2.resolveStore("q").peek(101, 1)[0]!.seq).toBe(101);
    } finally {
      j2.close();
      b2.close();
    }
  });

  it("compacts when the journal grows well past the live state", () => {
    const dir = tempDir();
    const b = new Broker("ns");
    const j = Journal.open(dir, b, logger, { compactMinBytes: 256 * 1024 }).journal;
    try {
      b.createQueue("q", {});
      const store = b.resolveStore("q");
      const body = "x".repeat(1000);
      let peak = 0;
      for (let round = 0; round < 10; round++) {
        b.send(
          b.resolveSendTarget("q"),
          Array.from({ length: 100 }, () => parseMessage(encode({ body }))),
        );
        for (const m of store.peek(0, 1000)) store.removeMessage(m);
        j.flush();
        peak = Math.max(peak, statSync(join(dir, "journal.log")).size);
      }
      // Without compaction the file would hold ~1 MB of records by now.
      expect(statSync(join(dir, "journal.log")).size).toBeLessThan(300 * 1024);
      expect(peak).toBeLessThan(400 * 1024);
    } finally {
      j.close();
      b.close();
    }
  });

  it("acknowledges only after the write, once per event-loop turn for everything queued", async () => {
    const dir = tempDir();
    const b = new Broker("ns");
    const j = Journal.open(dir, b, logger).journal;
    try {
      b.createQueue("q", {});
      const before = statSync(join(dir, "journal.log")).size;
      const acked: number[] = [];
      for (let i = 0; i < 5; i++) {
        b.send(b.resolveSendTarget("q"), [parseMessage(encode({ body: i }))]);
        j.afterCommit(() => acked.push(statSync(join(dir, "journal.log")).size));
      }
      expect(acked).toEqual([]);
      await new Promise((r) => setImmediate(r));
      expect(acked).toHaveLength(5);
      expect(new Set(acked).size).toBe(1);
      expect(acked[0]).toBeGreaterThan(before);
    } finally {
      j.close();
      b.close();
    }
  });
});
