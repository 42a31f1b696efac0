/**
 * The composite cursor: for each stream a client reads, the offset of the last frame it has. The SSE
 * `id:` field, `Last-Event-ID`, the long-poll `cursor` parameter and the gap-fill API all carry it, so a
 * client can switch transports without losing or repeating a notification. Pure TypeScript: no Node, DOM
 * or Azure (only the `TextEncoder`/`TextDecoder` globals every runtime has).
 *
 * Wire form: one segment per stream, joined by `.`; a segment is a kind letter (`u` user, `g` group,
 * `b` broadcast), the stream's name in base64url (none for broadcast), `~`, and the offset in decimal:
 *
 * @example
 * encodeCursor(new Map([["user:alice", 12], ["broadcast", 40]])) // "uYWxpY2U~12.b~40"
 *
 * Only `[A-Za-z0-9_.~-]` appear, so the text is safe in an SSE `id:` line (no CR, LF or NUL), in a header
 * and in a query parameter without escaping. Segments are independent, so a server can keep each
 * stream's segment and build a connection's cursor by joining them.
 */
import { HeraldError } from "./errors.js";
import { parseStreamId } from "./streams.js";

/** Stream id -> offset of the last frame the client holds in that stream (0: none yet). */
export type Cursor = ReadonlyMap<string, number>;

/** Most streams one cursor may name (a user stream, broadcast, and up to 254 groups). */
export const MAX_CURSOR_STREAMS = 256;
/** Longest cursor text accepted: it must fit in a header and a URL beside everything else. */
export const MAX_CURSOR_LENGTH = 8192;

/**
 * Frames a client asked for that the store no longer has. Sent instead of a silent gap: frames
 * `after + 1 .. resumeAfter` of `stream` are lost (`retention`), or the store no longer knows the offsets
 * the client saw and numbering starts again (`reset`, a restarted memory store). Frames continue with
 * `resumeAfter + 1`.
 */
export interface NotRecovered {
  stream: string;
  /** The offset the client's cursor held. */
  after: number;
  /** Where reading resumed: the client's cursor for `stream` is now this offset. */
  resumeAfter: number;
  /**
   * `retention`: the frames aged or were trimmed out; `reset`: the store lost the stream (a memory store
   * restarted); `unavailable` (client only): the negotiate answer offered no gap fill (a websocket-only
   * Functions app), so frames missed while disconnected cannot be read.
   */
  reason: "retention" | "reset" | "unavailable";
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** base64url without padding. */
export function base64url(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]!;
  }
  return out;
}

/** Strict base64url decoding (no padding, canonical trailing bits); undefined when malformed. */
export function fromBase64url(text: string): Uint8Array | undefined {
  if (text.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const v = code < 128 ? DECODE[code]! : -1;
    if (v < 0) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
      acc &= (1 << bits) - 1;
    }
  }
  // Leftover bits must be zero, so each byte string has exactly one encoding.
  if (acc !== 0) return undefined;
  return out;
}

/**
 * The part of a stream's segment before the offset, e.g. `uYWxpY2U~` for `user:alice`. Servers cache it
 * per stream and append the offset for each frame.
 */
export function cursorSegmentPrefix(stream: string): string {
  const ref = parseStreamId(stream);
  if (!ref) throw new HeraldError("HERALD_INVALID_FIELD", "not a stream id", { target: "stream" });
  if (ref.kind === "broadcast") return "b~";
  return `${ref.kind === "user" ? "u" : "g"}${base64url(encoder.encode(ref.name))}~`;
}

/** One stream's segment, e.g. `b~40`. */
export function encodeCursorSegment(stream: string, offset: number): string {
  return cursorSegmentPrefix(stream) + String(offset);
}

/** The cursor's text: segments in the map's order. An empty cursor is the empty string. */
export function encodeCursor(cursor: Cursor | Iterable<readonly [string, number]>): string {
  const parts: string[] = [];
  for (const [stream, offset] of cursor) parts.push(encodeCursorSegment(stream, offset));
  return parts.join(".");
}

const SEGMENT = /^([ugb])([A-Za-z0-9_-]*)~(0|[1-9][0-9]{0,15})$/;

function excerpt(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

/**
 * Parses a cursor's text. The empty string is the empty cursor. Throws `HERALD_BAD_CURSOR` naming the
 * problem and `target` (the parameter or header it came from).
 *
 * @example
 * parseCursor("uYWxpY2U~12.b~40") // Map { "user:alice" => 12, "broadcast" => 40 }
 */
export function parseCursor(text: string, target = "cursor"): Map<string, number> {
  function bad(message: string): never {
    throw new HeraldError("HERALD_BAD_CURSOR", `${target}: ${message}`, { target });
  }
  if (typeof text !== "string") bad("must be a string");
  const cursor = new Map<string, number>();
  if (text === "") return cursor;
  if (text.length > MAX_CURSOR_LENGTH) bad(`is ${text.length} characters; at most ${MAX_CURSOR_LENGTH}`);
  const segments = text.split(".");
  if (segments.length > MAX_CURSOR_STREAMS) {
    bad(`names ${segments.length} streams; at most ${MAX_CURSOR_STREAMS}`);
  }
  segments.forEach((segment, i) => {
    const m = SEGMENT.exec(segment);
    if (!m) bad(`segment ${i + 1} ${excerpt(segment)} is not <kind u|g|b><base64url name>~<offset>`);
    const kind = m[1]!;
    const name = m[2]!;
    const offset = Number(m[3]);
    if (!Number.isSafeInteger(offset)) bad(`segment ${i + 1} has an offset beyond 2^53`);
    let stream: string;
    if (kind === "b") {
      if (name !== "") bad(`segment ${i + 1}: broadcast takes no name`);
      stream = "broadcast";
    } else {
      const bytes = fromBase64url(name);
      let decoded: string | undefined;
      try {
        decoded = bytes && bytes.length > 0 ? decoder.decode(bytes) : undefined;
      } catch {
        decoded = undefined;
      }
      if (decoded === undefined) bad(`segment ${i + 1}: the name is not base64url of UTF-8 text`);
      stream = `${kind === "u" ? "user" : "group"}:${decoded}`;
      if (!parseStreamId(stream)) bad(`segment ${i + 1}: ${excerpt(stream)} is not a valid stream id`);
    }
    if (cursor.has(stream)) bad(`names ${excerpt(stream)} twice`);
    cursor.set(stream, offset);
  });
  return cursor;
}

/** Like `parseCursor`, but `undefined` instead of throwing. */
export function tryParseCursor(text: string): Map<string, number> | undefined {
  try {
    return parseCursor(text);
  } catch {
    return undefined;
  }
}

/** A copy of `cursor` moved forward to `frame` (never backward; a new stream is added). */
export function advanceCursor(
  cursor: Cursor,
  frame: { stream: string; offset: number },
): Map<string, number> {
  const next = new Map(cursor);
  if ((next.get(frame.stream) ?? -1) < frame.offset) next.set(frame.stream, frame.offset);
  return next;
}

/** Per stream the furthest offset of any of `cursors`, in first-seen stream order. */
export function mergeCursors(...cursors: Cursor[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const cursor of cursors) {
    for (const [stream, offset] of cursor) {
      if ((out.get(stream) ?? -1) < offset) out.set(stream, offset);
    }
  }
  return out;
}
