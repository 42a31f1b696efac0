/**
 * The one transport contract SSE and long-poll share on the server (engine.io's `Transport`): a
 * connection reads a fixed set of streams from a cursor. It replays each stream from the store, then
 * takes live frames from the hub, with no gap and no repeat in between; the transport only decides how
 * frames, "not recovered" markers and the end reach the client.
 *
 * Per stream (a `Lane`) the connection is either filling (reading the store; live frames wait in a
 * bounded backlog) or live (a frame is accepted only if it is the next offset). Any gap in the live feed
 * (reordered or missed pushes) makes the lane fill again from the store, so a client never sees a
 * stream out of order.
 */
import type { NotRecovered } from "../../core/cursor.js";
import type { CloseReason, TransportName } from "../../core/live.js";
import type { PreparedFrame } from "./frame.js";
import type { LiveHub } from "./hub.js";
import type { GatewayIdentity } from "./tokens.js";

/** Where a connection starts in one stream: after `after`, or at the stream's head when undefined. */
export interface StartPosition {
  stream: string;
  after: number | undefined;
}

/** Frames read from the store per page during a replay or gap fill. */
export const REPLAY_PAGE = 500;
/** Frames handed to the transport at once during a replay before it may push back. */
const REPLAY_SLICE = 32;
/** Replays in a row that may lose their backlog to a faster live feed before the connection gives up. */
const MAX_FILL_ROUNDS = 8;

/** One stream of one connection. */
export class Lane {
  readonly stream: string;
  readonly prefix: string;
  /** Offset of the last frame accepted (sent, or queued to send). */
  pos: number;
  /** Offset of the last frame handed to the transport: what the client's cursor will hold. */
  sent: number;
  /** Live frames held while the lane fills from the store; `null` when the lane is live. */
  backlog: PreparedFrame[] | null = [];
  /** The backlog overflowed during this fill: read the store again instead. */
  overflow = false;
  /** Start at the stream's head (no cursor for it). */
  fromHead: boolean;

  constructor(start: StartPosition, prefix: string) {
    this.stream = start.stream;
    this.prefix = prefix;
    this.pos = start.after ?? 0;
    this.sent = this.pos;
    this.fromHead = start.after === undefined;
  }
}

export abstract class LiveConnection {
  abstract readonly transport: Exclude<TransportName, "websocket">;
  readonly identity: GatewayIdentity;
  readonly lanes: Lane[];
  closed = false;
  /** Queued by the hub's flush (once per push batch). */
  dirty = false;
  protected readonly hub: LiveHub;
  /** Live frames accepted since the last flush; allocated on first use (idle connections hold none). */
  #outbox: PreparedFrame[] | undefined;
  #started = false;

  constructor(hub: LiveHub, identity: GatewayIdentity, start: readonly StartPosition[]) {
    this.hub = hub;
    this.identity = identity;
    this.lanes = start.map((s) => new Lane(s, hub.segmentPrefix(s.stream)));
  }

  /** The streams this connection reads. */
  get streams(): string[] {
    return this.lanes.map((lane) => lane.stream);
  }

  /**
   * The client's cursor: what has been handed to the transport so far. A stream whose head is not
   * known yet is left out (the next connection starts it at the head again), never sent as offset 0.
   */
  cursor(): string {
    let out = "";
    for (const lane of this.lanes) {
      if (lane.fromHead) continue;
      out += (out === "" ? lane.prefix : "." + lane.prefix) + lane.sent;
    }
    return out;
  }

  /**
   * Finds the head of each stream without a cursor, then replays every stream from the store, then the
   * connection is live. Never rejects.
   */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const atHead = this.lanes.filter((lane) => lane.fromHead);
    try {
      await Promise.all(
        atHead.map(async (lane) => {
          const r = await this.hub.read(lane.stream, 0, 1);
          lane.fromHead = false;
          this.#skipTo(lane, r.head);
        }),
      );
    } catch (err) {
      this.#failed(err);
      return;
    }
    if (this.closed) return;
    // A lane started at the head has nothing to replay: only the live frames that came meanwhile.
    await Promise.all(this.lanes.map((lane) => this.#fill(lane, atHead.includes(lane))));
    if (!this.closed) this.caughtUp();
  }

  /** A live frame of one of this connection's streams, in the hub's order for that stream. */
  onLive(frame: PreparedFrame): void {
    if (this.closed) return;
    const lane = this.#lane(frame.stream);
    if (!lane) return;
    if (lane.backlog) {
      if (lane.backlog.length < this.hub.backlogLimit) lane.backlog.push(frame);
      else lane.overflow = true;
      return;
    }
    if (frame.offset <= lane.pos) return;
    if (frame.offset !== lane.pos + 1) {
      this.hub.countGapFill();
      lane.backlog = [frame];
      void this.#fill(lane);
      return;
    }
    lane.pos = frame.offset;
    (this.#outbox ??= []).push(frame);
    if (!this.dirty) this.hub.markDirty(this);
  }

  /** Hands the queued live frames to the transport (the hub calls this once per push batch). */
  flush(): void {
    this.dirty = false;
    const frames = this.#outbox;
    if (!frames || frames.length === 0 || this.closed) return;
    this.#outbox = undefined;
    this.send(frames, false);
  }

  /** Closes the connection for `reason` (told to the client); idempotent. */
  close(reason: CloseReason): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.remove(this);
    this.hub.countClosed(this, reason);
    this.end(reason);
  }

  /** The client went away: forget the connection without telling it anything. */
  dropped(): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.remove(this);
  }

