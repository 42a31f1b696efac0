/**
 * Persistence for `--data-dir`: an append-only journal of broker state changes.
 *
 * - Every change is a length-prefixed, CRC-checked binary record.
 * - Records produced in one event-loop turn are written with one `write()` (group commit) before
 *   any acknowledgement that depends on them goes out (`afterCommit`), so a send the client saw
 *   accepted survives the process being killed. There is no fsync per write: a crash of the
 *   process loses nothing, a crash of the operating system may lose the last writes.
 * - On start the journal is replayed (a torn last record is cut off) and rewritten as a compact
 *   snapshot; it is compacted again whenever it grows well past the live state.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { crc32 } from "node:zlib";
import { HeraldError } from "../../core/errors.js";
import type { Broker, BrokerJournal } from "./broker/broker.js";
import type { MessageState } from "./broker/message.js";
import { StoredMessage } from "./broker/message.js";
import type { MessageStore } from "./broker/store.js";
import type { QueueDescription, SubscriptionDescription, TopicDescription } from "./model.js";

const enum_ = {
  putQueue: 1,
  putTopic: 2,
  putSubscription: 3,
  deleteEntity: 4,
  sequence: 5,
  dedup: 6,
  putMessage: 7,
  updateMessage: 8,
  removeMessage: 9,
  sessionState: 10,
} as const;
const RECORD = enum_;

const FILE = "journal.log";
const LOCK = "LOCK";
/** Compact once the file is this big and at least twice the size of the last snapshot. */
const COMPACT_MIN_BYTES = 64 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Binary record encoding

class RecordWriter {
  private buf = Buffer.allocUnsafe(256);
  private pos = 8; // room for length + crc

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  f64(v: number): this {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
    return this;
  }

  bytes(b: Buffer): this {
    this.ensure(4 + b.length);
    this.buf.writeUInt32LE(b.length, this.pos);
    b.copy(this.buf, this.pos + 4);
    this.pos += 4 + b.length;
    return this;
  }

  str(s: string): this {
    return this.bytes(Buffer.from(s, "utf8"));
  }

  optStr(s: string | undefined): this {
    if (s === undefined) return this.u8(0);
    return this.u8(1).str(s);
  }

  /** The finished record: [u32 payload length][u32 crc32(payload)][payload]. */
  finish(): Buffer {
    const len = this.pos - 8;
    this.buf.writeUInt32LE(len, 0);
    this.buf.writeUInt32LE(crc32(this.buf.subarray(8, this.pos)), 4);
    return this.buf.subarray(0, this.pos);
  }
}

class RecordReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error("journal record shorter than its fields");
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  bytes(): Buffer {
    this.need(4);
    const len = this.buf.readUInt32LE(this.pos);
    this.need(4 + len);
    const b = Buffer.from(this.buf.subarray(this.pos + 4, this.pos + 4 + len));
    this.pos += 4 + len;
    return b;
  }

  str(): string {
    this.need(4);
    const len = this.buf.readUInt32LE(this.pos);
    this.need(4 + len);
    const s = this.buf.toString("utf8", this.pos + 4, this.pos + 4 + len);
    this.pos += 4 + len;
    return s;
  }

  optStr(): string | undefined {
    return this.u8() === 0 ? undefined : this.str();
  }
}

/** JSON that keeps Dates (correlation filter values may be dates). */
function toJson(v: unknown): string {
  return JSON.stringify(v, function (this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key];
    return raw instanceof Date ? { $date: raw.toISOString() } : value;
  });
}

function fromJson<T>(s: string): T {
  return JSON.parse(s, (_key, value: unknown) => {
    if (value && typeof value === "object" && "$date" in value && typeof value.$date === "string") {
      return new Date(value.$date);
    }
    return value;
  }) as T;
}

function encodeMessage(w: RecordWriter, store: string, m: StoredMessage): void {
  w.u8(RECORD.putMessage).str(store);
  w.f64(m.seq).f64(m.enqueuedAt).f64(m.expiresAt).f64(m.ttl).f64(m.scheduledAt).f64(m.deliveryCount);
  w.u8(m.state).optStr(m.lockToken).f64(m.lockedUntil);
  const flags =
    (m.durable === undefined ? 0 : m.durable ? 3 : 1) |
    (m.priority === undefined ? 0 : 4) |
    (m.fromDeferred ? 8 : 0);
  w.u8(flags).u8(m.priority ?? 0);
  w.optStr(m.messageId).optStr(m.sessionId).optStr(m.deadLetterSource);
  w.f64(m.annCount)
    .bytes(m.ann ?? Buffer.alloc(0))
    .bytes(m.bare);
}

