import { describe, expect, it } from "vitest";
import { FilterError, compileFilter, type FilterTarget } from "./filter.js";

const conn = (connectionId: string, userId: string | null, groups: string[] = []): FilterTarget => ({
  connectionId,
  userId,
  groupSet: groups.length ? new Set(groups) : null,
});
const alice = conn("c1", "alice", ["group1", "group2"]);
const bob = conn("c2", "bob", ["group2"]);
const anon = conn("c3", null);
const userAbDe = conn("c4", "user-ab-de");

function matches(filter: string, targets: FilterTarget[] = [alice, bob, anon, userAbDe]): string[] {
  const f = compileFilter(filter)!;
  return targets.filter((t) => f(t)).map((t) => t.connectionId);
}

describe("OData filter", () => {
  it("matches nothing special when empty", () => {
    expect(compileFilter(undefined)).toBeUndefined();
    expect(compileFilter("  ")).toBeUndefined();
  });

  it("compares identifiers with literals and null", () => {
    expect(matches("userId eq 'alice'")).toEqual(["c1"]);
    expect(matches("userId ne 'alice'")).toEqual(["c2", "c3", "c4"]);
    expect(matches("userId eq null")).toEqual(["c3"]);
    expect(matches("userId ne null")).toEqual(["c1", "c2", "c4"]);
    expect(matches("connectionId eq 'c2'")).toEqual(["c2"]);
    expect(matches("USERID eq 'bob'")).toEqual(["c2"]);
  });

  it("supports in over groups and over literal lists", () => {
    expect(matches("'group1' in groups")).toEqual(["c1"]);
    expect(matches("'group2' in (groups)")).toEqual(["c1", "c2"]);
    expect(matches("userId in ('bob', 'user-ab-de')")).toEqual(["c2", "c4"]);
    expect(matches("userId in ('alice', 'user2', 'user3') and 'group1' in groups")).toEqual(["c1"]);
  });

  it("follows the documented precedence: not > comparisons > and > or", () => {
    expect(matches("userId eq 'alice' or userId eq 'bob' and 'group1' in groups")).toEqual(["c1"]);
    expect(matches("(userId eq 'alice' or userId eq 'bob') and 'group2' in groups")).toEqual(["c1", "c2"]);
    expect(matches("userId eq 'bob' and (not ('group1' in groups))")).toEqual(["c2"]);
    expect(matches("not endswith(userId, 'ce')")).toEqual(["c2", "c3", "c4"]);
    expect(() => compileFilter("not length(userId) gt 5")).toThrow(/expect 'bool'/);
    expect(matches("not (length(userId) gt 3)")).toEqual(["c2", "c3"]);
  });

  it("implements the documented string and collection functions", () => {
    expect(matches("tolower(userId) eq 'alice'", [conn("x", "ALICE")])).toEqual(["x"]);
    expect(matches("toupper(userId) eq 'USER1'", [conn("x", "user1")])).toEqual(["x"]);
    expect(matches("trim(userId) eq 'user1'", [conn("x", " user1 ")])).toEqual(["x"]);
    expect(matches("substring(userId,5,2) eq 'ab'")).toEqual(["c4"]);
    expect(matches("substring(userId,5) eq 'ab-de'")).toEqual(["c4"]);
    expect(matches("endswith(userId,'de')")).toEqual(["c4"]);
    expect(matches("startswith(userId,'user')")).toEqual(["c4"]);
    expect(matches("contains(userId,'b-d')")).toEqual(["c4"]);
    expect(matches("indexof(userId,'-ab-') ge 0")).toEqual(["c4"]);
    expect(matches("concat(userId, '!') eq 'bob!'")).toEqual(["c2"]);
    expect(matches("length(userId) gt 5")).toEqual(["c4"]);
    expect(matches("length(groups) gt 1")).toEqual(["c1"]);
    expect(matches("length(userId) le 10 and length(userId) gt 3")).toEqual(["c1", "c4"]);
  });

  it("unescapes doubled quotes and accepts boolean literals", () => {
    expect(matches("userId eq 'user''1'", [conn("x", "user'1")])).toEqual(["x"]);
    expect(matches("true")).toEqual(["c1", "c2", "c3", "c4"]);
    expect(matches("false or userId eq 'bob'")).toEqual(["c2"]);
  });

  it("rejects invalid filters with a message", () => {
    for (const bad of [
      "userId",
      "userId eq",
      "userId eq 'x",
      "userId eq 'x')",
      "unknown eq 'x'",
      "frob(userId)",
      "userId eq 1",
      "groups eq 'x'",
      "'x' in userId",
      "length(userId, 'a')",
      "substring(userId, 'a')",
      "userId = 'x'",
      "and",
      "userId eq 'a' and",
      "99999999999999999999 eq 1",
    ]) {
      expect(() => compileFilter(bad), bad).toThrow(FilterError);
    }
    expect(() => compileFilter("x".repeat(5000))).toThrow(/longer than/);
    expect(() => compileFilter(Array(250).fill("true").join(" or "))).toThrow(/too complex/);
  });
});
