import rhea from "rhea";
import { describe, expect, it } from "vitest";
import type { AmqpUuid } from "./codec.js";
import {
  AmqpDecodeError,
  AmqpSymbol,
  AmqpWriter,
  decodeValue,
  dotnetGuidBytes,
  parseMessage,
  skipValue,
  splitBatch,
  toDotnetTicks,
  uuidToBytes,
  uuidToString,
} from "./codec.js";
import {
  encodeForDelivery,
  readApplicationProperties,
  rewriteBare,
  storedFromParsed,
} from "../broker/message.js";

const encode = (m: object): Buffer => rhea.message.encode(m as Parameters<typeof rhea.message.encode>[0]);
const decode = (b: Buffer): Record<string, unknown> =>
  rhea.message.decode(b) as unknown as Record<string, unknown>;

function written(fn: (w: AmqpWriter) => void): Buffer {
  const w = new AmqpWriter(4);
  fn(w);
  return w.toBuffer();
}

describe("AMQP codec: values", () => {
  it("round-trips what it writes, and skips exactly over it", () => {
    const cases: Array<[(w: AmqpWriter) => void, unknown]> = [
      [(w) => w.null(), null],
      [(w) => w.boolean(true), true],
      [(w) => w.boolean(false), false],
      [(w) => w.ubyte(200), 200],
      [(w) => w.uint(0), 0],
      [(w) => w.uint(7), 7],
      [(w) => w.uint(70_000), 70_000],
      [(w) => w.ulong(0), 0],
      [(w) => w.ulong(255), 255],
      [(w) => w.ulong(2 ** 40), 2 ** 40],
      [(w) => w.int(-5), -5],
      [(w) => w.int(-100_000), -100_000],
      [(w) => w.long(-(2 ** 40)), -(2 ** 40)],
      [(w) => w.long(2n ** 62n), 2n ** 62n],
      [(w) => w.double(1.25), 1.25],
      [(w) => w.timestamp(1_700_000_000_123), new Date(1_700_000_000_123)],
      [(w) => w.string("héllo"), "héllo"],
      [(w) => w.string("x".repeat(300)), "x".repeat(300)],
      [(w) => w.binary(Buffer.from([1, 2])), Buffer.from([1, 2])],
      [(w) => w.symbol("sym"), new AmqpSymbol("sym")],
    ];
    for (const [write, expected] of cases) {
      const buf = written(write);
      const [value, end] = decodeValue(buf, 0);
      expect(value).toEqual(expected);
      expect(end).toBe(buf.length);
      expect(skipValue(buf, 0)).toBe(buf.length);
    }
  });

  it("decodes what rhea encodes: lists, maps, arrays, described values, uuids", () => {
    const T = rhea.types as unknown as {
      Writer: new () => { write(v: unknown): void; toBuffer(): Buffer };
      wrap_list(items: unknown[]): unknown;
      wrap_array(items: unknown[], code: number, descriptors: unknown): unknown;
    };
    const enc = (typed: unknown): Buffer => {
      const w = new T.Writer();
      w.write(typed);
      return w.toBuffer();
    };
    const [list] = decodeValue(enc(T.wrap_list([1, "two", { k: "v", n: 2 }, null, true])), 0);
    expect(list).toEqual([
      1,
      "two",
      new Map<unknown, unknown>([
        ["k", "v"],
        ["n", 2],
      ]),
      null,
      true,
    ]);
    const [arr] = decodeValue(
      enc(T.wrap_array([Buffer.alloc(16, 7), Buffer.alloc(16, 8)], 0x98, undefined)),
      0,
    );
    expect((arr as AmqpUuid[]).map((u) => u.toString())).toEqual([
      "07070707-0707-0707-0707-070707070707",
      "08080808-0808-0808-0808-080808080808",
    ]);
    expect(decodeValue(enc(T.wrap_array([1, 2, 3], 0x81, undefined)), 0)[0]).toEqual([1, 2, 3]);
  });

  it("rejects truncated, unknown and inconsistent input instead of reading past it", () => {
    const bad = [
      Buffer.from([]),
      Buffer.from([0xa1, 0x05, 0x61]), // string shorter than its size
      Buffer.from([0x71, 0x00]), // int with 1 of 4 bytes
      Buffer.from([0xff]), // no such type
      Buffer.from([0x00]), // described without descriptor
      Buffer.from([0xc0, 0x03, 0x02, 0x41]), // list of 2 with one element
      Buffer.from([0xc1, 0x02, 0x01, 0x41]), // map with an odd count
      Buffer.from([0xd0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1]), // 4 GiB list
      Buffer.from([0xe0, 0x02, 0x05, 0x71]), // array of 5 ints in no bytes
    ];
    for (const b of bad) {
      expect(() => decodeValue(b, 0), b.toString("hex")).toThrow(AmqpDecodeError);
    }
    let deep = Buffer.from([0x40]);
    for (let i = 0; i < 100; i++) {
      const head = Buffer.alloc(9);
      head[0] = 0xd0;
      head.writeUInt32BE(deep.length + 4, 1);
      head.writeUInt32BE(1, 5);
      deep = Buffer.concat([head, deep]);
    }
    expect(() => decodeValue(deep, 0)).toThrow(/nested too deeply/);
  });
});

