/**
 * The gateway's own live connections (SSE and long-poll), indexed by stream, fed by the consumer like
 * any other sink. Each pushed frame is serialized once and the same bytes go to every connection that
 * reads its stream; writes are gathered per connection and flushed once per event-loop turn.
 */
import { cursorSegmentPrefix, type NotRecovered } from "../../core/cursor.js";
import { HeraldError } from "../../core/errors.js";
import type { CloseReason } from "../../core/live.js";
import type { Frame } from "../../core/streams.js";
import type { Logger } from "../log.js";
import type { GatewayMetrics } from "../metrics.js";
import type { Sink } from "../sinks/types.js";
import type { StreamStore } from "../store/types.js";
import type { LiveConnection } from "./connection.js";
import { PreparedFrame } from "./frame.js";

export interface LiveHubOptions {
  /** Where replays and gap fills read from. */
  store: StreamStore;
  metrics?: GatewayMetrics | undefined;
  log?: Logger | undefined;
  /** Connections (SSE + open long-polls) this process holds at most. @default 20000 */
  maxConnections?: number;
  /** Connections one user holds at most in this process. @default 20 */
  maxConnectionsPerUser?: number;
  /** Bytes queued for one SSE connection before it is closed as a slow consumer. @default 262144 */
  bufferBytes?: number;
  /** SSE comment heartbeat interval. @default 15000 */
  heartbeatMs?: number;
  /** SSE `retry:` the client should wait before reconnecting. @default 3000 */
  retryMs?: number;
  /** How long a stream waits for a missing offset before releasing later frames (which then fill the gap from the store). @default 250 */
  reorderMs?: number;
  /** Live frames one stream of one connection holds while it replays; past it the replay reads again. @default 1000 */
  backlogLimit?: number;
  /** How long a replay waits for a client that does not read before closing it. @default 30000 */
  stallMs?: number;
  /** How long a closed SSE connection may take to flush its last bytes before the socket is destroyed. @default 2000 */
  closeGraceMs?: number;
}

/** A store read with frames prepared for every connection that shares it. */
export interface PreparedRead {
  frames: PreparedFrame[];
  first: number;
  head: number;
  cursor: number;
}

type Transport = LiveConnection["transport"];
type RejectReason = "user-limit" | "process-limit" | "conflict" | "shutdown";

/** The connections reading one stream, and the order its frames are released in. */
class Channel {
  readonly stream: string;
  readonly prefix: string;
  /** The one connection of a stream only one reads (a user's stream, usually), else undefined. */
  one: LiveConnection | undefined;
  /** Every connection once more than one reads the stream. */
  many: Set<LiveConnection> | undefined;
  /** Highest offset released (0: none yet). */
  last = 0;
  /** Frames that arrived ahead of a missing offset. */
  held: Map<number, PreparedFrame> | undefined;
  timer: NodeJS.Timeout | undefined;

  constructor(stream: string, prefix: string) {
    this.stream = stream;
    this.prefix = prefix;
  }

  get size(): number {
    return this.many ? this.many.size : this.one ? 1 : 0;
  }

  add(conn: LiveConnection): void {
    if (this.many) this.many.add(conn);
    else if (!this.one) this.one = conn;
    else {
      this.many = new Set([this.one, conn]);
      this.one = undefined;
    }
  }

  delete(conn: LiveConnection): void {
    if (this.many) this.many.delete(conn);
    else if (this.one === conn) this.one = undefined;
  }
}

export interface LiveHubStats {
  connections: Record<Transport, number>;
  users: number;
  streams: number;
  /** Frames held back waiting for a missing offset. */
  held: number;
}

export class LiveHub implements Sink {
  readonly name = "live";
  readonly maxConnections: number;
  readonly maxConnectionsPerUser: number;
  readonly bufferBytes: number;
  readonly heartbeatMs: number;
  readonly retryMs: number;
  readonly reorderMs: number;
  readonly backlogLimit: number;
  readonly stallMs: number;
  readonly closeGraceMs: number;
  readonly store: StreamStore;
  readonly #metrics: GatewayMetrics | undefined;
  readonly #log: Logger | undefined;
  readonly #channels = new Map<string, Channel>();
  readonly #connections = new Set<LiveConnection>();
  readonly #users = new Map<string, number>();
  readonly #polls = new Map<string, LiveConnection>();
  readonly #counts: Record<Transport, number> = { sse: 0, "long-polling": 0 };
  readonly #reads = new Map<string, Promise<PreparedRead>>();
  #dirty: LiveConnection[] = [];
  #flushScheduled = false;
  #heartbeat: NodeJS.Timeout | undefined;
  #closed = false;
  /** Frames written since the last metrics update, by transport and source. */
  #written = { sse: { live: 0, replay: 0 }, "long-polling": { live: 0, replay: 0 } };

