/**
 * A small AMQP 1.0 type codec: just what the broker needs to keep messages as compact encoded
 * bytes (scan sections, read the few fields it routes on, re-emit header and annotations per
 * delivery) without decoding whole messages into object graphs. Every read is bounds-checked:
 * malformed input throws `AmqpDecodeError`, never reads past the buffer.
 */

export class AmqpDecodeError extends Error {
  override readonly name = "AmqpDecodeError";
}

/** An AMQP symbol (kept apart from strings only where the distinction matters on the wire). */
export class AmqpSymbol {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** A 16-byte AMQP uuid. */
export class AmqpUuid {
  constructor(readonly bytes: Buffer) {}
  toString(): string {
    return uuidToString(this.bytes);
  }
}

export class AmqpDescribed {
  constructor(
    readonly descriptor: AmqpValue,
    readonly value: AmqpValue,
  ) {}
}

export type AmqpValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Buffer
  | Date
  | AmqpSymbol
  | AmqpUuid
  | AmqpDescribed
  | AmqpValue[]
  | Map<AmqpValue, AmqpValue>;

// Section descriptors (amqp:header:list etc.).
export const SECTION = {
  header: 0x70,
  deliveryAnnotations: 0x71,
  messageAnnotations: 0x72,
  properties: 0x73,
  applicationProperties: 0x74,
  data: 0x75,
  sequence: 0x76,
  value: 0x77,
  footer: 0x78,
} as const;

/** The message_format of a Service Bus batch: one data section per encoded inner message. */
export const BATCH_FORMAT = 0x80013700;

function need(buf: Buffer, end: number): void {
  if (end > buf.length) throw new AmqpDecodeError(`truncated AMQP value (need ${end}, have ${buf.length})`);
}

/** Returns the offset just past the value (including any descriptor) starting at `off`. */
export function skipValue(buf: Buffer, off: number, depth = 0): number {
  if (depth > 64) throw new AmqpDecodeError("AMQP value nested too deeply");
  need(buf, off + 1);
  const code = buf[off]!;
  if (code === 0x00) {
    const afterDescriptor = skipValue(buf, off + 1, depth + 1);
    return skipValue(buf, afterDescriptor, depth + 1);
  }
  return skipConstructed(buf, off + 1, code);
}

/** Skips the data that follows a (non-described) constructor byte. */
function skipConstructed(buf: Buffer, off: number, code: number): number {
  let end: number;
  switch (code >> 4) {
    case 0x4:
      return off;
    case 0x5:
      end = off + 1;
      break;
    case 0x6:
      end = off + 2;
      break;
    case 0x7:
      end = off + 4;
      break;
    case 0x8:
      end = off + 8;
      break;
    case 0x9:
      end = off + 16;
      break;
    case 0xa:
    case 0xc:
    case 0xe:
      need(buf, off + 1);
      end = off + 1 + buf[off]!;
      break;
    case 0xb:
    case 0xd:
    case 0xf:
      need(buf, off + 4);
      end = off + 4 + buf.readUInt32BE(off);
      break;
    default:
      throw new AmqpDecodeError(`invalid AMQP type code 0x${code.toString(16)}`);
  }
  if (!KNOWN_CODES.has(code)) throw new AmqpDecodeError(`invalid AMQP type code 0x${code.toString(16)}`);
  need(buf, end);
  return end;
}

const KNOWN_CODES = new Set([
  0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x60, 0x61, 0x70, 0x71, 0x72,
  0x73, 0x74, 0x80, 0x81, 0x82, 0x83, 0x84, 0x94, 0x98, 0xa0, 0xa1, 0xa3, 0xb0, 0xb1, 0xb3, 0xc0, 0xc1, 0xd0,
  0xd1, 0xe0, 0xf0,
]);

const TWO_POW_32 = 0x1_0000_0000;

function readInt64(buf: Buffer, off: number): number | bigint {
  const hi = buf.readInt32BE(off);
  const lo = buf.readUInt32BE(off + 4);
  if (hi < 0x20_0000 && hi >= -0x20_0000) return hi * TWO_POW_32 + lo;
  return buf.readBigInt64BE(off);
}

function readUint64(buf: Buffer, off: number): number | bigint {
  const hi = buf.readUInt32BE(off);
  const lo = buf.readUInt32BE(off + 4);
  if (hi < 0x20_0000) return hi * TWO_POW_32 + lo;
  return buf.readBigUInt64BE(off);
}

/** Decodes one value at `off`; returns it and the offset past it. */
export function decodeValue(buf: Buffer, off: number, depth = 0): [AmqpValue, number] {
  if (depth > 64) throw new AmqpDecodeError("AMQP value nested too deeply");
  need(buf, off + 1);
  const code = buf[off]!;
  if (code === 0x00) {
    const [descriptor, afterDescriptor] = decodeValue(buf, off + 1, depth + 1);
    const [value, end] = decodeValue(buf, afterDescriptor, depth + 1);
    return [new AmqpDescribed(descriptor, value), end];
  }
  const end = skipConstructed(buf, off + 1, code);
  return [decodeBody(buf, off + 1, end, code, depth), end];
}

function decodeBody(buf: Buffer, p: number, end: number, code: number, depth: number): AmqpValue {
  switch (code) {
    case 0x40:
      return null;
    case 0x41:
      return true;
    case 0x42:
      return false;
    case 0x56:
      return buf[p] !== 0;
    case 0x43:
    case 0x44:
      return 0;
    case 0x45:
      return [];
    case 0x50:
    case 0x52:
    case 0x53:
      return buf[p]!;
    case 0x51:
    case 0x54:
    case 0x55:
      return buf.readInt8(p);
    case 0x60:
      return buf.readUInt16BE(p);
    case 0x61:
      return buf.readInt16BE(p);
    case 0x70:
      return buf.readUInt32BE(p);
    case 0x71:
      return buf.readInt32BE(p);
    case 0x72:
      return buf.readFloatBE(p);
    case 0x73:
      return String.fromCodePoint(Math.min(buf.readUInt32BE(p), 0x10ffff));
    case 0x80:
      return readUint64(buf, p);
    case 0x81:
      return readInt64(buf, p);
    case 0x82:
      return buf.readDoubleBE(p);
    case 0x83: {
      const ms = readInt64(buf, p);
      return new Date(typeof ms === "bigint" ? Number(ms) : ms);
    }
    case 0x74:
    case 0x84:
    case 0x94:
      return Buffer.from(buf.subarray(p, end));
    case 0x98:
      return new AmqpUuid(Buffer.from(buf.subarray(p, end)));
    case 0xa0:
      return Buffer.from(buf.subarray(p + 1, end));
    case 0xb0:
      return Buffer.from(buf.subarray(p + 4, end));
    case 0xa1:
      return buf.toString("utf8", p + 1, end);
    case 0xb1:
      return buf.toString("utf8", p + 4, end);
    case 0xa3:
      return new AmqpSymbol(buf.toString("latin1", p + 1, end));
    case 0xb3:
      return new AmqpSymbol(buf.toString("latin1", p + 4, end));
    case 0xc0:
    case 0xd0:
    case 0xc1:
    case 0xd1: {
      const wide = code >= 0xd0;
      need(buf, p + (wide ? 8 : 2));
      const count = wide ? buf.readUInt32BE(p + 4) : buf[p + 1]!;
      let q = p + (wide ? 8 : 2);
      const isMap = (code & 0x0f) === 1;
      if (isMap && count % 2 !== 0) throw new AmqpDecodeError("AMQP map with an odd element count");
      const items: AmqpValue[] = [];
      const sub = buf.subarray(0, end);
      for (let i = 0; i < count; i++) {
        if (q >= end) throw new AmqpDecodeError("AMQP compound shorter than its count");
        const [v, next] = decodeValue(sub, q, depth + 1);
        items.push(v);
        q = next;
      }
      if (!isMap) return items;
      const map = new Map<AmqpValue, AmqpValue>();
      for (let i = 0; i < items.length; i += 2) map.set(mapKey(items[i]!), items[i + 1]!);
      return map;
    }
    case 0xe0:
    case 0xf0: {
      const wide = code === 0xf0;
      need(buf, p + (wide ? 9 : 3));
      const count = wide ? buf.readUInt32BE(p + 4) : buf[p + 1]!;
      let q = p + (wide ? 8 : 2);
      let descriptor: AmqpValue | undefined;
      if (buf[q] === 0x00) {
        const [d, next] = decodeValue(buf.subarray(0, end), q + 1, depth + 1);
        descriptor = d;
        q = next;
      }
      need(buf, q + 1);
      const elementCode = buf[q]!;
      q++;
      const items: AmqpValue[] = [];
      const sub = buf.subarray(0, end);
      for (let i = 0; i < count; i++) {
        if (q > end || (q === end && elementCode >> 4 !== 0x4))
          throw new AmqpDecodeError("AMQP array shorter than its count");
        const next = skipConstructed(sub, q, elementCode);
        const v = decodeBody(sub, q, next, elementCode, depth + 1);
        items.push(descriptor === undefined ? v : new AmqpDescribed(descriptor, v));
        q = next;
      }
      return items;
    }
    default:
      throw new AmqpDecodeError(`invalid AMQP type code 0x${code.toString(16)}`);
  }
}

/** Map keys are compared by value: symbols and strings become plain strings. */
function mapKey(key: AmqpValue): AmqpValue {
  if (key instanceof AmqpSymbol) return key.value;
  return key;
}

/** Reads a section descriptor at `off`; returns the section code (or -1 if not a known one) and where its value starts. */
export function readSectionDescriptor(buf: Buffer, off: number): [number, number] {
  need(buf, off + 2);
  if (buf[off] !== 0x00) throw new AmqpDecodeError("expected a described AMQP section");
  const [descriptor, valueStart] = decodeValue(buf, off + 1, 1);
  let code = -1;
  if (typeof descriptor === "number") code = descriptor;
  else if (typeof descriptor === "bigint") code = -1;
  else if (descriptor instanceof AmqpSymbol) code = SECTION_BY_NAME[descriptor.value] ?? -1;
  return [code, valueStart];
}

const SECTION_BY_NAME: Record<string, number> = {
  "amqp:header:list": SECTION.header,
  "amqp:delivery-annotations:map": SECTION.deliveryAnnotations,
  "amqp:message-annotations:map": SECTION.messageAnnotations,
  "amqp:properties:list": SECTION.properties,
  "amqp:application-properties:map": SECTION.applicationProperties,
  "amqp:data:binary": SECTION.data,
  "amqp:amqp-sequence:list": SECTION.sequence,
  "amqp:amqp-value:*": SECTION.value,
  "amqp:footer:map": SECTION.footer,
};

export interface MessageHeader {
  durable?: boolean;
  priority?: number;
  ttl?: number;
  firstAcquirer?: boolean;
  deliveryCount?: number;
}

export interface MessageProperties {
  messageId?: AmqpValue;
  userId?: Buffer;
  to?: string;
  subject?: string;
  replyTo?: string;
  correlationId?: AmqpValue;
  contentType?: string;
  contentEncoding?: string;
  absoluteExpiryTime?: Date;
  creationTime?: Date;
  groupId?: string;
  groupSequence?: number;
  replyToGroupId?: string;
}

/** One annotation entry, kept encoded so it is re-emitted exactly as the sender wrote it. */
export interface RawEntry {
  key: string;
  /** The encoded key followed by the encoded value. */
  bytes: Buffer;
  value: AmqpValue;
}

/** A message split into what the broker rewrites (header, annotations) and what it keeps verbatim. */
export interface ParsedMessage {
  header: MessageHeader | undefined;
  annotations: RawEntry[];
  /** Properties, application properties, body and footer, exactly as received. */
  bare: Buffer;
  properties: MessageProperties;
}

function asString(v: AmqpValue | undefined): string | undefined {
  if (typeof v === "string") return v;
  if (v instanceof AmqpSymbol) return v.value;
  return undefined;
}

function asNumber(v: AmqpValue | undefined): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return undefined;
}

