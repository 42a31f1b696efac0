/**
 * Long-polling (`GET /api/poll`). The first poll asks `wait=0` so the transport proves itself at once;
 * then each poll waits up to `pollWaitSeconds` for frames and the next one starts as soon as it
 * returns, from our cursor. A poll that outlives its wait by far is aborted (a stalled proxy).
 */
import { tryParseCursor } from "../../core/cursor.js";
import { HeraldError } from "../../core/errors.js";
import type { NegotiateResponse, PollResponse } from "../../core/live.js";
import { isFrame } from "../frames.js";
import { asHeraldError, responseError } from "../http.js";
import { withQuery, type Transport, type TransportContext } from "./transport.js";

/** How long past its `wait` a poll may take before it counts as stalled. */
const POLL_GRACE_MS = 15_000;
/** Pause before polling again after a 409 (our previous poll is still being released). */
const CONFLICT_PAUSE_MS = 500;
/** An empty answer sooner than this after asking to wait is premature: pause this long before the next. */
const EARLY_EMPTY_MS = 1_000;

export class LongPollingTransport implements Transport {
  readonly name = "long-polling";
  #url: string;
  #done = false;
  #ready = false;
  #abort: AbortController | undefined;
  #timer: unknown;

  constructor(private readonly ctx: TransportContext) {
    this.#url = ctx.url;
  }

  open(): void {
    void this.#loop();
  }

  refresh(negotiated: NegotiateResponse): void {
    const url = negotiated.transports.find((t) => t.name === "long-polling")?.url;
    if (url) this.#url = url;
  }

  close(): void {
    this.#done = true;
    this.#abort?.abort();
    if (this.#timer !== undefined) this.ctx.clock.clearTimeout(this.#timer);
  }

  async #loop(): Promise<void> {
    const { ctx } = this;
    while (!this.#done) {
      const wait = this.#ready ? ctx.pollWaitSeconds : 0;
      const abort = new AbortController();
      this.#abort = abort;
      const started = ctx.clock.now();
      const stall = ctx.clock.setTimeout(() => abort.abort(), wait * 1000 + POLL_GRACE_MS);
      let body: PollResponse;
      try {
        const res = await ctx.fetch(withQuery(this.#url, { wait: String(wait), cursor: ctx.cursor() }), {
          signal: abort.signal,
        });
        if (this.#done) return;
        if (res.status === 409) {
          await this.#pause(CONFLICT_PAUSE_MS);
          continue;
        }
        if (!res.ok) throw await responseError(res, "long-polling");
        body = (await res.json()) as PollResponse;
      } catch (err) {
        if (this.#done) return;
        this.#end(asHeraldError(err, "long-polling"));
        return;
      } finally {
        ctx.clock.clearTimeout(stall);
      }
      if (this.#done) return;
      if (body.notRecovered?.length) ctx.events.lost(body.notRecovered);
      if (Array.isArray(body.frames)) ctx.events.frames(body.frames.filter(isFrame), true);
      const cursor = typeof body.cursor === "string" ? tryParseCursor(body.cursor) : undefined;
      if (cursor) ctx.events.positions(cursor);
      if (!this.#ready) {
        this.#ready = true;
        ctx.events.ready();
      }
      const empty = !Array.isArray(body.frames) || body.frames.length === 0;
      if (wait > 0 && empty && !body.closed && ctx.clock.now() - started < EARLY_EMPTY_MS) {
        // An empty answer long before `wait` (a misbehaving proxy): do not spin.
        await this.#pause(EARLY_EMPTY_MS);
      }
      if (body.closed) {
        this.#end(
          new HeraldError(
            "HERALD_CONNECT_FAILED",
            `long-polling: the gateway ended the poll (${body.closed})`,
          ),
        );
        return;
      }
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#timer = this.ctx.clock.setTimeout(() => {
        this.#timer = undefined;
        resolve();
      }, ms);
    });
  }

  #end(error: HeraldError): void {
    if (this.#done) return;
    this.close();
    this.ctx.events.closed(error);
  }
}
