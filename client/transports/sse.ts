/**
 * Server-Sent Events from the gateway (`GET /api/sse`). The stream resumes from our cursor; the `ready`
 * event proves it flows (a buffering proxy lets the headers through but holds the body, so `open`
 * alone proves nothing). On any error the EventSource is closed: the client reconnects with its own
 * backoff and a fresh negotiate rather than EventSource's fixed retry with a possibly expired token.
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

export class SseTransport implements Transport {
  readonly name = "sse";
  #source: EventSourceLike | undefined;
  #done = false;

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
      const frame = parse(e.data);
      if (!this.#done && isFrame(frame)) ctx.events.frames([frame], true);
    });
    source.addEventListener(SSE_EVENTS.notRecovered, (e) => {
      const marker = parse(e.data) as NotRecovered | undefined;
      if (!this.#done && marker && typeof marker.stream === "string") ctx.events.lost([marker]);
    });
    source.addEventListener(SSE_EVENTS.ready, (e) => {
      const ready = parse(e.data) as ReadyEvent | undefined;
      if (this.#done) return;
      const cursor = typeof ready?.cursor === "string" ? tryParseCursor(ready.cursor) : undefined;
      if (cursor) ctx.events.positions(cursor);
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
    this.#source?.close();
  }

  #end(error: HeraldError): void {
    if (this.#done) return;
    this.close();
    this.ctx.events.closed(error);
  }
}
