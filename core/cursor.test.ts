import { describe, expect, it } from "vitest";
import {
  MAX_CURSOR_LENGTH,
  MAX_CURSOR_STREAMS,
  advanceCursor,
  base64url,
  cursorSegmentPrefix,
  encodeCursor,
  encodeCursorSegment,
  fromBase64url,
  mergeCursors,
  parseCursor,
  tryParseCursor,
} from "./cursor.js";
import { HeraldError } from "./errors.js";

function badCursor(text: string, target?: string): HeraldError {
  try {
    parseCursor(text, target);
  } catch (err) {
    if (err instanceof HeraldError) return err;
    throw err;
  }
  throw new Error(`parseCursor accepted ${JSON.stringify(text)}`);
}

describe("base64url", () => {
  it("matches Node's encoder for every length and byte value", () => {
    for (let len = 0; len < 40; len++) {
      const bytes = Uint8Array.from({ length: len }, (_, i) => (i * 97 + len * 31) & 0xff);
      const text = base64url(bytes);
      expect(text).toBe(Buffer.from(bytes).toString("base64url"));
      expect(fromBase64url(text)).toEqual(bytes);
    }
  });

  it("rejects non-alphabet characters, impossible lengths and non-canonical trailing bits", () => {
    expect(fromBase64url("YQ==")).toBeUndefined();
    expect(fromBase64url("Y+E")).toBeUndefined();
    expect(fromBase64url("YWJjZ")).toBeUndefined();
    expect(fromBase64url("YR")).toBeUndefined(); // "YQ" is the canonical form of "a"
    expect(fromBase64url("é")).toBeUndefined();
  });
});

describe("cursor", () => {
  it("encodes compactly with only characters safe in an SSE id and a query", () => {
    const text = encodeCursor(
      new Map([
        ["user:alice", 12],
        ["group:ops team/é:x", 0],
        ["broadcast", 40],
      ]),
    );
    expect(text.startsWith("uYWxpY2U~12.g")).toBe(true);
    expect(text.endsWith(".b~40")).toBe(true);
    expect(text).toMatch(/^[A-Za-z0-9_.~-]+$/);
    expect(encodeURIComponent(text)).toBe(text);
  });

  it("round-trips names with any printable character, colons and non-BMP text", () => {
    const cursor = new Map([
      ["user:a:b/c?d=e&f#g h", 1],
      ["group:😀 ünïcode", 9_007_199_254_740_991],
      ["broadcast", 0],
    ]);
    expect(parseCursor(encodeCursor(cursor))).toEqual(cursor);
  });

  it("builds a cursor from per-stream segments", () => {
    expect(cursorSegmentPrefix("broadcast")).toBe("b~");
    expect(cursorSegmentPrefix("user:alice") + "3").toBe(encodeCursorSegment("user:alice", 3));
    expect([encodeCursorSegment("user:alice", 3), encodeCursorSegment("broadcast", 4)].join(".")).toBe(
      encodeCursor([
        ["user:alice", 3],
        ["broadcast", 4],
      ]),
    );
  });

  it("parses the empty string as the empty cursor", () => {
    expect(parseCursor("").size).toBe(0);
    expect(encodeCursor(new Map())).toBe("");
  });

  it.each([
    ["b~", /segment 1 "b~" is not/],
    ["x~1", /segment 1 "x~1" is not/],
    ["b~01", /segment 1/],
    ["b~-1", /segment 1/],
    ["b~1.b~2", /names "broadcast" twice/],
    ["b~1..uYQ~2", /segment 2 "" is not/],
    ["bYQ~1", /broadcast takes no name/],
    ["u~1", /name is not base64url/],
    ["uYR~1", /name is not base64url/],
    ["u_w~1", /name is not base64url of UTF-8/],
    ["uAA~1", /not a valid stream id/],
    ["b~99999999999999999", /segment 1/],
    ["b~9999999999999999", /beyond 2\^53/],
    ["b~1\n", /segment 1/],
  ])("rejects %j with HERALD_BAD_CURSOR naming the problem", (text, reason) => {
    const err = badCursor(text, "Last-Event-ID");
    expect(err.code).toBe("HERALD_BAD_CURSOR");
    expect(err.status).toBe(400);
    expect(err.target).toBe("Last-Event-ID");
    expect(err.message).toMatch(/^Last-Event-ID: /);
    expect(err.message).toMatch(reason);
  });

  it("bounds length and stream count, and never echoes a long input", () => {
    const long = "b~1." + "u" + "A".repeat(MAX_CURSOR_LENGTH);
    expect(badCursor(long).message).toMatch(/at most 8192/);
    const many = Array.from(
      { length: MAX_CURSOR_STREAMS + 1 },
      (_, i) => `g${base64url(Buffer.from(`g${i}`))}~1`,
    );
    expect(badCursor(many.join(".")).message).toMatch(/names 257 streams; at most 256/);
    const junk = "!".repeat(500);
    expect(badCursor(junk).message.length).toBeLessThan(120);
    expect(tryParseCursor(junk)).toBeUndefined();
  });

  it("advances and merges without going backward", () => {
    const a = new Map([
      ["user:alice", 5],
      ["broadcast", 7],
    ]);
    expect(advanceCursor(a, { stream: "broadcast", offset: 6 })).toEqual(a);
    expect(advanceCursor(a, { stream: "broadcast", offset: 8 }).get("broadcast")).toBe(8);
    expect(advanceCursor(a, { stream: "group:ops", offset: 1 }).get("group:ops")).toBe(1);
    expect(a.get("broadcast")).toBe(7);
    const b = new Map([
      ["broadcast", 9],
      ["group:ops", 2],
    ]);
    expect([...mergeCursors(a, b)]).toEqual([
      ["user:alice", 5],
      ["broadcast", 9],
      ["group:ops", 2],
    ]);
  });
});