function listAt(buf: Buffer, off: number): [AmqpValue[], number] {
  const [v, end] = decodeValue(buf, off, 1);
  if (!Array.isArray(v)) throw new AmqpDecodeError("expected an AMQP list");
  return [v, end];
}

export function decodeHeader(buf: Buffer, off: number): [MessageHeader, number] {
  const [f, end] = listAt(buf, off);
  const h: MessageHeader = {};
  if (typeof f[0] === "boolean") h.durable = f[0];
  const priority = asNumber(f[1]);
  if (priority !== undefined) h.priority = priority;
  const ttl = asNumber(f[2]);
  if (ttl !== undefined) h.ttl = ttl;
  if (typeof f[3] === "boolean") h.firstAcquirer = f[3];
  const dc = asNumber(f[4]);
  if (dc !== undefined) h.deliveryCount = dc;
  return [h, end];
}

export function decodeProperties(buf: Buffer, off: number): [MessageProperties, number] {
  const [f, end] = listAt(buf, off);
  const p: MessageProperties = {};
  if (f[0] !== undefined && f[0] !== null) p.messageId = f[0];
  if (Buffer.isBuffer(f[1])) p.userId = f[1];
  const to = asString(f[2]);
  if (to !== undefined) p.to = to;
  const subject = asString(f[3]);
  if (subject !== undefined) p.subject = subject;
  const replyTo = asString(f[4]);
  if (replyTo !== undefined) p.replyTo = replyTo;
  if (f[5] !== undefined && f[5] !== null) p.correlationId = f[5];
  const ct = asString(f[6]);
  if (ct !== undefined) p.contentType = ct;
  const ce = asString(f[7]);
  if (ce !== undefined) p.contentEncoding = ce;
  if (f[8] instanceof Date) p.absoluteExpiryTime = f[8];
  if (f[9] instanceof Date) p.creationTime = f[9];
  const gid = asString(f[10]);
  if (gid !== undefined) p.groupId = gid;
  const gseq = asNumber(f[11]);
  if (gseq !== undefined) p.groupSequence = gseq;
  const rtg = asString(f[12]);
  if (rtg !== undefined) p.replyToGroupId = rtg;
  return [p, end];
}

