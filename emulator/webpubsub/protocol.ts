/**
 * Web PubSub client protocols on top of WebSocket frames: parsing what clients send on the JSON
 * subprotocols, and serializing what the service sends. A message for fan-out is an
 * `OutboundMessage`: it is serialized once per subprotocol kind on first use and the same
 * buffers are written to every connection of that kind; reliable connections, whose frames
 * differ only in the sequence id, share one pre-encoded prefix.
 */
import { OP_BINARY, OP_TEXT, encodeFrame, headerSize, writeHeader } from "./websocket.js";

export const JSON_SUBPROTOCOL = "json.webpubsub.azure.v1";
export const RELIABLE_SUBPROTOCOL = "json.reliable.webpubsub.azure.v1";

/** How a connection speaks: no subprotocol, JSON, or reliable JSON. */
export type Kind = typeof PLAIN | typeof JSON_KIND | typeof RELIABLE;
export const PLAIN = 0;
export const JSON_KIND = 1;
export const RELIABLE = 2;

export type DataType = "json" | "text" | "binary";

/** Picks the subprotocol to echo from the client's offer; `undefined` for a plain WebSocket. */
export function selectSubprotocol(offered: readonly string[]): { kind: Kind; name?: string } | undefined {
  if (offered.length === 0) return { kind: PLAIN };
  for (const p of offered) {
    const lower = p.toLowerCase();
    if (lower === RELIABLE_SUBPROTOCOL) return { kind: RELIABLE, name: p };
    if (lower === JSON_SUBPROTOCOL) return { kind: JSON_KIND, name: p };
  }
  // Offered only protocols we do not speak (e.g. protobuf): the service rejects the handshake.
  return undefined;
}

const SEQ_SUFFIX = 0x7d; // "}"

/**
 * One message to deliver, shared by every receiver. `group` is set for group messages;
 * `fromUserId` for messages a client sent to a group.
 */
export class OutboundMessage {
  private plain: Buffer | undefined;
  private json: Buffer | undefined;
  private prefix: Buffer | undefined;

  constructor(
    readonly dataType: DataType,
    /** JSON text, UTF-8 text or raw bytes, by `dataType`. */
    readonly data: Buffer,
    readonly group: string | null = null,
    readonly fromUserId: string | null = null,
  ) {}

  /** Frame for a plain WebSocket: the bare payload, binary data as a binary frame. */
  plainFrame(): Buffer {
    return (this.plain ??= encodeFrame(this.dataType === "binary" ? OP_BINARY : OP_TEXT, this.data));
  }

  /** Frame for `json.webpubsub.azure.v1`. */
  jsonFrame(): Buffer {
    if (this.json === undefined) {
      const body = this.envelope();
      const payload = Buffer.allocUnsafe(body.length + 1);
      body.copy(payload);
      payload[body.length] = SEQ_SUFFIX;
      this.json = encodeFrame(OP_TEXT, payload);
    }
    return this.json;
  }

  /** Payload of a reliable frame up to the sequence id: `{…,"sequenceId":`. */
  reliablePrefix(): Buffer {
    return (this.prefix ??= Buffer.concat([this.envelope(), SEQUENCE_ID]));
  }

  /** Bytes a reliable connection holds for this message until it is acknowledged. */
  get retainedBytes(): number {
    return this.reliablePrefix().length + 24;
  }

  /** The envelope without its closing brace. */
  private envelope(): Buffer {
    let head = this.group === null ? '{"type":"message","from":"server"' : '{"type":"message","from":"group"';
    if (this.group !== null) {
      head += `,"group":${JSON.stringify(this.group)}`;
      if (this.fromUserId !== null) head += `,"fromUserId":${JSON.stringify(this.fromUserId)}`;
    }
    head += `,"dataType":"${this.dataType}","data":`;
    let data: Buffer;
    if (this.dataType === "json") data = this.data;
    else if (this.dataType === "text") data = Buffer.from(JSON.stringify(this.data.toString("utf8")));
    else data = Buffer.from(`"${this.data.toString("base64")}"`);
    return Buffer.concat([Buffer.from(head), data]);
  }
}

const SEQUENCE_ID = Buffer.from(',"sequenceId":');

/** Size of the reliable frame for `message` with sequence id `seq`. */
export function reliableFrameSize(message: OutboundMessage, seq: number): number {
  const length = message.reliablePrefix().length + digits(seq) + 1;
  return headerSize(length) + length;
}

/** Writes the reliable frame for `message` with sequence id `seq` into `target`; returns the end offset. */
export function writeReliableFrame(
  target: Buffer,
  offset: number,
  message: OutboundMessage,
  seq: number,
): number {
  const prefix = message.reliablePrefix();
  const n = digits(seq);
  let at = writeHeader(target, offset, OP_TEXT, prefix.length + n + 1);
  at += prefix.copy(target, at);
  // Digits written in place: no string per frame.
  let v = seq;
  for (let i = at + n - 1; i >= at; i--) {
    target[i] = 0x30 + (v % 10);
    v = Math.floor(v / 10);
  }
  at += n;
  target[at] = SEQ_SUFFIX;
  return at + 1;
}

