/**
 * The stream store on Azure Table Storage (or Azurite), shared by gateway replicas.
 *
 * One partition per stream (PartitionKey = the escaped stream id) holding:
 * - `head`: the counter (`head` = newest offset, `first` = oldest retained, `firstAt`, `lastAt`);
 * - `f:<16-digit offset>`: one frame (notification id, type, ts, append time, expiry, data in chunks);
 * - `d:<escaped notification id>`: the dedup row pointing at the frame's offset.
 *
 * An append is ONE entity group transaction per stream: update `head` with `If-Match` on its ETag (or
 * create it), insert the frame and dedup rows, delete the frames retention drops. A replica that lost
 * the race gets 412 (head changed) or 409 (head or dedup row exists), re-reads, and tries again; a
 * repeated notification id finds its dedup row and gets its original frame back. Appends to one stream
 * from one process are queued and committed together (group commit), so a replica only races others.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { TableClient, type TableEntityResult, type TransactionAction } from "@azure/data-tables";
import { HeraldError } from "../../core/errors.js";
import type { Frame } from "../../core/streams.js";
import {
  checkRead,
  prepareEntry,
  prepareStreams,
  resolveOptions,
  type PreparedEntry,
  type ResolvedOptions,
} from "./common.js";
import {
  dedupRow,
  encodeKey,
  FRAME_RANGE_END,
  frameRow,
  HEAD_ROW,
  odataString,
  offsetOfRow,
  partitionKeyOf,
  SETTINGS_PARTITION,
} from "./keys.js";
import {
  StreamStoreError,
  type AppendEntry,
  type AppendResult,
  type ReadResult,
  type StreamStore,
  type StreamStoreOptions,
  type StreamStoreStats,
} from "./types.js";

/**
 * Where the table is: a connection string (Azurite, account keys), or a `TableClient` built with any
 * credential the SDK takes (managed identity, SAS); the client's table name then wins over `tableName`.
 */
export type TableConnection = { connectionString: string } | { client: TableClient };

export interface TableStreamStoreOptions extends StreamStoreOptions {
  /** Table name: a letter, then 2..62 letters or digits. Created on open when missing. @default "heraldstreams" */
  tableName?: string;
  /** Transactions lost to other writers before an append gives up with `STORE_CONFLICT`. @default 50 */
  maxAttempts?: number;
  /** Abort one request to the service after this long. @default 10000 */
  requestTimeoutMs?: number;
  /** Streams whose head (counter and ETag) is remembered between appends. @default 10000 */
  headCacheSize?: number;
  /** Runs `sweep()` (a scan of all stream heads) this often; 0 turns it off. @default 3600000 (1 h) */
  sweepIntervalMs?: number;
}

export const DEFAULT_TABLE_NAME = "heraldstreams";
export const DEFAULT_TABLE_SWEEP_INTERVAL_MS = 3_600_000;
/** The service's limit for one binary property; `data` is split into chunks of this size. */
const CHUNK_BYTES = 64 * 1024;
/** 15 chunks stay under the 1 MiB entity limit with room for the other properties. */
const MAX_CHUNKS = 15;
/** A transaction holds at most 100 operations. */
const MAX_OPERATIONS = 100;
/** Entries committed together: 1 head + 2 per entry leaves room for deleting ~25 old frames. */
const MAX_GROUP_ENTRIES = 24;
/** Raw data per transaction; base64 grows it by a third and the request limit is 4 MiB. */
const MAX_GROUP_BYTES = 2 * 1024 * 1024;
const TABLE_NAME = /^[A-Za-z][A-Za-z0-9]{2,62}$/;

/** The `head` entity as this store uses it. */
interface Head {
  /** Undefined when the entity does not exist yet. */
  etag: string | undefined;
  head: number;
  first: number;
  firstAt: number;
  lastAt: number;
}

/** `firstAt` of a stream with no frames: later than any cutoff, so sweeps pass it by. */
const NO_FRAMES_AT = 8.64e15;
const EMPTY_HEAD: Head = { etag: undefined, head: 0, first: 1, firstAt: NO_FRAMES_AT, lastAt: 0 };

interface Pending {
  readonly entry: PreparedEntry;
  /** Commit tokens this entry was written with: a dedup row carrying one of them is our own write. */
  readonly tokens: string[];
  resolve(outcome: { frame: Frame; duplicate: boolean }): void;
  reject(err: unknown): void;
}

