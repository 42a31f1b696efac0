import { describe, expect, it } from "vitest";
import { MAX_TIMESPAN_MS } from "../model.js";
import { DurationError, formatDuration, MAX_TIMESPAN_TEXT, parseDuration } from "./duration.js";

describe("parseDuration", () => {
  it.each([
    ["PT1M", 60_000],
    ["PT0S", 0],
    ["PT1.5S", 1_500],
    ["PT0.0001S", 0],
    ["P14D", 14 * 86_400_000],
    ["P1W", 7 * 86_400_000],
    ["P1DT2H3M4.005S", 86_400_000 + 2 * 3_600_000 + 3 * 60_000 + 4_005],
    ["P1Y", 365 * 86_400_000],
    ["P2M", 60 * 86_400_000],
    ["PT36H", 36 * 3_600_000],
    [" PT10M ", 600_000],
    [MAX_TIMESPAN_TEXT, MAX_TIMESPAN_MS],
    ["P99999999D", MAX_TIMESPAN_MS],
  ])("%s is %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "P", "PT", "1M", "-PT1S", "PT1.S", "P1.5D", "PT1M junk", "pt1m", "P1H", "PT1D"])(
    "rejects %j",
    (text) => {
      expect(() => parseDuration(text)).toThrow(DurationError);
    },
  );
});

describe("formatDuration", () => {
  it.each([
    [0, "PT0S"],
    [60_000, "PT1M"],
    [1_500, "PT1.5S"],
    [1, "PT0.001S"],
    [2 * 86_400_000, "P2D"],
    [90_061_001, "P1DT1H1M1.001S"],
    [3_600_000, "PT1H"],
    [MAX_TIMESPAN_MS, MAX_TIMESPAN_TEXT],
  ])("%d ms is %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it("round-trips through parseDuration", () => {
    for (const ms of [0, 1, 999, 1_000, 59_999, 86_399_999, 86_400_001, 1_234_567_890, MAX_TIMESPAN_MS])
      expect(parseDuration(formatDuration(ms))).toBe(ms);
  });

  it("rejects negative and non-finite values", () => {
    expect(() => formatDuration(-1)).toThrow(DurationError);
    expect(() => formatDuration(Number.NaN)).toThrow(DurationError);
  });
});
