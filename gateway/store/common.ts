/**
 * What both stream stores share: option defaults and validation, entry and argument checks. Internal to
 * `gateway/store/`.
 */
import { HeraldError } from "../../core/errors.js";
import { DEFAULT_MAX_DATA_BYTES } from "../../core/notification.js";
import { validateStreamId } from "../../core/streams.js";
import type { AppendEntry, StreamStoreOptions } from "./types.js";

export const DEFAULT_MAX_AGE_MS = 24 * 3600 * 1000;
export const DEFAULT_MAX_COUNT = 10_000;
export const DEFAULT_SWEEP_INTERVAL_MS = 60_000;
/** Largest `limit` a read accepts (also the Table service's page size). */
export const MAX_READ_LIMIT = 1000;

export interface ResolvedOptions {
  readonly maxAgeMs: number;
  readonly maxCount: number;
  readonly maxDataBytes: number;
  readonly sweepIntervalMs: number;
  readonly now: () => number;
}

function config(target: string, message: string): never {
  throw new HeraldError("HERALD_INVALID_CONFIG", message, { target });
}

function wholeNumber(value: unknown, target: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    config(target, `${target} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

/** Applies defaults and rejects invalid values at construction, never later. */
export function resolveOptions(options: StreamStoreOptions, maxDataBytesLimit: number): ResolvedOptions {
  const retention = options.retention ?? {};
  const now = options.now ?? Date.now;
  if (typeof now !== "function") config("now", "now must be a function returning ms since the epoch");
  return Object.freeze({
    maxAgeMs: wholeNumber(retention.maxAgeMs ?? DEFAULT_MAX_AGE_MS, "retention.maxAgeMs", 1, 2 ** 40),
    maxCount: wholeNumber(retention.maxCount ?? DEFAULT_MAX_COUNT, "retention.maxCount", 1, 10_000_000),
    maxDataBytes: wholeNumber(
      options.maxDataBytes ?? DEFAULT_MAX_DATA_BYTES,
      "maxDataBytes",
      1,
      maxDataBytesLimit,
    ),
    sweepIntervalMs: wholeNumber(
      options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS,
      "sweepIntervalMs",
      0,
      2 ** 31 - 1,
    ),
    now,
  });
}

/** An entry checked and serialized once, before any stream is touched. */
export interface PreparedEntry {
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  /** `data` as JSON. */
  readonly json: string;
  /** UTF-8 length of `json`. */
  readonly bytes: number;
  readonly ts: number;
  readonly expiresAt: number | undefined;
}

// eslint-disable-next-line no-control-regex
const NAME_PATTERN = /^[^\u0000-\u001f\u007f]{1,128}$/;
const TYPE_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

function invalid(target: string, message: string): never {
  throw new HeraldError("HERALD_INVALID_FIELD", message, { target });
}

export function prepareEntry(entry: AppendEntry, maxDataBytes: number): PreparedEntry {
  if (typeof entry !== "object" || entry === null) invalid("", "an entry must be an object");
  const { id, type, ts, expiresAt } = entry;
  if (typeof id !== "string" || !NAME_PATTERN.test(id)) {
    invalid("id", "id must be a string of 1 to 128 printable characters");
  }
  if (typeof type !== "string" || !TYPE_PATTERN.test(type)) {
    throw new HeraldError(
      "HERALD_INVALID_TYPE",
      "type must be 1 to 128 characters of letters, digits and . _ : -",
      { target: "type" },
    );
  }
  if (typeof ts !== "number" || !Number.isFinite(ts) || ts < 0) {
    invalid("ts", "ts must be a time in ms since the epoch");
  }
  if (expiresAt !== undefined && (typeof expiresAt !== "number" || !Number.isFinite(expiresAt))) {
    invalid("expiresAt", "expiresAt must be a time in ms since the epoch");
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(entry.data);
  } catch (err) {
    throw new HeraldError("HERALD_INVALID_FIELD", "data must be serializable as JSON", {
      target: "data",
      cause: err,
    });
  }
  if (json === undefined) invalid("data", "data is required (any JSON value)");
  const bytes = Buffer.byteLength(json, "utf8");
  if (bytes > maxDataBytes) {
    throw new HeraldError(
      "HERALD_PAYLOAD_TOO_LARGE",
      `data is ${bytes} bytes serialized; the stream store's limit is ${maxDataBytes}`,
      { target: "data" },
    );
  }
  return { id, type, data: entry.data, json, bytes, ts, expiresAt };
}

/** Validates stream ids and drops repeats, keeping the first occurrence's position. */
export function prepareStreams(streams: readonly string[]): string[] {
  if (!Array.isArray(streams) || streams.length === 0) {
    invalid("streams", "streams must name at least one stream");
  }
  streams.forEach((stream, i) => validateStreamId(stream, `streams[${i}]`));
  return [...new Set(streams)];
}

export function checkRead(stream: string, after: number, limit: number): void {
  validateStreamId(stream, "stream");
  if (typeof after !== "number" || !Number.isSafeInteger(after) || after < 0) {
    invalid("after", "after must be a whole number of 0 or more");
  }
  if (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit < 1 || limit > MAX_READ_LIMIT) {
    invalid("limit", `limit must be a whole number from 1 to ${MAX_READ_LIMIT}`);
  }
}
