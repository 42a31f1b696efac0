import type { ServerResponse } from "node:http";
import type { NotRecovered } from "../../core/cursor.js";
import { HeraldError } from "../../core/errors.js";
import type { CloseReason } from "../../core/live.js";
import { LiveConnection, type StartPosition } from "./connection.js";
import type { PreparedFrame } from "./frame.js";
import { writeLiveError } from "./errors.js";
import type { LiveHub } from "./hub.js";
import type { GatewayIdentity } from "./tokens.js";

/** Most frames in one long-poll answer; the client polls again at once with the new cursor. */
export const MAX_POLL_FRAMES = 1000;

/**
 * One long-poll request: answers `{ frames, cursor }` as soon as it has frames (replayed or live), or
 * an empty answer after `wait` ms. The next poll carries the new cursor, so nothing is kept between
 * polls: any replica can answer it. Frame JSON is the hub's shared string.
 */
export class PollConnection extends LiveConnection {
  get transport(): "long-polling" {
    return "long-polling";
  }
  readonly #res: ServerResponse;
  readonly #waitMs: number;
  readonly #headers: Record<string, string>;
  #frames: PreparedFrame[] = [];
  #lost: NotRecovered[] = [];
  #live = false;
  #answered = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    hub: LiveHub,
    identity: GatewayIdentity,
    start: readonly StartPosition[],
    res: ServerResponse,
    options: { waitMs: number; headers: Record<string, string> },
  ) {
    super(hub, identity, start);
    this.#res = res;
    this.#waitMs = options.waitMs;
    this.#headers = options.headers;
    res.on("close", () => {
      clearTimeout(this.#timer);
      this.dropped();
    });
  }

  override flush(): void {
    super.flush();
    if (this.#live && this.#frames.length > 0) this.#answer(undefined);
  }

  protected send(frames: readonly PreparedFrame[], replay: boolean): void {
    for (const frame of frames) {
      this.advance(frame);
      this.#frames.push(frame);
    }
    this.hub.countFrames("long-polling", replay ? "replay" : "live", frames.length);
  }

  protected lost(marker: NotRecovered): void {
    this.#lost.push(marker);
  }

  protected caughtUp(): void {
    // Live frames the replay's backlog queued belong in this answer too.
    super.flush();
    if (this.#frames.length > 0 || this.#lost.length > 0 || this.#waitMs === 0) {
      this.#answer(undefined);
      return;
    }
    this.#live = true;
    this.#timer = setTimeout(() => this.#answer(undefined), this.#waitMs);
  }

  protected replayRoom(): boolean {
    return this.#frames.length < MAX_POLL_FRAMES;
  }

  protected end(reason: CloseReason): void {
    if (reason === "store-unavailable" && this.#frames.length === 0 && this.#lost.length === 0) {
      // Nothing to hand over: a 503 tells the client to retry the same cursor later.
      this.#answered = true;
      clearTimeout(this.#timer);
      writeLiveError(
        this.#res,
        new HeraldError("HERALD_STORE_UNAVAILABLE", "the stream store did not answer; retry shortly"),
        this.#headers,
      );
      return;
    }
    this.#answer(reason);
  }

  #answer(closed: CloseReason | undefined): void {
    if (this.#answered) return;
    this.#answered = true;
    clearTimeout(this.#timer);
    // Registered until now; answering ends this poll's hold on the connection id.
    if (!this.closed) this.dropped();
    const res = this.#res;
    if (res.writableEnded || res.destroyed) return;
    let body = '{"frames":[';
    for (let i = 0; i < this.#frames.length; i++) body += (i === 0 ? "" : ",") + this.#frames[i]!.json;
    body += `],"cursor":"${this.cursor()}"`;
    if (this.#lost.length > 0) body += `,"notRecovered":${JSON.stringify(this.#lost)}`;
    if (closed) body += `,"closed":"${closed}"`;
    body += "}";
    const bytes = Buffer.from(body);
    res.writeHead(200, {
      ...this.#headers,
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      "content-length": String(bytes.length),
    });
    res.end(bytes);
    this.#frames = [];
  }
}