function decodeMessage(r: RecordReader): StoredMessage {
  const seq = r.f64();
  const enqueuedAt = r.f64();
  const expiresAt = r.f64();
  const ttl = r.f64();
  const scheduledAt = r.f64();
  const deliveryCount = r.f64();
  const state = r.u8() as MessageState;
  const lockToken = r.optStr();
  const lockedUntil = r.f64();
  const flags = r.u8();
  const priority = r.u8();
  const messageId = r.optStr();
  const sessionId = r.optStr();
  const deadLetterSource = r.optStr();
  const annCount = r.f64();
  const ann = r.bytes();
  const bare = r.bytes();
  const m = new StoredMessage(bare, ann.length === 0 ? undefined : ann, annCount);
  Object.assign(m, { seq, enqueuedAt, expiresAt, ttl, scheduledAt, deliveryCount, state, lockedUntil });
  m.lockToken = lockToken;
  if (flags & 1) m.durable = (flags & 2) !== 0;
  if (flags & 4) m.priority = priority;
  m.fromDeferred = (flags & 8) !== 0;
  m.messageId = messageId;
  m.sessionId = sessionId;
  m.deadLetterSource = deadLetterSource;
  return m;
}

// ---------------------------------------------------------------------------------------------

export interface JournalLogger {
  info(message: string): void;
  warn(message: string): void;
}

export interface ReplayStats {
  records: number;
  bytes: number;
  /** Bytes cut off the end (a record torn by a crash). */
  truncated: number;
}

export class Journal implements BrokerJournal {
  private fd: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private callbacks: Array<(err: Error | undefined) => void> = [];
  private scheduled = false;
  private size = 0;
  private snapshotSize = 0;
  private closed = false;
  private broker: Broker | undefined;

  private constructor(
    readonly dir: string,
    private readonly logger: JournalLogger,
    private readonly compactMinBytes: number,
  ) {
    this.fd = openSync(join(dir, FILE), "a+");
  }

