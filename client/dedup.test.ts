import { describe, expect, it } from "vitest";
import { RecentIds } from "./dedup.js";

describe("RecentIds", () => {
  it("says whether an id is new", () => {
    const ids = new RecentIds(10);
    expect(ids.add("a")).toBe(true);
    expect(ids.add("a")).toBe(false);
    expect(ids.has("a")).toBe(true);
    expect(ids.has("b")).toBe(false);
  });

  it("keeps at most `limit` ids, forgetting the oldest first", () => {
    const ids = new RecentIds(3);
    for (const id of ["a", "b", "c", "d"]) ids.add(id);
    expect(ids.size).toBe(3);
    expect(ids.has("a")).toBe(false);
    expect(["b", "c", "d"].every((id) => ids.has(id))).toBe(true);
    for (let i = 0; i < 10_000; i++) ids.add(`x${i}`);
    expect(ids.size).toBe(3);
  });

  it("refuses a limit below 1", () => {
    expect(() => new RecentIds(0)).toThrow(RangeError);
  });
});