describe("AMQP codec: messages", () => {
  it("splits a message into header, annotations and an untouched bare message", () => {
    const raw = encode({
      ttl: 5000,
      durable: true,
      message_annotations: { "x-opt-partition-key": "pk", "x-opt-sequence-number": 99 },
      message_id: "m1",
      group_id: "s1",
      application_properties: { a: 1 },
      body: "hello",
    });
    const p = parseMessage(raw);
    expect(p.header).toMatchObject({ ttl: 5000, durable: true });
    expect(p.annotations.map((a) => a.key)).toEqual(["x-opt-partition-key", "x-opt-sequence-number"]);
    expect(p.properties).toMatchObject({ messageId: "m1", groupId: "s1" });
    expect(raw.subarray(raw.length - p.bare.length).equals(p.bare)).toBe(true);
    expect(decode(p.bare)).toMatchObject({
      message_id: "m1",
      application_properties: { a: 1 },
      body: "hello",
    });
  });

  it("re-encodes header and annotations per delivery, dropping the sender's broker annotations", () => {
    const p = parseMessage(
      encode({ message_annotations: { "x-opt-sequence-number": 99, custom: "c" }, body: "b" }),
    );
    const m = storedFromParsed(p);
    m.seq = 42;
    m.enqueuedAt = 1_700_000_000_000;
    m.ttl = 1000;
    const out = decode(encodeForDelivery(m, 3, { lockedUntil: 1_700_000_060_000 }));
    expect(out["delivery_count"]).toBe(3);
    expect(out["ttl"]).toBe(1000);
    expect(out["message_annotations"]).toEqual({
      "x-opt-enqueued-time": new Date(1_700_000_000_000),
      "x-opt-sequence-number": 42,
      "x-opt-locked-until": new Date(1_700_000_060_000),
      custom: "c",
    });
    // A message without an id gets one.
    expect(typeof out["message_id"]).toBe("string");
    expect(out["body"]).toBe("b");
  });

  it("rewrites application properties, keeping untouched entries byte for byte", () => {
    const p = parseMessage(
      encode({ message_id: "x", application_properties: { keep: 1, change: "a", drop: true }, body: [1] }),
    );
    const bare = rewriteBare(p.bare, {
      set: new Map<string, string | number | undefined>([
        ["change", "b"],
        ["drop", undefined],
        ["added", 7],
      ]),
    });
    expect(readApplicationProperties(bare).map((e) => [e.key, e.value])).toEqual([
      ["keep", 1],
      ["change", "b"],
      ["added", 7],
    ]);
    expect(decode(bare)).toMatchObject({ message_id: "x", body: [1] });
    const added = rewriteBare(parseMessage(encode({ body: "no props" })).bare, {
      set: new Map([["k", "v"]]),
    });
    expect(decode(added)).toMatchObject({ application_properties: { k: "v" }, body: "no props" });
  });

  it("splits a batch into its inner messages", () => {
    const inner = [encode({ body: "a" }), encode({ body: "b", message_id: "2" })];
    const t = rhea.message as unknown as { data_sections(b: Buffer[]): unknown };
    const batch = encode({ body: t.data_sections(inner) });
    const parts = splitBatch(batch);
    expect(parts.map((b) => decode(b)["body"])).toEqual(["a", "b"]);
  });

  it("rejects messages without a body or with unknown sections", () => {
    expect(() => parseMessage(encode({ message_id: "only" }).subarray(0, 5))).toThrow(AmqpDecodeError);
    expect(() => parseMessage(Buffer.from([0x00, 0x53, 0x73, 0x45]))).toThrow(/no body/);
    expect(() => parseMessage(Buffer.from([0x00, 0x53, 0x20, 0x45]))).toThrow(/unknown AMQP message section/);
    expect(() => parseMessage(Buffer.from("not amqp"))).toThrow(AmqpDecodeError);
  });
});

describe("lock tokens and ticks", () => {
  it("converts between uuid text, RFC bytes and .NET Guid byte order", () => {
    const text = "00112233-4455-6677-8899-aabbccddeeff";
    const rfc = uuidToBytes(text);
    expect(uuidToString(rfc)).toBe(text);
    expect(dotnetGuidBytes(rfc).toString("hex")).toBe("33221100554477668899aabbccddeeff");
    expect(() => uuidToBytes("nope")).toThrow();
  });

  it("computes .NET ticks", () => {
    expect(toDotnetTicks(0)).toBe(621_355_968_000_000_000n);
    expect(toDotnetTicks(1)).toBe(621_355_968_000_010_000n);
  });
});