function digits(n: number): number {
  return n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : String(n).length;
}

/** A JSON text frame for a control message (connected, disconnected, ack, pong). */
export function controlFrame(message: object): Buffer {
  return encodeFrame(OP_TEXT, Buffer.from(JSON.stringify(message)));
}

export function connectedFrame(
  connectionId: string,
  userId: string | null,
  reconnectionToken?: string,
): Buffer {
  return controlFrame(
    reconnectionToken === undefined
      ? { type: "system", event: "connected", userId, connectionId }
      : { type: "system", event: "connected", userId, connectionId, reconnectionToken },
  );
}

export function disconnectedFrame(message: string): Buffer {
  return controlFrame({ type: "system", event: "disconnected", message });
}

export type AckErrorName = "Forbidden" | "InternalServerError" | "Duplicate" | "BadRequest";

export function ackFrame(ackId: number, error?: { name: AckErrorName; message: string }): Buffer {
  return controlFrame(
    error === undefined
      ? { type: "ack", ackId, success: true }
      : { type: "ack", ackId, success: false, error },
  );
}

export const PONG_FRAME = controlFrame({ type: "pong" });

/** What a client may send on the JSON subprotocols. */
export type ClientMessage =
  | { type: "joinGroup" | "leaveGroup"; group: string; ackId: number | undefined }
  | {
      type: "sendToGroup";
      group: string;
      ackId: number | undefined;
      noEcho: boolean;
      dataType: DataType;
      data: Buffer;
    }
  | { type: "event"; event: string; ackId: number | undefined; dataType: DataType; data: Buffer }
  | { type: "sequenceAck"; sequenceId: number }
  | { type: "ping" };

export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
}

/**
 * Parses one text frame from a JSON-subprotocol client. Throws `ProtocolError` for anything
 * that is not a valid message (the connection is then closed with 1007, as the service does).
 */
export function parseClientMessage(text: string): ClientMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError("The message is not valid JSON.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new ProtocolError("A Web PubSub message must be a JSON object.");
  const m = value as Record<string, unknown>;
  const type = m.type;
  if (typeof type !== "string") throw new ProtocolError("Missing or invalid property 'type'.");
  switch (type) {
    case "joinGroup":
    case "leaveGroup":
      return { type, group: requiredString(m, "group"), ackId: optionalAckId(m) };
    case "sendToGroup": {
      const { dataType, data } = readData(m);
      let noEcho = false;
      if (m.noEcho !== undefined && m.noEcho !== null) {
        if (typeof m.noEcho !== "boolean") throw new ProtocolError("Invalid property 'noEcho'.");
        noEcho = m.noEcho;
      }
      return { type, group: requiredString(m, "group"), ackId: optionalAckId(m), noEcho, dataType, data };
    }
    case "event": {
      const event = requiredString(m, "event");
      if (event === "") throw new ProtocolError("Property 'event' must not be empty.");
      const { dataType, data } = readData(m);
      return { type, event, ackId: optionalAckId(m), dataType, data };
    }
    case "sequenceAck": {
      const id = m.sequenceId;
      if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0)
        throw new ProtocolError("Missing or invalid property 'sequenceId'.");
      return { type, sequenceId: id };
    }
    case "ping":
      return { type };
    default:
      throw new ProtocolError(`Unsupported Web PubSub message type '${type.slice(0, 64)}'.`);
  }
}

function requiredString(m: Record<string, unknown>, name: string): string {
  const v = m[name];
  if (typeof v !== "string") throw new ProtocolError(`Missing or invalid property '${name}'.`);
  return v;
}

function optionalAckId(m: Record<string, unknown>): number | undefined {
  const v = m.ackId;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
    throw new ProtocolError("Invalid property 'ackId'.");
  return v;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function readData(m: Record<string, unknown>): { dataType: DataType; data: Buffer } {
  if (!("data" in m)) throw new ProtocolError("Missing required property 'data'.");
  const raw = m.dataType ?? "json";
  if (typeof raw !== "string") throw new ProtocolError("Invalid property 'dataType'.");
  const dataType = raw.toLowerCase();
  const data = m.data;
  if (dataType === "json") return { dataType, data: Buffer.from(JSON.stringify(data)) };
  if (dataType === "text") {
    if (typeof data !== "string")
      throw new ProtocolError("Property 'data' must be a string for dataType 'text'.");
    return { dataType, data: Buffer.from(data, "utf8") };
  }
  if (dataType === "binary") {
    if (typeof data !== "string" || data.length % 4 !== 0 || !BASE64.test(data))
      throw new ProtocolError("Property 'data' must be base64 for dataType 'binary'.");
    return { dataType, data: Buffer.from(data, "base64") };
  }
  throw new ProtocolError(`Invalid dataType '${raw.slice(0, 32)}'.`);
}

/** Group names: 1 to 1024 characters, not only white space (the REST API's rule). */
export function validGroupName(group: string): boolean {
  return group.length > 0 && group.length <= 1024 && group.trim() !== "";
}