/** Iterates a map's entries, keeping each entry's encoded bytes. */
export function readRawMap(buf: Buffer, off: number): [RawEntry[], number] {
  need(buf, off + 1);
  const code = buf[off]!;
  if (code === 0x40) return [[], off + 1];
  if (code !== 0xc1 && code !== 0xd1) throw new AmqpDecodeError("expected an AMQP map");
  const end = skipConstructed(buf, off + 1, code);
  const wide = code === 0xd1;
  const count = wide ? buf.readUInt32BE(off + 5) : buf[off + 2]!;
  if (count % 2 !== 0) throw new AmqpDecodeError("AMQP map with an odd element count");
  let q = off + (wide ? 9 : 3);
  const sub = buf.subarray(0, end);
  const entries: RawEntry[] = [];
  for (let i = 0; i < count; i += 2) {
    const start = q;
    const [key, afterKey] = decodeValue(sub, q, 1);
    const [value, afterValue] = decodeValue(sub, afterKey, 1);
    const k = key instanceof AmqpSymbol ? key.value : typeof key === "string" ? key : String(key);
    entries.push({ key: k, bytes: Buffer.from(sub.subarray(start, afterValue)), value });
    q = afterValue;
  }
  if (q !== end) throw new AmqpDecodeError("AMQP map longer than its count");
  return [entries, end];
}

