import { describe, expect, it } from "vitest";
import {
  FrameReader,
  OP_BINARY,
  OP_CLOSE,
  OP_CONTINUATION,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  acceptKey,
  encodeClose,
  encodeFrame,
  headerSize,
  type FrameSink,
} from "./websocket.js";

/** A client frame as RFC 6455 requires: masked. */
function clientFrame(
  opcode: number,
  payload: Buffer | string,
  fin = true,
  options: { rsv?: number; mask?: boolean; length?: number } = {},
): Buffer {
  const data = typeof payload === "string" ? Buffer.from(payload) : payload;
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const length = options.length ?? data.length;
  const ext = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext);
  head[0] = (fin ? 0x80 : 0) | (options.rsv ?? 0) | opcode;
  head[1] = (options.mask === false ? 0 : 0x80) | (ext === 0 ? length : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(length, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(length), 2);
  const body = Buffer.from(data.map((b, i) => b ^ mask[i % 4]!));
  return options.mask === false ? Buffer.concat([head, data]) : Buffer.concat([head, mask, body]);
}

class Recorder implements FrameSink {
  events: string[] = [];
  messages: { binary: boolean; data: Buffer }[] = [];
  onMessage(binary: boolean, data: Buffer): void {
    this.messages.push({ binary, data });
    this.events.push(`${binary ? "binary" : "text"}:${binary ? data.toString("hex") : data.toString()}`);
  }
  onPing(data: Buffer): void {
    this.events.push(`ping:${data.toString()}`);
  }
  onClose(code: number, reason: string): void {
    this.events.push(`close:${code}:${reason}`);
  }
  onFrameError(code: number, reason: string): void {
    this.events.push(`error:${code}:${reason}`);
  }
}

function read(chunks: Buffer[], max = 1024 * 1024): Recorder {
  const sink = new Recorder();
  const reader = new FrameReader(max);
  for (const c of chunks) reader.feed(c, sink);
  return sink;
}

describe("WebSocket handshake and framing", () => {
  it("computes Sec-WebSocket-Accept as in RFC 6455", () => {
    expect(acceptKey("dGhlIHNhbXBsZSBub25jZQ==")).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  });

  it("encodes unmasked frames with 7, 16 and 64-bit lengths", () => {
    for (const n of [0, 125, 126, 65535, 65536]) {
      const frame = encodeFrame(OP_TEXT, Buffer.alloc(n, 0x61));
      expect(frame.length).toBe(headerSize(n) + n);
      expect(frame[0]).toBe(0x81);
      expect(frame[1]! & 0x80).toBe(0);
    }
    const close = encodeClose(1008, "é".repeat(100));
    expect(close[0]).toBe(0x80 | OP_CLOSE);
    expect(close.length).toBeLessThanOrEqual(127);
    expect(close.readUInt16BE(2)).toBe(1008);
    expect(() => new TextDecoder("utf-8", { fatal: true }).decode(close.subarray(4))).not.toThrow();
  });
});

describe("FrameReader", () => {
  it("reads text, binary, ping and close frames", () => {
    const sink = read([
      Buffer.concat([
        clientFrame(OP_TEXT, "hello"),
        clientFrame(OP_BINARY, Buffer.from([1, 2, 3])),
        clientFrame(OP_PING, "p"),
        clientFrame(OP_PONG, "ignored"),
        clientFrame(OP_CLOSE, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from("bye")])),
        clientFrame(OP_TEXT, "after close is not read"),
      ]),
    ]);
    expect(sink.events).toEqual(["text:hello", "binary:010203", "ping:p", "close:1000:bye"]);
  });

  it("reassembles frames split at every byte and fragmented messages", () => {
    const bytes = Buffer.concat([
      clientFrame(OP_TEXT, "hel", false),
      clientFrame(OP_PING, "mid"),
      clientFrame(OP_CONTINUATION, "lo ", false),
      clientFrame(OP_CONTINUATION, "world"),
      clientFrame(OP_TEXT, "x".repeat(70000)),
    ]);
    const chunks: Buffer[] = [];
    for (let i = 0; i < 200; i++) chunks.push(bytes.subarray(i, i + 1));
    chunks.push(bytes.subarray(200));
    const sink = read(chunks);
    expect(sink.events.slice(0, 2)).toEqual(["ping:mid", "text:hello world"]);
    expect(sink.messages[1]!.data.length).toBe(70000);
  });

  it("reports an empty close frame as 1005", () => {
    expect(read([clientFrame(OP_CLOSE, "")]).events).toEqual(["close:1005:"]);
  });

  it("fails on protocol violations with the RFC's close codes", () => {
    const cases: [Buffer, string][] = [
      [clientFrame(OP_TEXT, "x", true, { mask: false }), "error:1002:Client frames must be masked."],
      [clientFrame(OP_TEXT, "x", true, { rsv: 0x40 }), "error:1002:RSV bits must be clear."],
      [clientFrame(0x3, "x"), "error:1002:Unknown opcode 3."],
      [clientFrame(0xb, "x"), "error:1002:Unknown opcode 11."],
      [clientFrame(OP_PING, "x", false), "error:1002:Control frames must not be fragmented."],
      [clientFrame(OP_PING, "x".repeat(126)), "error:1002:Control frame payload too long."],
      [clientFrame(OP_CONTINUATION, "x"), "error:1002:Continuation frame without a message."],
      [
        Buffer.concat([clientFrame(OP_TEXT, "a", false), clientFrame(OP_TEXT, "b")]),
        "error:1002:New message before the last one ended.",
      ],
      [clientFrame(OP_TEXT, Buffer.from([0xc3, 0x28])), "error:1007:Text message is not valid UTF-8."],
      [clientFrame(OP_CLOSE, Buffer.from([0x03])), "error:1002:Invalid close frame."],
      [clientFrame(OP_CLOSE, Buffer.from([0x03, 0xed])), "error:1002:Invalid close code 1005."],
      [clientFrame(OP_CLOSE, Buffer.from([0x03, 0xe8, 0xff])), "error:1007:Close reason is not valid UTF-8."],
    ];
    for (const [frame, expected] of cases) expect(read([frame]).events, expected).toEqual([expected]);
  });

  it("refuses a message over the limit from its header, before buffering it", () => {
    const header = clientFrame(OP_BINARY, Buffer.alloc(0), true, { length: 2000 }).subarray(0, 8);
    expect(read([header], 1000).events).toEqual(["error:1009:Message too big."]);
    const fragments = Buffer.concat([
      clientFrame(OP_TEXT, "a".repeat(600), false),
      clientFrame(OP_CONTINUATION, "b".repeat(600)),
    ]);
    expect(read([fragments], 1000).events).toEqual(["error:1009:Message too big."]);
    const huge = Buffer.alloc(14);
    huge[0] = 0x82;
    huge[1] = 0xff;
    huge.writeUInt32BE(0xffffffff, 2);
    expect(read([huge]).events).toEqual(["error:1009:Message too big."]);
  });

  it("does not retain the socket chunk after a partial frame", () => {
    const reader = new FrameReader(1024);
    const sink = new Recorder();
    const frame = clientFrame(OP_TEXT, "abcdef");
    reader.feed(frame.subarray(0, 4), sink);
    expect(reader.bufferedBytes).toBe(4);
    reader.feed(frame.subarray(4), sink);
    expect(reader.bufferedBytes).toBe(0);
    expect(sink.events).toEqual(["text:abcdef"]);
  });
});
