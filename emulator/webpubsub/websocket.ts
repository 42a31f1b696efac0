/**
 * The server side of RFC 6455, just what the emulator needs: the opening handshake, an
 * incremental frame reader and unmasked frame writing. The emulator does not wrap each socket
 * in a `ws` WebSocket: measured on the benchmark machine, that object graph costs about 1 KB of
 * JS heap per idle connection more than the emulator's own state (bench/webpubsub), and fan-out
 * writes pre-framed buffers straight to the socket anyway. Extensions (permessage-deflate) are
 * declined, which RFC 6455 allows and the SDKs accept.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { isUtf8 } from "node:buffer";

export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** Close codes used by the emulator (RFC 6455 section 7.4.1). */
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_PROTOCOL_ERROR = 1002;
export const CLOSE_UNSUPPORTED_DATA = 1003;
export const CLOSE_NO_STATUS = 1005;
export const CLOSE_ABNORMAL = 1006;
export const CLOSE_INVALID_PAYLOAD = 1007;
export const CLOSE_POLICY_VIOLATION = 1008;
export const CLOSE_TOO_BIG = 1009;
export const CLOSE_INTERNAL_ERROR = 1011;

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const KEY_PATTERN = /^[+/0-9A-Za-z]{22}==$/;

/** `Sec-WebSocket-Accept` for a client key. */
export function acceptKey(key: string): string {
  return createHash("sha1")
    .update(key + GUID)
    .digest("base64");
}

export type UpgradeCheck =
  | { ok: true; key: string; protocols: string[] }
  | { ok: false; status: number; message: string; headers?: Record<string, string> };

/** Checks that an upgrade request is a WebSocket version 13 handshake. */
export function checkUpgrade(req: IncomingMessage): UpgradeCheck {
  if (req.method !== "GET") return { ok: false, status: 405, message: "WebSocket handshakes use GET." };
  const upgrade = req.headers.upgrade;
  if (typeof upgrade !== "string" || upgrade.toLowerCase() !== "websocket")
    return { ok: false, status: 400, message: "Only WebSocket upgrades are served." };
  if (req.headers["sec-websocket-version"] !== "13")
    return {
      ok: false,
      status: 426,
      message: "Only WebSocket version 13 is supported.",
      headers: { "Sec-WebSocket-Version": "13" },
    };
  const key = req.headers["sec-websocket-key"];
  if (typeof key !== "string" || !KEY_PATTERN.test(key.trim()))
    return { ok: false, status: 400, message: "Missing or invalid Sec-WebSocket-Key." };
  const offered = req.headers["sec-websocket-protocol"];
  const protocols =
    typeof offered === "string"
      ? offered
          .split(",")
          .map((p) => p.trim())
          .filter((p) => p !== "")
      : [];
  return { ok: true, key: key.trim(), protocols };
}

/** Completes the handshake: writes the 101 response and, in the same write, a first frame. */
export function writeHandshake(
  socket: Duplex,
  key: string,
  protocol: string | undefined,
  firstFrame?: Buffer,
): void {
  const head =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
    (protocol === undefined ? "" : `Sec-WebSocket-Protocol: ${protocol}\r\n`) +
    "\r\n";
  socket.write(firstFrame === undefined ? head : Buffer.concat([Buffer.from(head, "latin1"), firstFrame]));
}

/** Refuses an upgrade with an HTTP response and a JSON error body, then closes the socket. */
export function rejectUpgrade(
  socket: Duplex,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (socket.destroyed) return;
  // Drain what the client still sends so that its FIN is seen.
  socket.resume();
  const text = JSON.stringify(body);
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Error"}\r\nConnection: close\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n` +
      `${extra}\r\n${text}`,
  );
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  426: "Upgrade Required",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** Bytes of an unmasked frame header for a payload of `length` bytes. */
export function headerSize(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

/** Writes a final, unmasked frame header into `target` at `offset`; returns the offset after it. */
export function writeHeader(target: Buffer, offset: number, opcode: number, length: number): number {
  target[offset] = 0x80 | opcode;
  if (length < 126) {
    target[offset + 1] = length;
    return offset + 2;
  }
  if (length < 65536) {
    target[offset + 1] = 126;
    target.writeUInt16BE(length, offset + 2);
    return offset + 4;
  }
  target[offset + 1] = 127;
  target.writeUInt32BE(Math.floor(length / 0x100000000), offset + 2);
  target.writeUInt32BE(length >>> 0, offset + 6);
  return offset + 10;
}

/** One complete unmasked frame (header and payload in one buffer). */
export function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(headerSize(payload.length) + payload.length);
  const at = writeHeader(out, 0, opcode, payload.length);
  payload.copy(out, at);
  return out;
}