  /** Bytes written but not yet accepted by the socket (SSE); 0 for transports that do not queue. */
  get bufferedBytes(): number {
    return 0;
  }

  /** Called by the hub's heartbeat timer. */
  heartbeat(): void {}

  /**
   * Hands frames to the client; moves each frame's lane cursor in order so the transport can read
   * `cursor()` after each one. `replay` frames come from the store, the others from the live feed.
   */
  protected abstract send(frames: readonly PreparedFrame[], replay: boolean): void;
  /** Frames the client's cursor asked for are gone; `cursor()` already skips them. */
  protected abstract lost(marker: NotRecovered): void;
  /** Every stream is replayed; live frames follow. */
  protected abstract caughtUp(): void;
  /** After a replay page: resolves when the transport can take more (false: stop the replay). */
  protected abstract replayRoom(): boolean | Promise<boolean>;
  /** Ends the transport, telling the client why. */
  protected abstract end(reason: CloseReason): void;

  /** Moves a lane's cursor to `frame` (what the client will hold once the frame is written). */
  protected advance(frame: PreparedFrame): void {
    const lane = this.#lane(frame.stream);
    if (lane) lane.sent = frame.offset;
  }

  #lane(stream: string): Lane | undefined {
    const lanes = this.lanes;
    for (let i = 0; i < lanes.length; i++) if (lanes[i]!.stream === stream) return lanes[i];
    return undefined;
  }

  #skipTo(lane: Lane, offset: number): void {
    lane.pos = offset;
    lane.sent = offset;
  }

  /**
   * Reads the lane's stream from `lane.pos` until caught up, then replays the live frames that came
   * meanwhile, dropping those already read. Repeats when the backlog overflowed or has a hole.
   */
  async #fill(lane: Lane, atHead = false): Promise<void> {
    lane.backlog ??= [];
    try {
      for (let round = 0; ; round++) {
        if (round >= MAX_FILL_ROUNDS) {
          this.close("cannot-catch-up");
          return;
        }
        const read = round > 0 || !atHead || lane.overflow;
        lane.overflow = false;
        if (read && !(await this.#replay(lane))) return;
        if (lane.overflow) continue;
        const backlog = lane.backlog ?? [];
        lane.backlog = null;
        let hole = false;
        for (const frame of backlog) {
          if (frame.offset <= lane.pos) continue;
          if (frame.offset !== lane.pos + 1) {
            hole = true;
            break;
          }
          lane.pos = frame.offset;
          (this.#outbox ??= []).push(frame);
        }
        if (this.#outbox && this.#outbox.length > 0 && !this.dirty) this.hub.markDirty(this);
        if (!hole) return;
        // Everything after the hole is in the store: read it rather than wait for the feed.
        lane.backlog = [];
      }
    } catch (err) {
      this.#failed(err);
    }
  }

  /** The store failed: the client resumes from its cursor once it answers again. */
  #failed(err: unknown): void {
    if (this.closed) return;
    this.hub.logFailure(this, err);
    this.close("store-unavailable");
  }

  /** Store pages until the lane is at the head; false when the connection or the transport stopped it. */
  async #replay(lane: Lane): Promise<boolean> {
    for (;;) {
      const r = await this.hub.read(lane.stream, lane.pos, REPLAY_PAGE);
      if (this.closed) return false;
      // Queued live frames go first, so the outbox never reorders a lane or moves its cursor back.
      this.flush();
      if (lane.pos > r.head) {
        // The store no longer knows the offsets the client saw (a restarted memory store).
        const marker: NotRecovered = {
          stream: lane.stream,
          after: lane.pos,
          resumeAfter: 0,
          reason: "reset",
        };
        this.#skipTo(lane, 0);
        this.hub.countNotRecovered(marker);
        this.lost(marker);
        continue;
      }
      if (lane.pos + 1 < r.first) {
        const marker: NotRecovered = {
          stream: lane.stream,
          after: lane.pos,
          resumeAfter: r.first - 1,
          reason: "retention",
        };
        this.#skipTo(lane, r.first - 1);
        this.hub.countNotRecovered(marker);
        this.lost(marker);
      }
      let frames = r.frames;
      if (frames.length > 0 && frames[0]!.offset <= lane.pos)
        frames = frames.filter((f) => f.offset > lane.pos);
      // In slices, each waiting for the transport: a page of large frames must not pile up in memory.
      for (let i = 0; i < frames.length; i += REPLAY_SLICE) {
        const slice = frames.slice(i, i + REPLAY_SLICE);
        if (i > 0) this.flush();
        lane.pos = slice[slice.length - 1]!.offset;
        this.send(slice, true);
        if (this.closed || !(await this.replayRoom()) || this.closed) return false;
      }
      if (r.cursor > lane.pos) this.#skipTo(lane, r.cursor);
      if (r.cursor >= r.head) return true;
    }
  }
}