  constructor(options: LiveHubOptions) {
    this.store = options.store;
    this.#metrics = options.metrics;
    this.#log = options.log?.child({ component: "live" });
    this.maxConnections = positive(options.maxConnections ?? 20_000, "maxConnections");
    this.maxConnectionsPerUser = positive(options.maxConnectionsPerUser ?? 20, "maxConnectionsPerUser");
    this.bufferBytes = positive(options.bufferBytes ?? 262_144, "bufferBytes");
    this.heartbeatMs = positive(options.heartbeatMs ?? 15_000, "heartbeatMs");
    this.retryMs = positive(options.retryMs ?? 3000, "retryMs");
    this.reorderMs = positive(options.reorderMs ?? 250, "reorderMs");
    this.backlogLimit = positive(options.backlogLimit ?? 1000, "backlogLimit");
    this.stallMs = positive(options.stallMs ?? 30_000, "stallMs");
    this.closeGraceMs = positive(options.closeGraceMs ?? 2000, "closeGraceMs");
  }

  /**
   * Sink: hands each frame to the connections reading its stream. Never rejects: the frames are in the
   * store already, and a connection that misses one fills the gap from there.
   */
  push(frames: readonly Frame[]): Promise<void> {
    for (const frame of frames) {
      const channel = this.#channels.get(frame.stream);
      if (channel && Number.isSafeInteger(frame.offset)) this.#accept(channel, new PreparedFrame(frame));
    }
    return Promise.resolve();
  }

  /**
   * Registers a connection (before its replay, so no live frame is missed). Throws
   * HERALD_TOO_MANY_CONNECTIONS over a limit, HERALD_CONFLICT for a second open long-poll of one
   * connection, HERALD_SHUTTING_DOWN once closing.
   */
  admit(conn: LiveConnection): void {
    const { userId, connectionId } = conn.identity;
    if (this.#closed) {
      this.#reject(conn, "shutdown");
      throw new HeraldError("HERALD_SHUTTING_DOWN", "this gateway is shutting down; reconnect");
    }
    if (this.#connections.size >= this.maxConnections) {
      this.#reject(conn, "process-limit");
      throw new HeraldError(
        "HERALD_TOO_MANY_CONNECTIONS",
        `this gateway process holds its maximum of ${this.maxConnections} live connections; retry later`,
      );
    }
    const perUser = this.#users.get(userId) ?? 0;
    if (perUser >= this.maxConnectionsPerUser) {
      this.#reject(conn, "user-limit");
      throw new HeraldError(
        "HERALD_TOO_MANY_CONNECTIONS",
        `this user already holds ${perUser} live connections here, the maximum; close one first`,
      );
    }
    if (conn.transport === "long-polling") {
      if (this.#polls.has(connectionId)) {
        this.#reject(conn, "conflict");
        throw new HeraldError(
          "HERALD_CONFLICT",
          "a long-poll of this connection is already open; poll again when it returns",
        );
      }
      this.#polls.set(connectionId, conn);
    }
    this.#users.set(userId, perUser + 1);
    this.#connections.add(conn);
    this.#counts[conn.transport]++;
    this.#metrics?.connections.inc({ transport: conn.transport });
    for (const lane of conn.lanes) {
      let channel = this.#channels.get(lane.stream);
      if (!channel) {
        channel = new Channel(lane.stream, lane.prefix);
        this.#channels.set(lane.stream, channel);
      }
      channel.add(conn);
    }
    if (conn.transport === "sse" && !this.#heartbeat) {
      this.#heartbeat = setInterval(() => this.#beat(), this.heartbeatMs);
      this.#heartbeat.unref();
    }
  }

