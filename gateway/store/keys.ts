/**
 * Table Storage keys for the stream store. PartitionKey and RowKey may not hold `/ \ # ?` or control
 * characters and are at most 1 KiB; `%` is legal but breaks some proxies and SDK paths. So keys keep
 * `A-Z a-z 0-9 . _ - : @` as they are (readable in Storage Explorer) and write every other UTF-8 byte as
 * `~XX`. A key that would grow past 256 characters becomes `~H` + the SHA-256 of the original, which no
 * escaped key can look like (`H` is not a hex digit).
 */
import { createHash } from "node:crypto";

const SAFE = /^[A-Za-z0-9._\-:@]$/;
const MAX_KEY_LENGTH = 256;
/** Offsets are zero-padded to this many digits so RowKey order is offset order (2^53 has 16 digits). */
const OFFSET_DIGITS = 16;

export const HEAD_ROW = "head";
/**
 * The partition of the store's own settings (shared secrets). No stream's key can be it: `encodeKey`
 * writes `~` only before two upper-case hex digits or `H`.
 */
export const SETTINGS_PARTITION = "~settings";
const FRAME_PREFIX = "f:";
/** The character after `:`, so `RowKey lt "f;"` ends the frame range. */
export const FRAME_RANGE_END = "f;";
const DEDUP_PREFIX = "d:";

/** Escapes a string into a valid, readable, reversible (unless hashed) Table key. */
export function encodeKey(value: string): string {
  let out = "";
  for (const char of value) {
    if (SAFE.test(char)) {
      out += char;
      continue;
    }
    for (const byte of Buffer.from(char, "utf8"))
      out += `~${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  if (out.length > MAX_KEY_LENGTH) return `~H${createHash("sha256").update(value, "utf8").digest("hex")}`;
  return out;
}

/** Reverses `encodeKey`; `undefined` for a hashed key, which cannot be reversed. */
export function decodeKey(key: string): string | undefined {
  if (key.startsWith("~H")) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < key.length;) {
    if (key[i] === "~") {
      bytes.push(parseInt(key.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      bytes.push(key.charCodeAt(i));
      i++;
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

export function partitionKeyOf(stream: string): string {
  return encodeKey(stream);
}

export function frameRow(offset: number): string {
  return FRAME_PREFIX + String(offset).padStart(OFFSET_DIGITS, "0");
}

/** The offset in a frame RowKey; `undefined` when the key is not a frame's. */
export function offsetOfRow(rowKey: string): number | undefined {
  if (!rowKey.startsWith(FRAME_PREFIX) || rowKey.length !== FRAME_PREFIX.length + OFFSET_DIGITS)
    return undefined;
  const offset = Number(rowKey.slice(FRAME_PREFIX.length));
  return Number.isSafeInteger(offset) ? offset : undefined;
}

export function dedupRow(id: string): string {
  return DEDUP_PREFIX + encodeKey(id);
}

/** Quotes a string for an OData filter. */
export function odataString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
