import { describe, expect, it } from "vitest";
import {
  decodeKey,
  dedupRow,
  encodeKey,
  FRAME_RANGE_END,
  frameRow,
  offsetOfRow,
  odataString,
  partitionKeyOf,
} from "./keys.js";

// The Table service forbids these in PartitionKey and RowKey; `%` is avoided too.
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[/\\#?%\u0000-\u001f\u007f-\u009f]/;

describe("table keys", () => {
  it.each([
    ["user:alice", "user:alice"],
    ["broadcast", "broadcast"],
    ["group:a/b", "group:a~2Fb"],
    ["user:x#y?z\\w", "user:x~23y~3Fz~5Cw"],
    ["user:100%", "user:100~25"],
    ["user:~", "user:~7E"],
    ["user:a b", "user:a~20b"],
    ["user:é", "user:~C3~A9"],
  ])("escapes %j readably and reversibly", (value, key) => {
    expect(encodeKey(value)).toBe(key);
    expect(decodeKey(key)).toBe(value);
    expect(FORBIDDEN.test(key)).toBe(false);
  });

  it("escapes control characters and every code point outside the safe set", () => {
    const nasty = "user:\u0001\u007f\u0085\u2028🎉'\"";
    const key = encodeKey(nasty);
    expect(FORBIDDEN.test(key)).toBe(false);
    expect(decodeKey(key)).toBe(nasty);
  });

  it("hashes a key that would be too long, and keeps hashes apart from escapes", () => {
    const long = `user:${"€".repeat(128)}`;
    const key = partitionKeyOf(long);
    expect(key).toMatch(/^~H[0-9a-f]{64}$/);
    expect(decodeKey(key)).toBeUndefined();
    expect(partitionKeyOf(`user:${"€".repeat(127)}x`)).not.toBe(key);
    expect(encodeKey(`user:${"x".repeat(128)}`)).toBe(`user:${"x".repeat(128)}`);
  });

  it("orders frame rows by offset and keeps them inside the frame range", () => {
    const offsets = [1, 2, 9, 10, 99, 100, 12345, Number.MAX_SAFE_INTEGER];
    const rows = offsets.map(frameRow);
    expect([...rows].sort()).toEqual(rows);
    for (const row of rows) {
      expect(row < FRAME_RANGE_END).toBe(true);
      expect(row > dedupRow("zzzz")).toBe(true);
      expect(row < "head").toBe(true);
    }
    expect(rows.map(offsetOfRow)).toEqual(offsets);
    expect(offsetOfRow("head")).toBeUndefined();
    expect(offsetOfRow("f:12")).toBeUndefined();
  });

  it("quotes OData strings", () => {
    expect(odataString("it's")).toBe("'it''s'");
  });
});