/**
 * Splits an encoded message (one transfer's payload) into header, message annotations and the
 * bare message. Delivery annotations are dropped (they are hop-by-hop).
 */
export function parseMessage(buf: Buffer): ParsedMessage {
  let off = 0;
  let header: MessageHeader | undefined;
  let annotations: RawEntry[] = [];
  let properties: MessageProperties = {};
  let bareStart = -1;
  let sawBody = false;
  while (off < buf.length) {
    const sectionStart = off;
    const [code, valueStart] = readSectionDescriptor(buf, off);
    switch (code) {
      case SECTION.header: {
        const [h, end] = decodeHeader(buf, valueStart);
        header = h;
        off = end;
        break;
      }
      case SECTION.deliveryAnnotations:
        off = skipValue(buf, valueStart);
        break;
      case SECTION.messageAnnotations: {
        const [entries, end] = readRawMap(buf, valueStart);
        annotations = entries;
        off = end;
        break;
      }
      case SECTION.properties: {
        if (bareStart < 0) bareStart = sectionStart;
        const [p, end] = decodeProperties(buf, valueStart);
        properties = p;
        off = end;
        break;
      }
      case SECTION.applicationProperties:
      case SECTION.data:
      case SECTION.sequence:
      case SECTION.value:
      case SECTION.footer:
        if (bareStart < 0) bareStart = sectionStart;
        if (code !== SECTION.applicationProperties && code !== SECTION.footer) sawBody = true;
        off = skipValue(buf, valueStart);
        break;
      default:
        throw new AmqpDecodeError(`unknown AMQP message section at offset ${sectionStart}`);
    }
  }
  if (!sawBody) throw new AmqpDecodeError("AMQP message has no body section");
  return { header, annotations, bare: Buffer.from(buf.subarray(bareStart)), properties };
}

/** The inner messages of a batch (format 0x80013700): the payload of each data section. */
export function splitBatch(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    const [code, valueStart] = readSectionDescriptor(buf, off);
    const end = skipValue(buf, valueStart);
    if (code === SECTION.data) {
      const c = buf[valueStart]!;
      const dataStart = valueStart + (c === 0xa0 ? 2 : 5);
      out.push(buf.subarray(dataStart, end));
    }
    off = end;
  }
  return out;
}

