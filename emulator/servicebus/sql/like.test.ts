import { describe, expect, it } from "vitest";
import { LikePatternError, compileLike } from "./like.js";

/** A reference implementation: the pattern as an anchored regular expression. */
function reference(pattern: string, escape: string | undefined): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (escape !== undefined && ch === escape) {
      source += pattern[++i]!.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");
    } else if (ch === "%") source += "[\\s\\S]*";
    else if (ch === "_") source += "[\\s\\S]";
    else source += ch.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

describe("compileLike", () => {
  it.each([
    ["abc", "abc", true],
    ["abc", "abd", false],
    ["a%", "abc", true],
    ["a%", "a", true],
    ["a%", "ba", false],
    ["%c", "abc", true],
    ["%b%", "abc", true],
    ["%b%", "ac", false],
    ["a_c", "abc", true],
    ["a_c", "ac", false],
    ["_", "", false],
    ["%", "", true],
    ["%%", "x", true],
    ["a%b%c", "aXbYc", true],
    ["a%b%c", "aXcYb", false],
    ["%a%a%", "banana", true],
    ["_%_", "ab", true],
    ["_%_", "a", false],
    ["a\nb", "a\nb", true],
    ["a_b", "a\nb", true],
    ["A", "a", false],
  ])("%j matches %j: %s", (pattern, value, expected) => {
    expect(compileLike(pattern, undefined)(value)).toBe(expected);
  });

  it("treats the escape character as making the next one literal", () => {
    expect(compileLike("10!%", "!")("10%")).toBe(true);
    expect(compileLike("10!%", "!")("100")).toBe(false);
    expect(compileLike("!_x", "!")("_x")).toBe(true);
    expect(compileLike("!_x", "!")("ax")).toBe(false);
    expect(compileLike("a!!", "!")("a!")).toBe(true);
    expect(compileLike("!a", "!")("a")).toBe(true);
  });

  it("rejects a bad escape", () => {
    expect(() => compileLike("x", "")).toThrow(LikePatternError);
    expect(() => compileLike("x", "ab")).toThrow(LikePatternError);
    expect(() => compileLike("x!", "!")).toThrow(LikePatternError);
  });

  it("agrees with a regular-expression reference on random patterns", () => {
    // Seeded, so a failure reproduces.
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const alphabet = ["a", "b", "%", "_", "!", "\n"];
    const pick = () => alphabet[Math.floor(random() * alphabet.length)]!;
    const text = (max: number) => Array.from({ length: Math.floor(random() * max) }, pick).join("");
    let compared = 0;
    for (let i = 0; i < 3000; i++) {
      const escape = random() < 0.5 ? "!" : undefined;
      const pattern = text(8);
      let matcher;
      try {
        matcher = compileLike(pattern, escape);
      } catch (error) {
        expect(error).toBeInstanceOf(LikePatternError);
        expect(escape !== undefined && pattern.endsWith("!")).toBe(true);
        continue;
      }
      const regex = reference(pattern, escape);
      for (let j = 0; j < 5; j++) {
        const value = text(10);
        expect(
          matcher(value),
          `${JSON.stringify(value)} LIKE ${JSON.stringify(pattern)} ESCAPE ${escape}`,
        ).toBe(regex.test(value));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(10_000);
  });
});
