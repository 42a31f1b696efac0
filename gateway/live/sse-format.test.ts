import { describe, expect, it } from "vitest";
import { formatSseComment, formatSseEvent } from "./sse-format.js";

describe("SSE framing", () => {
  it("writes id, event, retry and data lines, then a blank line", () => {
    expect(formatSseEvent({ id: "b~1", event: "notification", retry: 3000, data: '{"a":1}' })).toBe(
      'id: b~1\nevent: notification\nretry: 3000\ndata: {"a":1}\n\n',
    );
  });

  it("splits multi-line data on CRLF, CR and LF", () => {
    expect(formatSseEvent({ data: "a\r\nb\rc\nd" })).toBe("data: a\ndata: b\ndata: c\ndata: d\n\n");
    expect(formatSseEvent({ data: "" })).toBe("data: \n\n");
  });

  it("refuses CR, LF or NUL in id and event, and a bad retry", () => {
    expect(() => formatSseEvent({ id: "a\nid: forged", data: "" })).toThrow(/id must not contain/);
    expect(() => formatSseEvent({ event: "x\r", data: "" })).toThrow(/event must not contain/);
    expect(() => formatSseEvent({ id: "a\u0000", data: "" })).toThrow(RangeError);
    expect(() => formatSseEvent({ retry: -1, data: "" })).toThrow(/retry/);
  });

  it("writes comments, refusing line breaks", () => {
    expect(formatSseComment()).toBe(":\n\n");
    expect(formatSseComment("hi")).toBe(": hi\n\n");
    expect(() => formatSseComment("a\nb")).toThrow(RangeError);
  });
});