  /**
   * Opens (creating) the data directory, takes its lock, replays the journal into `broker`, and
   * rewrites it compactly. From then on the broker journals through the returned object.
   */
  static open(
    dir: string,
    broker: Broker,
    logger: JournalLogger,
    options: { compactMinBytes?: number } = {},
  ): { journal: Journal; stats: ReplayStats } {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new HeraldError("HERALD_INVALID_CONFIG", `cannot create data directory ${dir}: ${String(err)}`, {
        target: "dataDir",
      });
    }
    takeLock(dir);
    const journal = new Journal(dir, logger, options.compactMinBytes ?? COMPACT_MIN_BYTES);
    let stats: ReplayStats;
    try {
      stats = journal.replay(broker);
      broker.afterRestore();
      journal.broker = broker;
      broker.journal = journal;
      journal.compact();
    } catch (err) {
      journal.close();
      throw err;
    }
    return { journal, stats };
  }

  private replay(broker: Broker): ReplayStats {
    const stats: ReplayStats = { records: 0, bytes: 0, truncated: 0 };
    let index = broker.storeIndex();
    const chunk = Buffer.allocUnsafe(8 * 1024 * 1024);
    let carry = Buffer.alloc(0);
    let filePos = 0;
    let good = 0; // file offset just past the last valid record
    let torn = false;
    for (;;) {
      const n = readSync(this.fd, chunk, 0, chunk.length, filePos);
      if (n === 0) break;
      filePos += n;
      let data = carry.length === 0 ? chunk.subarray(0, n) : Buffer.concat([carry, chunk.subarray(0, n)]);
      let off = 0;
      while (data.length - off >= 8) {
        const len = data.readUInt32LE(off);
        if (data.length - off < 8 + len) break;
        const payload = data.subarray(off + 8, off + 8 + len);
        if (crc32(payload) !== data.readUInt32LE(off + 4)) {
          torn = true;
          break;
        }
        try {
          if (this.apply(broker, index, payload)) index = broker.storeIndex();
        } catch (err) {
          this.logger.warn(`journal record at offset ${good} could not be applied: ${String(err)}`);
        }
        off += 8 + len;
        good += 8 + len;
        stats.records++;
      }
      if (torn) break;
      carry = Buffer.from(data.subarray(off));
      data = Buffer.alloc(0);
    }
    stats.bytes = good;
    if (torn || filePos > good) {
      stats.truncated = filePos - good;
      if (stats.truncated > 0) {
        this.logger.warn(`journal: cut ${stats.truncated} bytes of a torn record off the end`);
        ftruncateSync(this.fd, good);
      }
    }
    this.size = good;
    return stats;
  }

  /** Applies one record; returns true when the set of stores changed. */
  private apply(broker: Broker, index: Map<string, MessageStore>, payload: Buffer): boolean {
    const r = new RecordReader(payload);
    const type = r.u8();
    switch (type) {
      case RECORD.putQueue:
        broker.restoreQueue(fromJson<QueueDescription>(r.str()));
        return true;
      case RECORD.putTopic:
        broker.restoreTopic(fromJson<Omit<TopicDescription, "subscriptions">>(r.str()));
        return true;
      case RECORD.putSubscription: {
        const topic = r.str();
        broker.restoreSubscription(topic, fromJson<SubscriptionDescription>(r.str()));
        return true;
      }
      case RECORD.deleteEntity:
        broker.restoreDelete(r.str());
        return true;
      case RECORD.sequence:
        broker.restoreSequence(r.str(), r.f64());
        return false;
      case RECORD.dedup:
        broker.restoreDedup(r.str(), r.str(), r.f64());
        return false;
      case RECORD.putMessage: {
        const store = index.get(r.str());
        const msg = decodeMessage(r);
        store?.restoreRaw(msg);
        return false;
      }
      case RECORD.updateMessage: {
        const store = index.get(r.str());
        const seq = r.f64();
        const msg = store?.messages.get(seq);
        const state = r.u8() as MessageState;
        const deliveryCount = r.f64();
        const enqueuedAt = r.f64();
        const expiresAt = r.f64();
        const lockToken = r.optStr();
        const lockedUntil = r.f64();
        const flags = r.u8();
        if (msg) {
          Object.assign(msg, { state, deliveryCount, enqueuedAt, expiresAt, lockedUntil });
          msg.lockToken = lockToken;
          msg.fromDeferred = (flags & 1) !== 0;
        }
        return false;
      }
      case RECORD.removeMessage: {
        const store = index.get(r.str());
        store?.removeRaw(r.f64());
        return false;
      }
      case RECORD.sessionState: {
        const store = index.get(r.str());
        const sessionId = r.str();
        const has = r.u8() === 1;
        const state = has ? r.bytes() : undefined;
        store?.restoreSessionState(sessionId, state);
        return false;
      }
      default:
        throw new Error(`unknown journal record type ${type}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Appending

  private append(record: Buffer): void {
    if (this.closed) return;
    // The writer's buffer is reused per record only once, so no copy is needed.
    this.pending.push(record);
    this.pendingBytes += record.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  afterCommit(fn: (err?: Error) => void): void {
    if (this.pending.length === 0 && this.callbacks.length === 0) {
      fn(undefined);
      return;
    }
    this.callbacks.push(fn);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes everything pending with one write() and runs the callbacks waiting for it. */
  flush(): void {
    this.scheduled = false;
    let error: Error | undefined;
    if (this.pending.length > 0 && !this.closed) {
      const data =
        this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
      try {
        let off = 0;
        while (off < data.length) off += writeSync(this.fd, data, off, data.length - off);
        this.size += data.length;
      } catch (err) {
        error = err instanceof Error ? err : new Error(String(err));
        this.logger.warn(`journal write failed: ${error.message}`);
      }
    }
    const callbacks = this.callbacks;
    this.callbacks = [];
    for (const cb of callbacks) cb(error);
    if (!error && this.size > this.compactMinBytes && this.size > 2 * this.snapshotSize) {
      try {
        this.compact();
      } catch (err) {
        this.logger.warn(`journal compaction failed: ${String(err)}`);
      }
    }
  }

  putMessage(store: string, msg: StoredMessage): void {
    const w = new RecordWriter();
    encodeMessage(w, store, msg);
    this.append(w.finish());
  }

  updateMessage(store: string, m: StoredMessage): void {
    const w = new RecordWriter()
      .u8(RECORD.updateMessage)
      .str(store)
      .f64(m.seq)
      .u8(m.state)
      .f64(m.deliveryCount)
      .f64(m.enqueuedAt)
      .f64(m.expiresAt)
      .optStr(m.lockToken)
      .f64(m.lockedUntil)
      .u8(m.fromDeferred ? 1 : 0);
    this.append(w.finish());
  }

  removeMessage(store: string, seq: number): void {
    this.append(new RecordWriter().u8(RECORD.removeMessage).str(store).f64(seq).finish());
  }

  sessionState(store: string, sessionId: string, state: Buffer | undefined): void {
    const w = new RecordWriter().u8(RECORD.sessionState).str(store).str(sessionId);
    if (state === undefined) w.u8(0);
    else w.u8(1).bytes(state);
    this.append(w.finish());
  }

  putQueue(q: QueueDescription): void {
    this.append(new RecordWriter().u8(RECORD.putQueue).str(toJson(q)).finish());
  }

  putTopic(t: Omit<TopicDescription, "subscriptions">): void {
    this.append(new RecordWriter().u8(RECORD.putTopic).str(toJson(t)).finish());
  }

  putSubscription(topic: string, s: SubscriptionDescription): void {
    this.append(new RecordWriter().u8(RECORD.putSubscription).str(topic).str(toJson(s)).finish());
  }

  deleteEntity(path: string): void {
    this.append(new RecordWriter().u8(RECORD.deleteEntity).str(path).finish());
  }

  sequence(entity: string, seq: number): void {
    this.append(new RecordWriter().u8(RECORD.sequence).str(entity).f64(seq).finish());
  }

  dedup(entity: string, messageId: string, at: number): void {
    this.append(new RecordWriter().u8(RECORD.dedup).str(entity).str(messageId).f64(at).finish());
  }

  // -------------------------------------------------------------------------------------------
  // Compaction

  /** Rewrites the journal as a snapshot of the broker's current state (tmp file + rename). */
  compact(): void {
    const broker = this.broker;
    if (!broker || this.closed) return;
    const started = Date.now();
    const tmpPath = join(this.dir, `${FILE}.tmp`);
    const fd = openSync(tmpPath, "w");
    let size = 0;
    let batch: Buffer[] = [];
    let batchBytes = 0;
    const out = (rec: Buffer): void => {
      batch.push(Buffer.from(rec));
      batchBytes += rec.length;
      if (batchBytes >= 4 * 1024 * 1024) drain();
    };
    const drain = (): void => {
      if (batch.length === 0) return;
      const data = Buffer.concat(batch, batchBytes);
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off, data.length - off);
      size += data.length;
      batch = [];
      batchBytes = 0;
    };
    try {
      for (const q of broker.listQueues())
        out(new RecordWriter().u8(RECORD.putQueue).str(toJson(q)).finish());
      for (const t of broker.listTopics()) {
        const { subscriptions, ...topic } = t;
        out(new RecordWriter().u8(RECORD.putTopic).str(toJson(topic)).finish());
        for (const s of subscriptions) {
          out(new RecordWriter().u8(RECORD.putSubscription).str(t.name).str(toJson(s)).finish());
        }
      }
      for (const { key, seq, dedup } of broker.sequenceCounters()) {
        out(new RecordWriter().u8(RECORD.sequence).str(key).f64(seq).finish());
        for (const [id, at] of dedup)
          out(new RecordWriter().u8(RECORD.dedup).str(key).str(id).f64(at).finish());
      }
      for (const store of broker.allStores()) {
        for (const m of store.messages.values()) {
          const w = new RecordWriter();
          encodeMessage(w, store.key, m);
          out(w.finish());
        }
        for (const s of store.sessions.values()) {
          if (s.state === undefined) continue;
          out(
            new RecordWriter().u8(RECORD.sessionState).str(store.key).str(s.id).u8(1).bytes(s.state).finish(),
          );
        }
      }
      drain();
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmpPath, join(this.dir, FILE));
    fsyncDir(this.dir);
    closeSync(this.fd);
    this.fd = openSync(join(this.dir, FILE), "a+");
    this.size = size;
    this.snapshotSize = size;
    this.logger.info(`journal compacted to ${size} bytes in ${Date.now() - started} ms`);
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    releaseLock(this.dir);
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename itself is still atomic.
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Data directories open in this process (the LOCK file's pid cannot tell those apart). */
const openHere = new Set<string>();

/** One emulator per data directory: a LOCK file with the owner's pid (stale ones are taken over). */
function takeLock(dir: string): void {
  const key = resolve(dir);
  if (openHere.has(key)) {
    throw new HeraldError(
      "HERALD_INVALID_CONFIG",
      `data directory ${dir} is in use by another emulator in this process`,
      {
        target: "dataDir",
      },
    );
  }
  const path = join(dir, LOCK);
  if (existsSync(path)) {
    const pid = Number(readFileSync(path, "utf8").trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
      throw new HeraldError(
        "HERALD_INVALID_CONFIG",
        `data directory ${dir} is in use by another emulator (pid ${pid})`,
        { target: "dataDir" },
      );
    }
  }
  writeFileSync(path, `${process.pid}\n`);
  openHere.add(key);
}

function releaseLock(dir: string): void {
  openHere.delete(resolve(dir));
  try {
    const path = join(dir, LOCK);
    if (Number(readFileSync(path, "utf8").trim()) === process.pid) unlinkSync(path);
  } catch {
    // gone already
  }
}