/** Per-stream queue: one commit in flight per stream per process. */
interface Writer {
  readonly queue: Pending[];
  trimWaiters: Array<(err?: unknown) => void>;
  running: boolean;
  /** Commits made back to back with a cached head since the last courtesy pause. */
  streak: number;
  /** Pause after this many back-to-back commits; 2 while other writers are seen, doubling up to 64 when not. */
  yieldEvery: number;
  /** How long the last commit took, ms: the pause is a random fraction of two of these. */
  lastCommitMs: number;
}

type Row = TableEntityResult<Record<string, unknown>>;

function statusOf(err: unknown): number | undefined {
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" ? status : undefined;
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** The one place service errors become store errors. */
function translate(err: unknown, stream: string | undefined, what: string): StreamStoreError {
  if (err instanceof StreamStoreError) return err;
  const status = statusOf(err);
  const code = codeOf(err) ?? (err as Error | null)?.name ?? "unknown";
  const retryable =
    status === undefined || status === 408 || status === 429 || status >= 500 || code === "TimeoutError";
  const options = stream === undefined ? { cause: err } : { stream, cause: err };
  return new StreamStoreError(
    retryable ? "STORE_UNAVAILABLE" : "STORE_REJECTED",
    `table storage failed to ${what} (${status ?? "no status"} ${code})`,
    options,
  );
}

function num(value: unknown, fallback = 0): number {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class TableStreamStore implements StreamStore {
  private readonly writers = new Map<string, Writer>();
  /** Least recently used first. */
  private readonly heads = new Map<string, Head>();
  private readonly counters: StreamStoreStats = { appended: 0, duplicates: 0, conflicts: 0, trimmed: 0 };
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  private sweeping: Promise<void> | undefined;
  private readonly trimBatch: number;

  private constructor(
    private readonly client: TableClient,
    private readonly options: ResolvedOptions,
    private readonly maxAttempts: number,
    private readonly requestTimeoutMs: number,
    private readonly headCacheSize: number,
  ) {
    // Physical count trimming waits for a few surplus frames so most appends need no extra query; reads
    // still apply the exact count.
    this.trimBatch = Math.min(16, Math.max(1, Math.ceil(options.maxCount / 100)));
  }

  /** Connects, creates the table when missing, and starts the retention timer. */
  static async open(
    connection: TableConnection,
    options: TableStreamStoreOptions = {},
  ): Promise<TableStreamStore> {
    // A Table sweep scans every partition's head, so it runs hourly unless told otherwise.
    const resolved = resolveOptions(
      { ...options, sweepIntervalMs: options.sweepIntervalMs ?? DEFAULT_TABLE_SWEEP_INTERVAL_MS },
      CHUNK_BYTES * MAX_CHUNKS,
    );
    const tableName = options.tableName ?? DEFAULT_TABLE_NAME;
    if (!TABLE_NAME.test(tableName) || tableName.toLowerCase() === "tables") {
      throw new HeraldError(
        "HERALD_INVALID_CONFIG",
        "tableName must be a letter followed by 2 to 62 letters or digits",
        { target: "tableName" },
      );
    }
    const maxAttempts = options.maxAttempts ?? 50;
    const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    const headCacheSize = options.headCacheSize ?? 10_000;
    for (const [name, value] of Object.entries({ maxAttempts, requestTimeoutMs, headCacheSize })) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new HeraldError("HERALD_INVALID_CONFIG", `${name} must be a whole number of 1 or more`, {
          target: name,
        });
      }
    }
    let client: TableClient;
    if ("client" in connection) client = connection.client;
    else {
      // Plain http only for a loopback emulator; the SDK refuses it otherwise.
      const insecure =
        /TableEndpoint=http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])[:/]/i.test(
          connection.connectionString,
        ) || /(^|;)\s*UseDevelopmentStorage=true\s*(;|$)/i.test(connection.connectionString);
      try {
        client = TableClient.fromConnectionString(connection.connectionString, tableName, {
          retryOptions: { maxRetries: 2, retryDelayInMs: 100, maxRetryDelayInMs: 1000 },
          allowInsecureConnection: insecure,
        });
      } catch (err) {
        // The SDK's message can quote the string, key included: keep it out of ours.
        throw new HeraldError("HERALD_INVALID_CONFIG", "the Table Storage connection string is not valid", {
          target: "connectionString",
          cause: err,
        });
      }
    }
    try {
      await client.createTable({ abortSignal: AbortSignal.timeout(requestTimeoutMs) });
    } catch (err) {
      throw translate(err, undefined, `create table ${tableName}`);
    }
    const store = new TableStreamStore(client, resolved, maxAttempts, requestTimeoutMs, headCacheSize);
    if (resolved.sweepIntervalMs > 0) {
      store.timer = setInterval(() => {
        // A failed sweep is retried at the next tick; retention is also enforced on append.
        store.sweep().catch(() => undefined);
      }, resolved.sweepIntervalMs);
      store.timer.unref();
    }
    return store;
  }

  async append(entry: AppendEntry, streams: readonly string[]): Promise<AppendResult> {
    this.assertOpen();
    const prepared = prepareEntry(entry, this.options.maxDataBytes);
    const unique = prepareStreams(streams);
    const work = Promise.all(unique.map((stream) => this.enqueue(stream, prepared)));
    const outcomes = await this.track(work);
    const byStream = new Map(unique.map((stream, i) => [stream, outcomes[i]!]));
    const results = streams.map((stream) => byStream.get(stream)!);
    return { frames: results.map((r) => r.frame), duplicate: results.map((r) => r.duplicate) };
  }

  async read(stream: string, after: number, limit: number): Promise<ReadResult> {
    this.assertOpen();
    checkRead(stream, after, limit);
    return this.track(this.readStream(stream, after, limit));
  }

  /**
   * Trims aged frames in every stream. Scans the table for heads whose oldest frame is too old (a
   * server-side filter over all partitions), so run it rarely on large tables.
   */
  async sweep(): Promise<void> {
    this.assertOpen();
    this.sweeping ??= this.track(this.sweepAll()).finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  /**
   * Reads the secret's row; when there is none, inserts a random one. Two processes that race both
   * insert: one wins (409 for the other), and both return the row that is stored.
   */
  async sharedSecret(name: string): Promise<string> {
    this.assertOpen();
    const rowKey = encodeKey(name);
    const read = async (): Promise<string | undefined> => {
      try {
        const row = await this.client.getEntity<{ secret?: unknown }>(SETTINGS_PARTITION, rowKey, {
          abortSignal: this.signal(),
        });
        return typeof row.secret === "string" ? row.secret : undefined;
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw translate(err, undefined, `read shared secret ${name}`);
      }
    };
    const stored = await this.track(read());
    if (stored !== undefined) return stored;
    try {
      await this.track(
        this.client.createEntity(
          { partitionKey: SETTINGS_PARTITION, rowKey, secret: randomBytes(32).toString("base64url") },
          { abortSignal: this.signal() },
        ),
      );
    } catch (err) {
      if (statusOf(err) !== 409) throw translate(err, undefined, `create shared secret ${name}`);
    }
    const created = await this.track(read());
    if (created === undefined) {
      throw new StreamStoreError(
        "STORE_UNAVAILABLE",
        `shared secret ${name} is missing after it was created`,
      );
    }
    return created;
  }

  stats(): StreamStoreStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([...this.inFlight]);
  }

  private assertOpen(): void {
    if (this.closed) throw new StreamStoreError("STORE_CLOSED", "the stream store is closed");
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work);
    const done = (): void => void this.inFlight.delete(work);
    work.then(done, done);
    return work;
  }

  private signal(): AbortSignal {
    return AbortSignal.timeout(this.requestTimeoutMs);
  }

  // ---- append -------------------------------------------------------------------------------------

  private writer(stream: string): Writer {
    let writer = this.writers.get(stream);
    if (!writer) {
      writer = { queue: [], trimWaiters: [], running: false, streak: 0, yieldEvery: 2, lastCommitMs: 1 };
      this.writers.set(stream, writer);
    }
    return writer;
  }

  private enqueue(stream: string, entry: PreparedEntry): Promise<{ frame: Frame; duplicate: boolean }> {
    return new Promise((resolve, reject) => {
      const writer = this.writer(stream);
      writer.queue.push({ entry, tokens: [], resolve, reject });
      this.kick(stream, writer);
    });
  }

  private kick(stream: string, writer: Writer): void {
    if (writer.running) return;
    writer.running = true;
    void this.drain(stream, writer);
  }

  /** Commits queued entries in groups until the queue is empty. Never throws: failures go to callers. */
  private async drain(stream: string, writer: Writer): Promise<void> {
    while (writer.queue.length > 0 || writer.trimWaiters.length > 0) {
      if (writer.streak >= writer.yieldEvery) await this.courtesyPause(stream, writer);
      const group: Pending[] = [];
      let bytes = 0;
      while (group.length < MAX_GROUP_ENTRIES && writer.queue.length > 0) {
        const next = writer.queue[0]!;
        if (group.length > 0 && bytes + next.entry.bytes > MAX_GROUP_BYTES) break;
        bytes += next.entry.bytes;
        group.push(writer.queue.shift()!);
      }
      const waiters = writer.trimWaiters.splice(0);
      const started = performance.now();
      try {
        const conflicts = await this.commit(stream, group, waiters.length > 0);
        writer.lastCommitMs = performance.now() - started;
        if (conflicts > 0) writer.yieldEvery = 2;
        writer.streak = conflicts > 0 ? 1 : writer.streak + 1;
        for (const done of waiters) done();
      } catch (err) {
        const failure = translate(err, stream, "append");
        for (const pending of group) pending.reject(failure);
        for (const done of waiters) done(failure);
      }
    }
    writer.running = false;
    this.writers.delete(stream);
  }

  /**
   * Fairness between replicas on a hot stream. A writer with a cached ETag commits in one round trip
   * while a writer that lost needs two (re-read, commit), so without a pause the winner, kept busy by
   * new work, would win every round and starve the others. Every few back-to-back commits the writer
   * waits a moment and re-reads the head; if nobody else wrote meanwhile, it pauses less often.
   */
  private async courtesyPause(stream: string, writer: Writer): Promise<void> {
    writer.streak = 0;
    const cached = this.heads.get(stream);
    await sleep(Math.random() * 2 * writer.lastCommitMs);
    try {
      const fresh = await this.readHead(partitionKeyOf(stream), stream);
      const alone = cached !== undefined && fresh.etag === cached.etag;
      writer.yieldEvery = alone ? Math.min(64, writer.yieldEvery * 2) : 2;
      this.remember(stream, fresh);
    } catch {
      // The commit that follows re-reads the head and reports any failure to its callers.
      this.remember(stream, undefined);
    }
  }

  private async readHead(partitionKey: string, stream: string): Promise<Head> {
    let entity: Row;
    try {
      entity = await this.client.getEntity<Record<string, unknown>>(partitionKey, HEAD_ROW, {
        abortSignal: this.signal(),
      });
    } catch (err) {
      if (statusOf(err) === 404 && codeOf(err) !== "TableNotFound") return EMPTY_HEAD;
      throw translate(err, stream, "read a stream head");
    }
    if (entity.stream !== stream) {
      throw new StreamStoreError(
        "STORE_REJECTED",
        `partition ${partitionKey} belongs to another stream; is the table shared with something else?`,
        { stream },
      );
    }
    return {
      etag: entity.etag,
      head: num(entity.head),
      first: num(entity.first, 1),
      firstAt: num(entity.firstAt, NO_FRAMES_AT),
      lastAt: num(entity.lastAt),
    };
  }

  private remember(stream: string, head: Head | undefined): void {
    this.heads.delete(stream);
    if (!head) return;
    this.heads.set(stream, head);
    if (this.heads.size > this.headCacheSize) this.heads.delete(this.heads.keys().next().value!);
  }

  /**
   * Looks up already stored ids (after a conflict) and settles those as duplicates. Returns the entries
   * still to write.
   */
  private async settleStored(partitionKey: string, stream: string, group: Pending[]): Promise<Pending[]> {
    const found = await Promise.all(
      group.map(async (pending) => {
        try {
          const row = await this.client.getEntity<Record<string, unknown>>(
            partitionKey,
            dedupRow(pending.entry.id),
            {
              abortSignal: this.signal(),
            },
          );
          if (row.nid !== pending.entry.id) {
            throw new StreamStoreError("STORE_REJECTED", `dedup row collision in ${partitionKey}`, {
              stream,
            });
          }
          const offset = num(row.offset);
          const frame = await this.client.getEntity<Record<string, unknown>>(partitionKey, frameRow(offset), {
            abortSignal: this.signal(),
          });
          return {
            pending,
            frame: this.toFrame(frame, stream, offset),
            own: pending.tokens.includes(String(row.w)),
          };
        } catch (err) {
          // No dedup row: not stored yet. No frame for a dedup row: trimmed meanwhile; the retry re-reads.
          if (statusOf(err) === 404 && codeOf(err) !== "TableNotFound") return undefined;
          throw translate(err, stream, "look up a notification id");
        }
      }),
    );
    const rest: Pending[] = [];
    group.forEach((pending, i) => {
      const hit = found[i];
      if (!hit) return rest.push(pending);
      // Our own earlier attempt may have committed before its response was lost: not a duplicate.
      if (hit.own) this.counters.appended++;
      else this.counters.duplicates++;
      pending.resolve({ frame: hit.frame, duplicate: !hit.own });
    });
    return rest;
  }

  /**
   * Writes `group` (possibly empty) in one transaction, trimming retention on the way; retries lost races
   * with a fresh head. `forceTrim` trims even a small surplus (sweeps).
   */
  /** Returns how many transactions were lost to other writers on the way. */
  private async commit(stream: string, group: Pending[], forceTrim: boolean): Promise<number> {
    const partitionKey = partitionKeyOf(stream);
    let pending = group;
    for (let attempt = 0; ; attempt++) {
      if (attempt >= this.maxAttempts) {
        throw new StreamStoreError(
          "STORE_CONFLICT",
          `gave up after ${attempt} attempts: other writers kept changing stream ${stream}`,
          { stream },
        );
      }
      let head = attempt === 0 ? this.heads.get(stream) : undefined;
      head ??= await this.readHead(partitionKey, stream);
      // A conflict can mean an id is already stored (a redelivery, or a replica that won with it).
      if (attempt > 0 && pending.length > 0) {
        pending = await this.settleStored(partitionKey, stream, pending);
        if (pending.length === 0 && !forceTrim) return attempt;
      }
      const now = this.options.now();
      const at = Math.max(now, head.lastAt);
      // Repeats of one id inside the group: the first is written, the others get its frame.
      const writes: Pending[] = [];
      const followers = new Map<string, Pending[]>();
      for (const p of pending) {
        const list = followers.get(p.entry.id);
        if (list) list.push(p);
        else {
          followers.set(p.entry.id, []);
          writes.push(p);
        }
      }
      const newHead = head.head + writes.length;
      const trim = await this.planTrim(partitionKey, stream, head, newHead, now, forceTrim, writes.length);
      if (writes.length === 0 && trim.deletes.length === 0) return attempt;
      let firstAt: number;
      if (trim.first <= head.head)
        firstAt = trim.firstAt; // an old frame is still the oldest
      else if (writes.length > 0)
        firstAt = at; // the first new frame is the oldest
      else firstAt = NO_FRAMES_AT;
      const nextHead: Omit<Head, "etag"> = {
        head: newHead,
        first: trim.first,
        firstAt,
        lastAt: writes.length > 0 ? at : head.lastAt,
      };
      const headEntity = { partitionKey, rowKey: HEAD_ROW, stream, ...nextHead };
      const actions: TransactionAction[] = [
        head.etag === undefined
          ? ["create", headEntity]
          : ["update", headEntity, "Replace", { etag: head.etag }],
      ];
      const token = randomUUID();
      const frames: Frame[] = [];
      writes.forEach((p, i) => {
        const offset = head.head + 1 + i;
        p.tokens.push(token);
        actions.push(["create", this.frameEntity(partitionKey, offset, p.entry, at)]);
        actions.push([
          "create",
          { partitionKey, rowKey: dedupRow(p.entry.id), nid: p.entry.id, offset, w: token },
        ]);
        frames.push({
          id: p.entry.id,
          type: p.entry.type,
          data: p.entry.data,
          stream,
          offset,
          ts: p.entry.ts,
        });
      });
      for (const rowKey of trim.deletes) actions.push(["delete", { partitionKey, rowKey }]);
      try {
        const response = await this.client.submitTransaction(actions, { abortSignal: this.signal() });
        this.remember(stream, { etag: response.subResponses[0]?.etag, ...nextHead });
      } catch (err) {
        this.remember(stream, undefined);
        const status = statusOf(err);
        // 412: the head moved. 409: the head or a dedup row exists. 404: a row to delete is gone.
        if ((status === 412 || status === 409 || status === 404) && codeOf(err) !== "TableNotFound") {
          this.counters.conflicts++;
          // Short jitter: the loser is not the cause of the contention, and a long wait only starves it.
          await sleep(Math.random() * Math.min(20, 2 ** attempt));
          continue;
        }
        throw translate(err, stream, "append");
      }
      this.counters.appended += writes.length;
      this.counters.trimmed += trim.deletes.length / 2;
      writes.forEach((p, i) => {
        const frame = frames[i]!;
        p.resolve({ frame, duplicate: false });
        for (const follower of followers.get(p.entry.id)!) {
          this.counters.duplicates++;
          follower.resolve({ frame, duplicate: true });
        }
      });
      return attempt;
    }
  }

  private frameEntity(
    partitionKey: string,
    offset: number,
    entry: PreparedEntry,
    at: number,
  ): Record<string, unknown> & { partitionKey: string; rowKey: string } {
    const bytes = Buffer.from(entry.json, "utf8");
    const entity: Record<string, unknown> & { partitionKey: string; rowKey: string } = {
      partitionKey,
      rowKey: frameRow(offset),
      nid: entry.id,
      type: entry.type,
      ts: entry.ts,
      at,
      chunks: Math.max(1, Math.ceil(bytes.length / CHUNK_BYTES)),
    };
    if (entry.expiresAt !== undefined) entity.exp = entry.expiresAt;
    for (let i = 0, start = 0; start < bytes.length || i === 0; i++, start += CHUNK_BYTES) {
      entity[`d${i}`] = new Uint8Array(bytes.subarray(start, start + CHUNK_BYTES));
    }
    return entity;
  }

  /**
   * Decides which old frames this commit deletes (frame and dedup rows, oldest first, never a gap) and
   * the resulting `first` and `firstAt`. Queries only when something is due.
   */
  private async planTrim(
    partitionKey: string,
    stream: string,
    head: Head,
    newHead: number,
    now: number,
    force: boolean,
    writes: number,
  ): Promise<{ deletes: string[]; first: number; firstAt: number }> {
    const keep = { deletes: [] as string[], first: head.first, firstAt: head.firstAt };
    if (head.first > head.head) return keep;
    const cutoff = now - this.options.maxAgeMs;
    const countFirst = newHead - this.options.maxCount + 1;
    const surplus = countFirst - head.first;
    const aged = head.firstAt < cutoff;
    if (!aged && surplus < (force ? 1 : this.trimBatch)) return keep;
    const budget = Math.min(40, Math.floor((MAX_OPERATIONS - 1 - 2 * writes) / 2));
    const filter =
      `PartitionKey eq ${odataString(partitionKey)} and RowKey ge ${odataString(frameRow(head.first))}` +
      ` and RowKey lt ${odataString(FRAME_RANGE_END)}`;
    let rows: Row[];
    try {
      const pages = this.client
        .listEntities<Record<string, unknown>>({
          queryOptions: { filter, select: ["RowKey", "nid", "at"] },
          abortSignal: this.signal(),
        })
        .byPage({ maxPageSize: budget + 1 });
      rows = (await pages.next()).value ?? [];
    } catch (err) {
      throw translate(err, stream, "read old frames");
    }
    const deletes: string[] = [];
    let first = head.first;
    let firstAt = head.firstAt;
    for (const row of rows) {
      const offset = offsetOfRow(row.rowKey ?? "");
      if (offset === undefined || offset !== first) break;
      const rowAt = num(row.at);
      if (deletes.length / 2 >= budget || (offset >= countFirst && rowAt >= cutoff)) {
        firstAt = rowAt;
        break;
      }
      deletes.push(row.rowKey!, dedupRow(String(row.nid)));
      first = offset + 1;
      // Until the next retained frame is seen, the last deleted one's time is a safe lower bound.
      firstAt = rowAt;
    }
    return { deletes, first, firstAt };
  }

  // ---- read ---------------------------------------------------------------------------------------

  private toFrame(row: Row, stream: string, offset: number): Frame {
    const chunks: Uint8Array[] = [];
    const count = num(row.chunks, 1);
    for (let i = 0; i < count; i++) {
      const chunk = row[`d${i}`];
      if (!(chunk instanceof Uint8Array)) {
        throw new StreamStoreError(
          "STORE_REJECTED",
          `frame ${offset} of ${stream} is missing data chunk ${i}`,
          {
            stream,
          },
        );
      }
      chunks.push(chunk);
    }
    const json = Buffer.concat(chunks).toString("utf8");
    return {
      id: String(row.nid),
      type: String(row.type),
      data: JSON.parse(json) as unknown,
      stream,
      offset,
      ts: num(row.ts),
    };
  }

  private async readStream(stream: string, after: number, limit: number): Promise<ReadResult> {
    const partitionKey = partitionKeyOf(stream);
    // Head first: every offset up to it is then committed, so a frame missing from the query below can
    // only have been trimmed in between, never not yet written.
    const state = await this.readHead(partitionKey, stream);
    const filter =
      `PartitionKey eq ${odataString(partitionKey)} and RowKey gt ${odataString(frameRow(after))}` +
      ` and RowKey lt ${odataString(FRAME_RANGE_END)}`;
    let rows: Row[];
    let more = false;
    try {
      const pages = this.client
        .listEntities<Record<string, unknown>>({ queryOptions: { filter }, abortSignal: this.signal() })
        .byPage({ maxPageSize: limit });
      const page = (await pages.next()).value;
      rows = page ?? [];
      more = page?.continuationToken !== undefined;
    } catch (err) {
      throw translate(err, stream, "read frames");
    }
    if (state.etag === undefined && rows.length === 0)
      return { frames: [], first: 1, head: 0, cursor: after };
    const now = this.options.now();
    const cutoff = now - this.options.maxAgeMs;
    let head = state.head;
    const lastRow = rows.length > 0 ? offsetOfRow(rows[rows.length - 1]!.rowKey ?? "") : undefined;
    if (lastRow !== undefined) head = Math.max(head, lastRow);
    let first = Math.max(state.first, head - this.options.maxCount + 1);
    const firstRow = rows.length > 0 ? offsetOfRow(rows[0]!.rowKey ?? "") : undefined;
    if (firstRow === undefined) {
      // Nothing after `after` although the head says there is: trimmed since the head was read. (An
      // empty page with a continuation token is the service running out of time, not an answer.)
      if (!more && state.head > after && state.head >= first) first = state.head + 1;
    } else if (firstRow > Math.max(after + 1, first)) {
      first = firstRow;
    }
    const frames: Frame[] = [];
    for (const row of rows) {
      const offset = offsetOfRow(row.rowKey ?? "");
      if (offset === undefined || offset < first) continue;
      // Append times only grow within a stream, so aged frames are always the oldest ones.
      if (num(row.at) < cutoff) {
        first = offset + 1;
        continue;
      }
      const exp = row.exp;
      if (typeof exp === "number" && exp <= now) continue;
      frames.push(this.toFrame(row, stream, offset));
    }
    const cursor = Math.max(after, lastRow ?? 0, Math.min(first - 1, head));
    return { frames, first, head, cursor };
  }

  // ---- sweep --------------------------------------------------------------------------------------

  private async sweepAll(): Promise<void> {
    const cutoff = this.options.now() - this.options.maxAgeMs;
    const filter = `RowKey eq ${odataString(HEAD_ROW)} and firstAt lt ${cutoff}`;
    const streams: string[] = [];
    try {
      for await (const head of this.client.listEntities<Record<string, unknown>>({
        queryOptions: { filter, select: ["stream", "head", "first"] },
      })) {
        if (typeof head.stream === "string" && num(head.first, 1) <= num(head.head))
          streams.push(head.stream);
      }
    } catch (err) {
      throw translate(err, undefined, "list streams to sweep");
    }
    for (const stream of streams) {
      // Each round deletes up to 40 frames; a stream left over is finished by the next sweep.
      for (let round = 0; round < 25 && !this.closed; round++) {
        const before = this.counters.trimmed;
        await this.trimOnce(stream);
        if (this.counters.trimmed === before) break;
      }
    }
  }

  private trimOnce(stream: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const writer = this.writer(stream);
      writer.trimWaiters.push((err) => (err === undefined ? resolve() : reject(err)));
      this.kick(stream, writer);
    });
  }
}