/** A close frame; the reason is cut to the 123 bytes a control frame can carry. */
export function encodeClose(code: number, reason: string): Buffer {
  let text = Buffer.from(reason, "utf8");
  if (text.length > 123) {
    // Cut on a character boundary so the reason stays valid UTF-8.
    let end = 123;
    while (end > 0 && (text[end]! & 0xc0) === 0x80) end--;
    text = text.subarray(0, end);
  }
  const payload = Buffer.allocUnsafe(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return encodeFrame(OP_CLOSE, payload);
}

/** What the frame reader reports. After `close` or `error` it reads nothing more. */
export interface FrameSink {
  onMessage(binary: boolean, data: Buffer): void;
  onPing(data: Buffer): void;
  onClose(code: number, reason: string): void;
  /** A protocol violation: close with `code`. */
  onFrameError(code: number, reason: string): void;
}

/**
 * Incremental reader of client frames: checks masking, RSV bits, opcodes, control-frame rules,
 * fragmentation order, UTF-8 of text messages and the message size limit (checked from the
 * header, before the payload is buffered).
 */
export class FrameReader {
  private pending: Buffer[] | null = null;
  private pendingBytes = 0;
  private need = 0;
  private fragments: Buffer[] | null = null;
  private fragmentBytes = 0;
  private fragmentBinary = false;
  private done = false;

  constructor(private readonly maxMessageBytes: number) {}

  /** Bytes held for partial frames and fragmented messages. */
  get bufferedBytes(): number {
    return this.pendingBytes + this.fragmentBytes;
  }

  feed(chunk: Buffer, sink: FrameSink): void {
    if (this.done) return;
    let data: Buffer;
    if (this.pending === null) {
      data = chunk;
    } else {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes < this.need) return;
      data = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = null;
      this.pendingBytes = 0;
    }
    let offset = 0;
    while (!this.done) {
      const available = data.length - offset;
      if (available < 2) {
        this.keep(data, offset, 2);
        return;
      }
      const b0 = data[offset]!;
      const b1 = data[offset + 1]!;
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      if ((b0 & 0x70) !== 0) return this.fail(sink, CLOSE_PROTOCOL_ERROR, "RSV bits must be clear.");
      if ((b1 & 0x80) === 0) return this.fail(sink, CLOSE_PROTOCOL_ERROR, "Client frames must be masked.");
      let length = b1 & 0x7f;
      let header = 2;
      if (length === 126) {
        if (available < 4) return this.keep(data, offset, 4);
        length = data.readUInt16BE(offset + 2);
        header = 4;
      } else if (length === 127) {
        if (available < 10) return this.keep(data, offset, 10);
        const high = data.readUInt32BE(offset + 2);
        if (high > 0x1fffff) return this.fail(sink, CLOSE_TOO_BIG, "Message too big.");
        length = high * 0x100000000 + data.readUInt32BE(offset + 6);
        header = 10;
      }
      if (opcode >= 0x8) {
        if (opcode !== OP_CLOSE && opcode !== OP_PING && opcode !== OP_PONG)
          return this.fail(sink, CLOSE_PROTOCOL_ERROR, `Unknown opcode ${opcode}.`);
        if (!fin) return this.fail(sink, CLOSE_PROTOCOL_ERROR, "Control frames must not be fragmented.");
        if (length > 125) return this.fail(sink, CLOSE_PROTOCOL_ERROR, "Control frame payload too long.");
      } else {
        if (opcode !== OP_CONTINUATION && opcode !== OP_TEXT && opcode !== OP_BINARY)
          return this.fail(sink, CLOSE_PROTOCOL_ERROR, `Unknown opcode ${opcode}.`);
        if (opcode === OP_CONTINUATION && this.fragments === null)
          return this.fail(sink, CLOSE_PROTOCOL_ERROR, "Continuation frame without a message.");
        if (opcode !== OP_CONTINUATION && this.fragments !== null)
          return this.fail(sink, CLOSE_PROTOCOL_ERROR, "New message before the last one ended.");
        if (this.fragmentBytes + length > this.maxMessageBytes)
          return this.fail(sink, CLOSE_TOO_BIG, "Message too big.");
      }
      const total = header + 4 + length;
      if (available < total) return this.keep(data, offset, total);
      const maskAt = offset + header;
      const start = maskAt + 4;
      const payload = data.subarray(start, start + length);
      unmask(payload, data, maskAt);
      offset += total;
      if (opcode >= 0x8) {
        if (opcode === OP_PING) sink.onPing(Buffer.from(payload));
        else if (opcode === OP_CLOSE) this.readClose(payload, sink);
        // Unsolicited pongs are allowed and ignored.
        continue;
      }
      if (opcode !== OP_CONTINUATION) this.fragmentBinary = opcode === OP_BINARY;
      if (fin && this.fragments === null) {
        this.deliver(payload, sink);
        continue;
      }
      // Copy: `payload` points into a socket chunk that must not be retained.
      (this.fragments ??= []).push(Buffer.from(payload));
      this.fragmentBytes += length;
      if (fin) {
        const message = Buffer.concat(this.fragments, this.fragmentBytes);
        this.fragments = null;
        this.fragmentBytes = 0;
        this.deliver(message, sink);
      }
    }
  }

  private keep(data: Buffer, offset: number, need: number): void {
    if (offset >= data.length) return;
    const rest = Buffer.from(data.subarray(offset));
    this.pending = [rest];
    this.pendingBytes = rest.length;
    this.need = need;
  }

  private deliver(message: Buffer, sink: FrameSink): void {
    if (!this.fragmentBinary && !isUtf8(message)) {
      this.fail(sink, CLOSE_INVALID_PAYLOAD, "Text message is not valid UTF-8.");
      return;
    }
    sink.onMessage(this.fragmentBinary, message);
  }

  private readClose(payload: Buffer, sink: FrameSink): void {
    if (payload.length === 0) {
      this.stop();
      sink.onClose(CLOSE_NO_STATUS, "");
      return;
    }
    if (payload.length === 1) return this.fail(sink, CLOSE_PROTOCOL_ERROR, "Invalid close frame.");
    const code = payload.readUInt16BE(0);
    if (!validCloseCode(code)) return this.fail(sink, CLOSE_PROTOCOL_ERROR, `Invalid close code ${code}.`);
    const reason = payload.subarray(2);
    if (!isUtf8(reason)) return this.fail(sink, CLOSE_INVALID_PAYLOAD, "Close reason is not valid UTF-8.");
    this.stop();
    sink.onClose(code, reason.toString("utf8"));
  }

  private fail(sink: FrameSink, code: number, reason: string): void {
    this.stop();
    sink.onFrameError(code, reason);
  }

  private stop(): void {
    this.done = true;
    this.pending = null;
    this.pendingBytes = 0;
    this.fragments = null;
    this.fragmentBytes = 0;
  }
}

function validCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

function unmask(payload: Buffer, data: Buffer, maskAt: number): void {
  const m0 = data[maskAt]!;
  const m1 = data[maskAt + 1]!;
  const m2 = data[maskAt + 2]!;
  const m3 = data[maskAt + 3]!;
  const n = payload.length;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    payload[i] = payload[i]! ^ m0;
    payload[i + 1] = payload[i + 1]! ^ m1;
    payload[i + 2] = payload[i + 2]! ^ m2;
    payload[i + 3] = payload[i + 3]! ^ m3;
  }
  for (; i < n; i++) payload[i] = payload[i]! ^ data[maskAt + (i & 3)]!;
}
