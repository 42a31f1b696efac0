import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { NotRecovered } from "../../core/cursor.js";
import { HeraldError } from "../../core/errors.js";
import { SSE_EVENTS, type CloseEvent, type CloseReason, type ReadyEvent } from "../../core/live.js";
import { LiveConnection, type StartPosition } from "./connection.js";
import type { PreparedFrame } from "./frame.js";
import { writeLiveError } from "./errors.js";
import type { LiveHub } from "./hub.js";
import { formatSseComment, formatSseEvent } from "./sse-format.js";
import type { GatewayIdentity } from "./tokens.js";

/** Headers that make proxies pass events through as they come, untouched and uncached. */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no",
};

const HEARTBEAT = Buffer.from(
  formatSseComment() + formatSseEvent({ event: SSE_EVENTS.heartbeat, data: "{}" }),
);
const CRLF = "\r\n";
/** A replay waits for the socket to drain past this many queued bytes. */
const REPLAY_HIGH_WATER = 64 * 1024;

/** What a sent response's `_header` holds instead of its own copy of the header block. */
const SENT_HEADER = "HTTP/1.1 200 OK\r\n\r\n";

/**
 * Node keeps a response's header block (about 260 B here) as `_header` for the life of the response,
 * though after it is on the wire the string only serves as "headers were sent" (`headersSent`, and
 * `end()` not writing them again). SSE responses live for hours: swap it for one shared string. Only
 * once the block is sent, and only while Node keeps it this way (otherwise nothing changes).
 */
function forgetSentHeader(res: ServerResponse): void {
  const out = res as ServerResponse & { _header?: unknown; _headerSent?: unknown };
  if (out._headerSent === true && typeof out._header === "string" && out._header.length > 0) {
    out._header = SENT_HEADER;
  }
}

/**
 * An SSE connection: every frame as `id: <cursor>`, `event: notification`, `data: <frame JSON>`. The
 * event body after the `id:` line is the hub's shared buffer; only the id is built per connection.
 *
 * The first write goes through the response (status line, headers, first bytes). Later
 * writes go straight to the socket with the HTTP/1.1 chunk framing done here, one chunk per flush, so a
 * batch of frames costs one socket write (ServerResponse.write would add three writes and a tick per
 * call). Nothing else writes to the socket until `res.end()`, which adds the closing chunk. HTTP/1.0
 * gets the bare bytes (no chunking); a pipelined response without a socket of its own yet writes
 * through the response.
 */
export class SseConnection extends LiveConnection {
  // On the prototype: one field less on every connection.
  get transport(): "sse" {
    return "sse";
  }
  readonly #res: ServerResponse;
  #socket: Socket | undefined;
  #chunked = false;
  #begun = false;
  #headers: Record<string, string> = {};

  constructor(hub: LiveHub, identity: GatewayIdentity, start: readonly StartPosition[], res: ServerResponse) {
    super(hub, identity, start);
    this.#res = res;
  }

  /**
   * Prepares the response; call after the hub admitted the connection. The status line and headers
   * wait for the first bytes (the `retry:` line, then the replay or `ready`), so a store that fails
   * before anything was sent can still be answered with a 503.
   */
  open(headers: Record<string, string>): void {
    this.#headers = headers;
    this.#res.on("close", () => this.dropped());
  }

  override get bufferedBytes(): number {
    return this.#socket ? this.#socket.writableLength : this.#res.writableLength;
  }

  override heartbeat(): void {
    if (this.closed) return;
    this.#write([HEARTBEAT], HEARTBEAT.length);
    if (this.bufferedBytes > this.hub.bufferBytes) this.close("slow-consumer");
  }