/** Finds the application-properties section in a bare message: [start, end) or undefined. */
export function findApplicationProperties(bare: Buffer): [number, number] | undefined {
  let off = 0;
  while (off < bare.length) {
    const start = off;
    const [code, valueStart] = readSectionDescriptor(bare, off);
    const end = skipValue(bare, valueStart);
    if (code === SECTION.applicationProperties) return [start, end];
    if (code !== SECTION.properties) return undefined;
    off = end;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** A growable byte writer for AMQP values. */
export class AmqpWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  get length(): number {
    return this.pos;
  }

  /** A copy of what was written. */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  /** What was written followed by `tail`, in one new buffer. */
  toBufferWith(tail: Buffer): Buffer {
    const out = Buffer.allocUnsafe(this.pos + tail.length);
    this.buf.copy(out, 0, 0, this.pos);
    tail.copy(out, this.pos);
    return out;
  }

  /** Starts over, keeping the allocated buffer (for a writer reused on a hot path). */
  reset(): this {
    this.pos = 0;
    return this;
  }

  /** Opens a list32/map32 (`code` 0xd0/0xd1); close it with `end()` and its element count. */
  begin(code: 0xd0 | 0xd1): number {
    this.ensure(9);
    const start = this.pos;
    this.buf[start] = code;
    this.pos += 9;
    return start;
  }

  end(start: number, count: number): this {
    this.buf.writeUInt32BE(this.pos - start - 5, start + 1);
    this.buf.writeUInt32BE(count, start + 5);
    return this;
  }

  /** A section descriptor: 0x00 smallulong `code`. */
  descriptor(code: number): this {
    this.ensure(3);
    this.buf[this.pos] = 0x00;
    this.buf[this.pos + 1] = 0x53;
    this.buf[this.pos + 2] = code;
    this.pos += 3;
    return this;
  }

  byte(b: number): this {
    this.ensure(1);
    this.buf[this.pos++] = b;
    return this;
  }

  raw(bytes: Buffer): this {
    this.ensure(bytes.length);
    bytes.copy(this.buf, this.pos);
    this.pos += bytes.length;
    return this;
  }

  null(): this {
    return this.byte(0x40);
  }

  boolean(v: boolean): this {
    return this.byte(v ? 0x41 : 0x42);
  }

  ubyte(v: number): this {
    return this.byte(0x50).byte(v & 0xff);
  }

  uint(v: number): this {
    if (v === 0) return this.byte(0x43);
    if (v < 256) return this.byte(0x52).byte(v);
    this.ensure(5);
    this.buf[this.pos] = 0x70;
    this.buf.writeUInt32BE(v >>> 0, this.pos + 1);
    this.pos += 5;
    return this;
  }

  ulong(v: number | bigint): this {
    if (v === 0 || v === 0n) return this.byte(0x44);
    if (typeof v === "number" && v < 256) return this.byte(0x53).byte(v);
    this.ensure(9);
    this.buf[this.pos] = 0x80;
    this.buf.writeBigUInt64BE(BigInt(v), this.pos + 1);
    this.pos += 9;
    return this;
  }

  int(v: number): this {
    if (v >= -128 && v <= 127) {
      this.ensure(2);
      this.buf[this.pos] = 0x54;
      this.buf.writeInt8(v, this.pos + 1);
      this.pos += 2;
      return this;
    }
    this.ensure(5);
    this.buf[this.pos] = 0x71;
    this.buf.writeInt32BE(v, this.pos + 1);
    this.pos += 5;
    return this;
  }

  /** Always the 8-byte form: Service Bus clients read some longs (ticks) as raw 8-byte values. */
  long(v: number | bigint): this {
    this.ensure(9);
    this.buf[this.pos] = 0x81;
    this.buf.writeBigInt64BE(BigInt(v), this.pos + 1);
    this.pos += 9;
    return this;
  }

  double(v: number): this {
    this.ensure(9);
    this.buf[this.pos] = 0x82;
    this.buf.writeDoubleBE(v, this.pos + 1);
    this.pos += 9;
    return this;
  }

  timestamp(ms: number): this {
    this.ensure(9);
    this.buf[this.pos] = 0x83;
    this.buf.writeBigInt64BE(BigInt(Math.trunc(ms)), this.pos + 1);
    this.pos += 9;
    return this;
  }

  uuid(bytes: Buffer): this {
    this.byte(0x98);
    return this.raw(bytes.subarray(0, 16));
  }

  private variable(small: number, large: number, bytes: Buffer): this {
    if (bytes.length < 256) {
      this.ensure(2 + bytes.length);
      this.buf[this.pos] = small;
      this.buf[this.pos + 1] = bytes.length;
      this.pos += 2;
    } else {
      this.ensure(5 + bytes.length);
      this.buf[this.pos] = large;
      this.buf.writeUInt32BE(bytes.length, this.pos + 1);
      this.pos += 5;
    }
    bytes.copy(this.buf, this.pos);
    this.pos += bytes.length;
    return this;
  }

  binary(bytes: Buffer): this {
    return this.variable(0xa0, 0xb0, bytes);
  }

  string(s: string): this {
    return this.variable(0xa1, 0xb1, Buffer.from(s, "utf8"));
  }

  symbol(s: string): this {
    return this.variable(0xa3, 0xb3, Buffer.from(s, "latin1"));
  }

  /** Writes a compound (list or map) whose elements are written by `body`; sizes are patched after. */
  private compound(code32: number, body: () => number): this {
    this.ensure(9);
    const start = this.pos;
    this.buf[start] = code32;
    this.pos += 9;
    const count = body();
    const size = this.pos - start - 5;
    this.buf.writeUInt32BE(size, start + 1);
    this.buf.writeUInt32BE(count, start + 5);
    return this;
  }

  /** A list whose elements `body` writes; `body` returns the element count. */
  list(body: (w: this) => number): this {
    return this.compound(0xd0, () => body(this));
  }

  /** A map whose keys and values `body` writes; `body` returns the number of entries. */
  map(body: (w: this) => number): this {
    return this.compound(0xd1, () => body(this) * 2);
  }

  described(code: number, body: (w: this) => void): this {
    this.byte(0x00).ulong(code);
    body(this);
    return this;
  }

  /** Encodes a plain JS value the way application properties carry it. */
  value(v: AmqpValue | undefined): this {
    if (v === undefined || v === null) return this.null();
    if (typeof v === "boolean") return this.boolean(v);
    if (typeof v === "string") return this.string(v);
    if (typeof v === "bigint") return this.long(v);
    if (typeof v === "number") {
      if (Number.isInteger(v)) {
        if (v >= -0x8000_0000 && v <= 0x7fff_ffff) return this.int(v);
        if (Number.isSafeInteger(v)) return this.long(v);
      }
      return this.double(v);
    }
    if (v instanceof Date) return this.timestamp(v.getTime());
    if (Buffer.isBuffer(v)) return this.binary(v);
    if (v instanceof AmqpSymbol) return this.symbol(v.value);
    if (v instanceof AmqpUuid) return this.uuid(v.bytes);
    if (v instanceof AmqpDescribed) {
      this.byte(0x00).value(v.descriptor);
      return this.value(v.value);
    }
    if (Array.isArray(v)) {
      return this.list((w) => {
        for (const item of v) w.value(item);
        return v.length;
      });
    }
    return this.map((w) => {
      for (const [k, item] of v) w.value(k).value(item);
      return v.size;
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Uuids and lock tokens

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** RFC 4122 text form of 16 bytes in network order. */
export function uuidToString(b: Buffer): string {
  let s = "";
  for (let i = 0; i < 16; i++) {
    s += HEX[b[i] ?? 0];
    if (i === 3 || i === 5 || i === 7 || i === 9) s += "-";
  }
  return s;
}

export function uuidToBytes(s: string): Buffer {
  const hex = s.replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new AmqpDecodeError(`not a uuid: ${s}`);
  return Buffer.from(hex, "hex");
}

/** The byte order .NET's Guid.ToByteArray uses (first three groups little-endian). */
export function dotnetGuidBytes(rfc: Buffer): Buffer {
  return Buffer.from([
    rfc[3]!,
    rfc[2]!,
    rfc[1]!,
    rfc[0]!,
    rfc[5]!,
    rfc[4]!,
    rfc[7]!,
    rfc[6]!,
    ...rfc.subarray(8, 16),
  ]);
}

/** .NET ticks (100 ns since 0001-01-01) for a JS time, as Service Bus sends `locked-until-utc`. */
export function toDotnetTicks(ms: number): bigint {
  return BigInt(Math.trunc(ms)) * 10_000n + 621_355_968_000_000_000n;
}
