/**
 * Server-Sent Events from the gateway (`GET /api/sse`). The stream resumes from our cursor; the `ready`
 * event proves it flows (a buffering proxy lets the headers through but holds the body, so `open`
 * alone proves nothing). On any error the EventSource is closed: the client reconnects with its own
 * backoff and a fresh negotiate rather than EventSource's fixed retry with a possibly expired token.
 * After `ready`, a stream that stays silent past a few heartbeat intervals (a proxy or a NAT that dropped
 * it without a word) counts as ended too.
 */
import type { NotRecovered } from "../../core/cursor.js";
import { tryParseCursor } from "../../core/cursor.js";
import { HeraldError } from "../../core/errors.js";
import { SSE_EVENTS, type CloseEvent, type NegotiateResponse, type ReadyEvent } from "../../core/live.js";
import { isFrame } from "../frames.js";
import type { EventSourceLike } from "../types.js";
import { withQuery, type Transport, type TransportContext } from "./transport.js";

function parse(data: string): unknown {
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return undefined;
  }
}

/** Silence tolerated after `ready`: this many heartbeat intervals, plus a margin for a slow network. */
const SILENT_HEARTBEATS = 2;
const SILENCE_MARGIN_MS = 5_000;

export class SseTransport implements Transport {
  readonly name = "sse";
  #source: EventSourceLike | undefined;
  #done = false;
  #silenceMs = 0;
  #watchdog: unknown;

  constructor(private readonly ctx: TransportContext) {}

  open(): void {
    const { ctx } = this;
    if (!ctx.EventSource) {
      this.#end(new HeraldError("HERALD_CONNECT_FAILED", "sse: no EventSource in this environment"));
      return;
    }
    const source = new ctx.EventSource(withQuery(ctx.url, { cursor: ctx.cursor() }));
    this.#source = source;
    source.addEventListener(SSE_EVENTS.notification, (e) => {
      this.#heard();
      const frame = parse(e.data);
      if (!this.#done && isFrame(frame)) ctx.events.frames([frame], true);
    });
    source.addEventListener(SSE_EVENTS.heartbeat, () => this.#heard());
    source.addEventListener(SSE_EVENTS.notRecovered, (e) => {
      this.#heard();
      const marker = parse(e.data) as NotRecovered | undefined;
      if (!this.#done && marker && typeof marker.stream === "string") ctx.events.lost([marker]);
    });
    source.addEventListener(SSE_EVENTS.ready, (e) => {
      const ready = parse(e.data) as ReadyEvent | undefined;
      if (this.#done) return;
      const cursor = typeof ready?.cursor === "string" ? tryParseCursor(ready.cursor) : undefined;
      if (cursor) ctx.events.positions(cursor);
      const heartbeatMs = ready?.heartbeatMs;
      if (typeof heartbeatMs === "number" && heartbeatMs > 0) {
        this.#silenceMs = heartbeatMs * SILENT_HEARTBEATS + SILENCE_MARGIN_MS;
      }
      this.#heard();
      ctx.events.ready();
    });
    source.addEventListener(SSE_EVENTS.close, (e) => {
      const reason = (parse(e.data) as CloseEvent | undefined)?.reason ?? "unknown";
      this.#end(new HeraldError("HERALD_CONNECT_FAILED", `sse: the gateway closed the stream (${reason})`));
    });
    source.onerror = (e: unknown) => {
      // The `eventsource` package says why (status code); a browser does not.
      const detail = e as { code?: unknown; message?: unknown } | undefined;
      const code = typeof detail?.code === "number" ? detail.code : undefined;
      this.#end(
        new HeraldError(
          code === 401 ? "HERALD_UNAUTHORIZED" : "HERALD_CONNECT_FAILED",
          code === undefined ? "sse: the stream failed or ended" : `sse: HTTP ${code}`,
        ),
      );
    };
  }

  refresh(_negotiated: NegotiateResponse): void {
    // An open stream keeps its token; the next connection negotiates again.
  }

  close(): void {
    this.#done = true;
    if (this.#watchdog !== undefined) this.ctx.clock.clearTimeout(this.#watchdog);
    this.#source?.close();
  }

  /** Something arrived: the stream is alive; restart the silence watchdog (once `ready` named the interval). */
  #heard(): void {
    if (this.#done || this.#silenceMs === 0) return;
    const { clock } = this.ctx;
    if (this.#watchdog !== undefined) clock.clearTimeout(this.#watchdog);
    this.#watchdog = clock.setTimeout(() => {
      this.#end(
        new HeraldError(
          "HERALD_CONNECT_FAILED",
          `sse: nothing arrived for ${this.#silenceMs} ms (no heartbeat)`,
        ),
      );
    }, this.#silenceMs);
  }

  #end(error: HeraldError): void {
    if (this.#done) return;
    this.close();
    this.ctx.events.closed(error);
  }
}