  protected send(frames: readonly PreparedFrame[], replay: boolean): void {
    const parts: (string | Buffer)[] = [];
    let bytes = 0;
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i]!;
      this.advance(frame);
      const id = `id: ${this.cursor()}\n`;
      const body = frame.sse;
      parts.push(id, body);
      // Cursors are ASCII, so their length is their byte count.
      bytes += id.length + body.length;
    }
    this.#write(parts, bytes);
    this.hub.countFrames("sse", replay ? "replay" : "live", frames.length);
    if (!replay && this.bufferedBytes > this.hub.bufferBytes) this.close("slow-consumer");
  }

  protected lost(marker: NotRecovered): void {
    this.#text(
      formatSseEvent({ id: this.cursor(), event: SSE_EVENTS.notRecovered, data: JSON.stringify(marker) }),
    );
  }

  protected caughtUp(): void {
    const cursor = this.cursor();
    const ready: ReadyEvent = { cursor, streams: this.streams, heartbeatMs: this.hub.heartbeatMs };
    this.#text(formatSseEvent({ id: cursor, event: SSE_EVENTS.ready, data: JSON.stringify(ready) }));
  }

  protected replayRoom(): boolean | Promise<boolean> {
    if (this.bufferedBytes <= REPLAY_HIGH_WATER) return true;
    const emitter = this.#socket ?? this.#res;
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        emitter.off("drain", onDrain);
        this.#res.off("close", onClose);
        resolve(ok && !this.closed);
      };
      const onDrain = (): void => done(true);
      const onClose = (): void => done(false);
      const timer = setTimeout(() => {
        done(false);
        this.close("slow-consumer");
      }, this.hub.stallMs);
      timer.unref();
      emitter.on("drain", onDrain);
      this.#res.on("close", onClose);
    });
  }

  protected end(reason: CloseReason): void {
    const res = this.#res;
    if (res.writableEnded || res.destroyed) return;
    if (!this.#begun && (reason === "store-unavailable" || reason === "shutdown")) {
      writeLiveError(
        res,
        reason === "shutdown"
          ? new HeraldError("HERALD_SHUTTING_DOWN", "this gateway is shutting down; reconnect")
          : new HeraldError("HERALD_STORE_UNAVAILABLE", "the stream store did not answer; retry shortly"),
        this.#headers,
      );
      return;
    }
    const close: CloseEvent = { reason };
    this.#text(formatSseEvent({ event: SSE_EVENTS.close, data: JSON.stringify(close) }));
    res.end();
    // A client that stopped reading never takes the last bytes: drop the socket after a grace period
    // so its buffer is freed.
    const socket = res.socket;
    if (socket && !socket.destroyed) {
      const timer = setTimeout(() => {
        if (socket.writableLength > 0) socket.destroy();
      }, this.hub.closeGraceMs);
      timer.unref();
      socket.once("close", () => clearTimeout(timer));
    }
  }

  #text(text: string): void {
    const buffer = Buffer.from(text);
    this.#write([buffer], buffer.length);
  }

  /** The first write: status line and headers, then `retry:` and `parts`, through the response. */
  #begin(parts: readonly (string | Buffer)[]): void {
    this.#begun = true;
    const res = this.#res;
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(200, { ...SSE_HEADERS, ...this.#headers });
    // Sent on its own: Node then writes its header string as it is, which flattens it; written beside
    // a body chunk, the string stays a tree of ~24 concatenations for the life of the response.
    res.flushHeaders();
    forgetSentHeader(res);
    const first: Buffer[] = [Buffer.from(`retry: ${this.hub.retryMs}\n${formatSseComment("herald")}`)];
    for (const part of parts) first.push(typeof part === "string" ? Buffer.from(part, "latin1") : part);
    res.write(Buffer.concat(first));
    const socket = res.socket;
    // A pipelined response gets its socket only once the earlier ones are done: then write through it.
    if (socket && socket.writable) {
      this.#socket = socket;
      this.#chunked = (res as ServerResponse & { chunkedEncoding?: boolean }).chunkedEncoding === true;
    }
  }

  #write(parts: readonly (string | Buffer)[], bytes: number): void {
    if (!this.#begun) {
      this.#begin(parts);
      return;
    }
    const socket = this.#socket;
    if (!socket) {
      if (this.#res.writableEnded || this.#res.destroyed) return;
      for (const part of parts) this.#res.write(part);
      return;
    }
    if (socket.destroyed || this.#res.writableEnded) return;
    socket.cork();
    if (this.#chunked) socket.write(bytes.toString(16) + CRLF, "latin1");
    for (const part of parts) {
      if (typeof part === "string") socket.write(part, "latin1");
      else socket.write(part);
    }
    if (this.#chunked) socket.write(CRLF, "latin1");
    socket.uncork();
  }
}
