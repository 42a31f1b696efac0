import { describe, expect, it } from "vitest";
import { backoffDelay } from "./backoff.js";

describe("backoffDelay", () => {
  it("is the minimum when the jitter draws 0, for any attempt", () => {
    for (const attempt of [0, 1, 5, 40]) expect(backoffDelay(attempt, 500, 30_000, () => 0)).toBe(500);
  });

  it("doubles the jitter range per attempt up to the maximum", () => {
    const top = (attempt: number): number => backoffDelay(attempt, 500, 30_000, () => 0.999999);
    expect(top(0)).toBe(999);
    expect(top(1)).toBe(1499);
    expect(top(2)).toBe(2499);
    expect(top(5)).toBe(16_499);
    expect(top(6)).toBe(30_000);
    expect(top(1000)).toBe(30_000);
  });

  it("spreads clients out: draws cover the range", () => {
    const draws = [0, 0.25, 0.5, 0.75].map((r) => backoffDelay(3, 100, 10_000, () => r));
    expect(draws).toEqual([100, 300, 500, 700]);
  });

  it("never goes below min or above max, even for a negative attempt", () => {
    expect(backoffDelay(-3, 200, 1000, () => 0.5)).toBe(300);
    expect(backoffDelay(3, 2000, 1000, () => 0.5)).toBe(1000);
  });
});