  /** Unregisters a connection (closed by either side). */
  remove(conn: LiveConnection): void {
    if (!this.#connections.delete(conn)) return;
    const { userId, connectionId } = conn.identity;
    const perUser = (this.#users.get(userId) ?? 1) - 1;
    if (perUser > 0) this.#users.set(userId, perUser);
    else this.#users.delete(userId);
    if (conn.transport === "long-polling" && this.#polls.get(connectionId) === conn) {
      this.#polls.delete(connectionId);
    }
    this.#counts[conn.transport]--;
    this.#metrics?.connections.dec({ transport: conn.transport });
    for (const lane of conn.lanes) {
      const channel = this.#channels.get(lane.stream);
      if (!channel) continue;
      channel.delete(conn);
      if (channel.size === 0) {
        clearTimeout(channel.timer);
        this.#channels.delete(lane.stream);
      }
    }
  }

  /**
   * Reads from the store for a replay or gap fill. Identical reads in flight share one store call and
   * one set of prepared frames (a gap in a broadcast stream would otherwise read once per connection).
   */
  read(stream: string, after: number, limit: number): Promise<PreparedRead> {
    const key = `${after}\u0000${limit}\u0000${stream}`;
    let pending = this.#reads.get(key);
    if (!pending) {
      pending = this.store
        .read(stream, after, limit)
        .then((r) => ({ ...r, frames: r.frames.map((f) => new PreparedFrame(f)) }));
      const settled = pending.finally(() => this.#reads.delete(key));
      settled.catch(() => {});
      this.#reads.set(key, pending);
    }
    return pending;
  }

  /** A stream's cursor segment prefix, shared with the stream's channel when there is one. */
  segmentPrefix(stream: string): string {
    return this.#channels.get(stream)?.prefix ?? cursorSegmentPrefix(stream);
  }

  /** Queues a connection for the next flush. */
  markDirty(conn: LiveConnection): void {
    conn.dirty = true;
    this.#dirty.push(conn);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /** Frames handed to one connection's transport (counted in bulk for metrics). */
  countFrames(transport: Transport, source: "live" | "replay", n: number): void {
    this.#written[transport][source] += n;
  }

  countGapFill(): void {
    this.#metrics?.liveGapFills.inc();
  }

  countNotRecovered(marker: NotRecovered): void {
    this.#metrics?.liveNotRecovered.inc({ reason: marker.reason });
  }

  countClosed(conn: LiveConnection, reason: CloseReason): void {
    this.#metrics?.liveClosed.inc({ transport: conn.transport, reason });
    if (reason !== "shutdown") {
      this.#log?.info(
        {
          transport: conn.transport,
          userId: conn.identity.userId,
          connectionId: conn.identity.connectionId,
          reason,
        },
        "closed a live connection",
      );
    }
  }

  logFailure(conn: LiveConnection, err: unknown): void {
    this.#log?.warn(
      {
        transport: conn.transport,
        connectionId: conn.identity.connectionId,
        err: err instanceof Error ? err.message.slice(0, 200) : String(err),
      },
      "replay from the stream store failed",
    );
  }

  stats(): LiveHubStats {
    let held = 0;
    for (const channel of this.#channels.values()) held += channel.held?.size ?? 0;
    return { connections: { ...this.#counts }, users: this.#users.size, streams: this.#channels.size, held };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Closes every connection (SSE clients get a `close` event, long-polls an answer) and stops timers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const conn of [...this.#connections]) conn.close("shutdown");
    clearInterval(this.#heartbeat);
    for (const channel of this.#channels.values()) clearTimeout(channel.timer);
    this.#channels.clear();
    this.#updateMetrics();
  }

  #reject(conn: LiveConnection, reason: RejectReason): void {
    this.#metrics?.liveRejected.inc({ transport: conn.transport, reason });
  }

  #accept(channel: Channel, frame: PreparedFrame): void {
    const offset = frame.offset;
    if (channel.last === 0 || offset <= channel.last + 1) {
      // In order, or late (connections drop what they have and fill what they miss).
      this.#dispatch(channel, frame);
      if (offset > channel.last) channel.last = offset;
      if (channel.held) this.#releaseInOrder(channel);
      return;
    }
    // Ahead of a missing offset: pushes of one stream can overtake each other (concurrent consumers,
    // replicas on the backplane). Hold briefly rather than make every connection fill the gap.
    (channel.held ??= new Map()).set(offset, frame);
    if (channel.held.size > this.backlogLimit) this.#releaseAll(channel);
    else if (!channel.timer) {
      channel.timer = setTimeout(() => this.#releaseAll(channel), this.reorderMs);
      channel.timer.unref();
    }
  }

  #releaseInOrder(channel: Channel): void {
    const held = channel.held!;
    for (let next = held.get(channel.last + 1); next; next = held.get(channel.last + 1)) {
      held.delete(next.offset);
      channel.last = next.offset;
      this.#dispatch(channel, next);
    }
    if (held.size === 0) {
      channel.held = undefined;
      clearTimeout(channel.timer);
      channel.timer = undefined;
    }
  }

  #releaseAll(channel: Channel): void {
    clearTimeout(channel.timer);
    channel.timer = undefined;
    const held = channel.held;
    channel.held = undefined;
    if (!held) return;
    for (const offset of [...held.keys()].sort((a, b) => a - b)) {
      const frame = held.get(offset)!;
      if (offset > channel.last) channel.last = offset;
      this.#dispatch(channel, frame);
    }
  }

  #dispatch(channel: Channel, frame: PreparedFrame): void {
    if (channel.many) for (const conn of channel.many) conn.onLive(frame);
    else channel.one?.onLive(frame);
  }

  #flush(): void {
    this.#flushScheduled = false;
    const dirty = this.#dirty;
    this.#dirty = [];
    for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
    this.#updateMetrics();
  }

  #beat(): void {
    for (const conn of this.#connections) conn.heartbeat();
    // Replays write outside the flush: their counts reach the metrics here at the latest.
    this.#updateMetrics();
  }

  #updateMetrics(): void {
    const metrics = this.#metrics;
    if (!metrics) return;
    for (const transport of ["sse", "long-polling"] as const) {
      for (const source of ["live", "replay"] as const) {
        const n = this.#written[transport][source];
        if (n > 0) {
          metrics.liveFrames.inc({ transport, source }, n);
          this.#written[transport][source] = 0;
        }
      }
    }
  }
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new HeraldError("HERALD_INVALID_CONFIG", `${name} must be a whole number of 1 or more`, {
      target: name,
    });
  }
  return value;
}
