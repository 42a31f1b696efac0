import { describe, expect, it } from "vitest";
import {
  SqlEvaluationError,
  SqlSyntaxError,
  compileFilter,
  evaluateFilter,
  type CompiledFilter,
  type SqlMessageView,
  type SqlValue,
} from "./index.js";

const ENQUEUED = new Date("2024-01-01T00:00:00Z");
const WHEN = new Date("2024-06-01T00:00:00Z");

function view(system: Record<string, SqlValue> = {}, user: Record<string, SqlValue> = {}): SqlMessageView {
  return { system: new Map(Object.entries(system)), user: new Map(Object.entries(user)) };
}

/** The message most cases run against. */
function sample(): SqlMessageView {
  return view(
    {
      Label: "order",
      MessageId: "m1",
      CorrelationId: "c1",
      ContentType: "application/json",
      DeliveryCount: 1,
      SequenceNumber: 42,
      EnqueuedTimeUtc: ENQUEUED,
    },
    {
      priority: 7,
      ratio: 0.5,
      big: 10,
      neg: -3,
      color: "red",
      name: "O'Brien",
      flag: true,
      off: false,
      nul: null,
      when: WHEN,
      pct: "50%",
      under: "a_b",
      "my prop": "spaced",
      Contoso: "c",
    },
  );
}

type Expected = true | false | null | "error";

/** TRUE, FALSE, unknown (null) or an evaluation error, for `expression` on `message`. */
function outcome(
  expression: string,
  message = sample(),
  parameters?: Record<string, string | number | boolean | Date>,
): Expected {
  const filter = compileFilter(expression, parameters);
  const result = evaluateFilter(filter, message);
  // matches() agrees with the three-valued result and never throws.
  expect(filter.matches(message)).toBe(result.value === true);
  if (result.error !== undefined) {
    expect(result.error).toBeInstanceOf(SqlEvaluationError);
    expect(result.value).toBeNull();
    expect(result.error.message).toMatch(/ at position \d+$/);
    return "error";
  }
  return result.value;
}

function table(title: string, cases: [string, Expected][]): void {
  describe(title, () => {
    it.each(cases)("%s → %s", (expression, expected) => {
      expect(outcome(expression)).toBe(expected);
    });
  });
}

table("comparison", [
  ["priority = 7", true],
  ["priority = 7.0", true],
  ["7 = priority", true],
  ["priority <> 7", false],
  ["priority != 8", true],
  ["priority > 6", true],
  ["priority >= 7", true],
  ["priority < 7", false],
  ["priority <= 7", true],
  ["ratio = 0.5", true],
  ["ratio = 5E-1", true],
  ["ratio < priority", true],
  ["neg < 0", true],
  ["color = 'red'", true],
  ["color = 'RED'", false],
  ["color <> 'blue'", true],
  ["color < 'z'", true],
  ["color > 'z'", false],
  ["'B' < 'a'", true],
  ["name = 'O''Brien'", true],
  ["flag = TRUE", true],
  ["flag = off", false],
  ["flag <> off", true],
  ["off = FALSE", true],
  ["when > sys.EnqueuedTimeUtc", true],
  ["when <= sys.EnqueuedTimeUtc", false],
  ["when = when", true],
  ["sys.DeliveryCount = 1", true],
  ["sys.SequenceNumber >= 42", true],
  // Incompatible types: Service Bus raises a filter evaluation exception.
  ["color = 1", "error"],
  ["priority = '7'", "error"],
  ["'7' = priority", "error"],
  ["color <> 1", "error"],
  ["color > 1", "error"],
  ["flag = 1", "error"],
  ["flag > off", "error"],
  ["when = 'x'", "error"],
  ["when > 5", "error"],
  // Unknown operands make the comparison unknown.
  ["missing = 1", null],
  ["missing <> 1", null],
  ["missing > 1", null],
  ["1 = missing", null],
  ["nul = 1", null],
  ["priority = NULL", null],
  ["NULL = NULL", null],
  ["NULL <> NULL", null],
  ["sys.SessionId = 'x'", null],
  ["missing = color", null],
]);

describe("three-valued logic", () => {
  const literal = { T: "1 = 1", F: "1 = 0", U: "missing = 1" } as const;
  const value = { T: true, F: false, U: null } as const;
  type V = keyof typeof literal;
  // The tables from the SQL filter syntax reference.
  const and: Record<V, Record<V, V>> = {
    T: { T: "T", F: "F", U: "U" },
    F: { T: "F", F: "F", U: "F" },
    U: { T: "U", F: "F", U: "U" },
  };
  const or: Record<V, Record<V, V>> = {
    T: { T: "T", F: "T", U: "T" },
    F: { T: "T", F: "F", U: "U" },
    U: { T: "T", F: "U", U: "U" },
  };
  const keys: V[] = ["T", "F", "U"];
  for (const a of keys) {
    for (const b of keys) {
      it(`${a} AND ${b} = ${and[a][b]}`, () => {
        expect(outcome(`${literal[a]} AND ${literal[b]}`)).toBe(value[and[a][b]]);
      });
      it(`${a} OR ${b} = ${or[a][b]}`, () => {
        expect(outcome(`${literal[a]} OR ${literal[b]}`)).toBe(value[or[a][b]]);
      });
    }
  }
  it.each([
    ["NOT 1 = 1", false],
    ["NOT 1 = 0", true],
    ["NOT missing = 1", null],
    ["NOT NOT missing = 1", null],
    ["NOT (missing = 1 OR 1 = 1)", false],
  ] as [string, Expected][])("%s → %s", (expression, expected) => {
    expect(outcome(expression)).toBe(expected);
  });

  it.each([
    // Evaluation is left to right and stops as soon as the result is known.
    ["1 = 0 AND color = 1", false],
    ["1 = 1 OR color = 1", true],
    ["color = 1 AND 1 = 0", "error"],
    ["missing = 1 AND color = 1", "error"],
    ["1 = 1 AND color = 1", "error"],
  ] as [string, Expected][])("%s → %s", (expression, expected) => {
    expect(outcome(expression)).toBe(expected);
  });
});

table("arithmetic", [
  ["priority + 1 = 8", true],
  ["priority - 10 = -3", true],
  ["priority * 2 = 14", true],
  ["priority / 2 = 3", true],
  ["priority / 2.0 = 3.5", true],
  ["priority % 4 = 3", true],
  ["priority % 4.5 = 2.5", true],
  ["7 / 2 = 3", true],
  ["7.0 / 2 = 3.5", true],
  ["7 / 2.0 = 3.5", true],
  ["1e1 / 4 = 2.5", true],
  ["neg / 2 = -1", true],
  ["neg % 2 = -1", true],
  ["ratio * 4 = 2", true],
  ["ratio / 0 > 1000", true],
  ["priority + 3 * 2 = 13", true],
  ["(priority + 3) * 2 = 20", true],
  ["priority - 3 - 2 = 2", true],
  ["-priority = -7", true],
  ["+priority = 7", true],
  ["- -priority = 7", true],
  ["-(priority + 1) = -8", true],
  ["color + 'x' = 'redx'", true],
  ["when - sys.EnqueuedTimeUtc = 13132800000", true],
  ["sys.EnqueuedTimeUtc + 86400000 < when", true],
  ["when - 1000 < when", true],
  ["priority / 0 = 1", "error"],
  ["priority % 0 = 1", "error"],
  ["color + 1 = 1", "error"],
  ["1 + color = 1", "error"],
  ["flag + 1 = 1", "error"],
  ["color * 2 = 1", "error"],
  ["color / 2 = 1", "error"],
  ["-color = 1", "error"],
  ["+flag = 1", "error"],
  ["when + when = when", "error"],
  ["missing + 1 = 1", null],
  ["1 - missing = 1", null],
  ["missing * 0 = 0", null],
  ["missing / 0 = 0", null],
  ["-missing = 1", null],
  ["nul + 1 = 1", null],
]);

table("IN", [
  ["color IN ('blue', 'red')", true],
  ["color IN ('blue')", false],
  ["color NOT IN ('blue')", true],
  ["color NOT IN ('red', 'blue')", false],
  ["priority IN (1, 7)", true],
  ["priority IN (7.0)", true],
  ["priority IN (1, 2)", false],
  ["priority IN (big - 3, 1)", true],
  ["color IN (sys.Label, 'red')", true],
  ["missing IN ('a')", null],
  ["missing NOT IN ('a')", null],
  ["nul IN ('a', NULL)", null],
  // Unknown items never match; only the left operand makes IN unknown.
  ["color IN ('blue', missing)", false],
  ["color IN (missing, 'red')", true],
  ["color NOT IN (missing)", true],
  ["color IN (NULL)", false],
  ["color IN (1, 2)", "error"],
  ["priority IN ('7')", "error"],
  ["color IN (priority)", "error"],
  ["'red' IN (color, 'x')", true],
]);

table("LIKE", [
  ["color LIKE 'r%'", true],
  ["color LIKE '%d'", true],
  ["color LIKE '%e%'", true],
  ["color LIKE 'r_d'", true],
  ["color LIKE 'r_'", false],
  ["color LIKE '___'", true],
  ["color LIKE 'red'", true],
  ["color LIKE 'RED'", false],
  ["color LIKE 're'", false],
  ["color LIKE '%'", true],
  ["'' LIKE '%'", true],
  ["'' LIKE '_'", false],
  ["color LIKE 'r%d%'", true],
  ["color NOT LIKE 'b%'", true],
  ["color NOT LIKE 'r%'", false],
  ["name LIKE 'O''%'", true],
  ["sys.Label LIKE '%rde%'", true],
  // ESCAPE
  ["pct LIKE '50\\%' ESCAPE '\\'", true],
  ["pct LIKE '5\\%' ESCAPE '\\'", false],
  ["'50' LIKE '50\\%' ESCAPE '\\'", false],
  ["under LIKE 'a!_b' ESCAPE '!'", true],
  ["'axb' LIKE 'a!_b' ESCAPE '!'", false],
  ["'axb' LIKE 'a_b'", true],
  ["pct LIKE '%!%' ESCAPE '!'", true],
  ["'a!b' LIKE 'a!!b' ESCAPE '!'", true],
  ["'ab' LIKE '!a!b' ESCAPE '!'", true],
  ["'%' LIKE '%%' ESCAPE '%'", true],
  ["'%%' LIKE '%%%%' ESCAPE '%'", true],
  ["'x' LIKE '%%' ESCAPE '%'", false],
  // Computed patterns and escapes
  ["color LIKE sys.Label", false],
  ["sys.Label LIKE 'ord' + '%'", true],
  ["pct LIKE '50!' + '%' ESCAPE '!'", true],
  ["pct LIKE '50x%' ESCAPE 'x' + ''", true],
  ["color LIKE 'x!' + '' ESCAPE '!'", "error"],
  ["color LIKE 'x' ESCAPE 'ab' + ''", "error"],
  ["color LIKE priority", "error"],
  ["color LIKE 'x' ESCAPE priority", "error"],
  // Unknown anywhere gives unknown
  ["missing LIKE 'a'", null],
  ["missing NOT LIKE 'a'", null],
  ["color LIKE missing", null],
  ["color LIKE NULL", null],
  ["color LIKE 'r%' ESCAPE missing", null],
  ["color LIKE 'r%' ESCAPE NULL", null],
  // LIKE needs strings
  ["priority LIKE '7'", "error"],
  ["flag LIKE 'T%'", "error"],
]);

table("IS NULL and EXISTS", [
  ["nul IS NULL", true],
  ["missing IS NULL", true],
  ["color IS NULL", false],
  ["color IS NOT NULL", true],
  ["nul IS NOT NULL", false],
  ["missing IS NOT NULL", false],
  ["sys.SessionId IS NULL", true],
  ["sys.Label IS NOT NULL", true],
  ["EXISTS(color)", true],
  ["EXISTS(nul)", true],
  ["EXISTS(missing)", false],
  ["NOT EXISTS(missing)", true],
  ["EXISTS(user.[my prop])", true],
  ["EXISTS(sys.Label)", true],
  ["EXISTS(sys.SessionId)", false],
]);

table("names", [
  ["[my prop] = 'spaced'", true],
  ["user.[my prop] = 'spaced'", true],
  ["\"my prop\" = 'spaced'", true],
  ["user.color = 'red'", true],
  ["sys.label = 'order'", true],
  ["SYS.LABEL = 'order'", true],
  ["sys.Subject = 'order'", true],
  ["sys.MessageId = 'm1' AND sys.CorrelationId = 'c1'", true],
  ["sys.ContentType LIKE 'application/%'", true],
  // User property names are exact (the SqlMessageView contract).
  ["Color = 'red'", null],
  ["contoso = 'c'", null],
]);

table("functions", [
  ["property('color') = 'red'", true],
  ["p('user.color') = 'red'", true],
  ["p('USER.color') = 'red'", true],
  ["p('sys.label') = 'order'", true],
  ["p('sys.Subject') = 'order'", true],
  ["p('sys.SessionId') = 'x'", null],
  ["p('col' + 'or') = 'red'", true],
  ["p('my prop') = 'spaced'", true],
  ["p('missing') = 1", null],
  ["p(missing) = 1", null],
  ["p('sys.nope') = 1", "error"],
  ["p(priority) = 1", "error"],
  ["newid() <> newid()", true],
  ["newid() LIKE '________-____-____-____-____________'", true],
]);

describe("filters", () => {
  it("1=1 (TrueFilter) matches every message and 1=0 (FalseFilter) none", () => {
    for (const message of [sample(), view(), view({ Label: null }, { a: null })]) {
      expect(compileFilter("1=1").matches(message)).toBe(true);
      expect(compileFilter("1=0").matches(message)).toBe(false);
    }
  });

  it("keeps the expression text", () => {
    expect(compileFilter(" a = 1 ").expression).toBe(" a = 1 ");
  });

  it("binds parameters", () => {
    expect(outcome("priority > @min", sample(), { "@min": 5 })).toBe(true);
    expect(outcome("color = @c", sample(), { c: "red" })).toBe(true);
    expect(outcome("flag = @f AND ratio = @r", sample(), { "@f": true, "@r": 0.5 })).toBe(true);
    expect(outcome("when > @d", sample(), { "@d": ENQUEUED })).toBe(true);
    expect(outcome("priority / @two = 3", sample(), { "@two": 2 })).toBe(true);
    expect(outcome("priority / @two = 3.5", sample(), { "@two": 2.5 })).toBe(false);
  });

  it("parameters are copied at compile time", () => {
    const date = new Date(ENQUEUED.getTime());
    const filter = compileFilter("sys.EnqueuedTimeUtc = @d", { "@d": date });
    date.setTime(0);
    expect(filter.matches(sample())).toBe(true);
  });

  it("matches system properties whatever the broker's key casing", () => {
    const message = view({ label: "order", SEQUENCENUMBER: 5, subject: "ignored" }, {});
    expect(outcome("sys.Label = 'order'", message)).toBe(true);
    expect(outcome("sys.SequenceNumber = 5", message)).toBe(true);
    expect(outcome("EXISTS(sys.sequencenumber)", message)).toBe(true);
    expect(outcome("sys.To IS NULL", message)).toBe(true);
  });

  it("reads Subject as Label when the broker keys it so", () => {
    expect(outcome("sys.Label = 'x'", view({ Subject: "x" }))).toBe(true);
  });

  it("reports the position of the failing operator", () => {
    const result = evaluateFilter(compileFilter("a = 1 AND color = 1"), sample());
    expect(result.error?.position).toBe(16);
    expect(result.error?.message).toBe("cannot compare a string with a number using '=' at position 16");
    const division = evaluateFilter(compileFilter("(priority / 0) = 1"), sample());
    expect(division.error?.message).toBe("division by zero at position 10");
  });

  it("returns shared results for the common outcomes", () => {
    const filter = compileFilter("priority = 7");
    expect(evaluateFilter(filter, sample())).toBe(evaluateFilter(filter, sample()));
  });

  it("treats values outside SqlValue as evaluation errors, never as crashes", () => {
    const odd = {
      system: new Map(),
      user: new Map<string, unknown>([
        ["x", 10n],
        ["o", { a: 1 }],
      ]),
    };
    const message = odd as unknown as SqlMessageView;
    for (const expression of ["x = 1", "o = 'a'", "x + 1 = 2", "o LIKE 'a'", "o IN ('a', 'b')", "-x = 1"]) {
      const filter = compileFilter(expression);
      expect(filter.matches(message)).toBe(false);
      expect(evaluateFilter(filter, message).error).toBeInstanceOf(SqlEvaluationError);
    }
    expect(compileFilter("EXISTS(o) AND o IS NOT NULL").matches(message)).toBe(true);
  });

  it("survives a malformed view: matches is false, evaluateFilter reports it", () => {
    const broken = { system: undefined, user: undefined } as unknown as SqlMessageView;
    const filter = compileFilter("a = 1");
    expect(filter.matches(broken)).toBe(false);
    const result = evaluateFilter(filter, broken);
    expect(result.error).toBeInstanceOf(SqlEvaluationError);
    expect(result.error?.message).toMatch(/^evaluation failed: /);
  });

  it("evaluates filters that are not SQL through matches", () => {
    const always: CompiledFilter = { expression: "correlation", matches: () => true };
    expect(evaluateFilter(always, view())).toEqual({ value: true });
    const throwing: CompiledFilter = {
      expression: "bad",
      matches: () => {
        throw new Error("boom");
      },
    };
    expect(evaluateFilter(throwing, view()).error?.message).toBe("evaluation failed: boom");
  });

  it("matches a long LIKE pattern against a long value in bounded time", () => {
    // Exponential for a backtracking regex; linear-ish for the wildcard matcher.
    const filter = compileFilter(`v LIKE '${"%a".repeat(200)}%b'`);
    expect(filter.matches(view({}, { v: "a".repeat(20_000) }))).toBe(false);
    expect(filter.matches(view({}, { v: `${"a".repeat(20_000)}b` }))).toBe(true);
  });
});

describe("compile-time errors found while compiling", () => {
  const cases: [string, number, string][] = [
    ["a LIKE 'x' ESCAPE 'ab'", 18, "the LIKE escape must be exactly one character, not 'ab' at position 18"],
    ["a LIKE 'x!' ESCAPE '!'", 7, "the LIKE pattern 'x!' ends with its escape character at position 7"],
    ["a LIKE 5", 7, "the LIKE pattern must be a string at position 7"],
    ["a LIKE TRUE", 7, "the LIKE pattern must be a string at position 7"],
    ["a LIKE 'x' ESCAPE 1", 18, "the LIKE escape must be a string at position 18"],
  ];
  it.each(cases)("%j fails at %i", (expression, position, message) => {
    let caught: unknown;
    try {
      compileFilter(expression);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SqlSyntaxError);
    expect((caught as SqlSyntaxError).position).toBe(position);
    expect((caught as SqlSyntaxError).message).toBe(message);
  });
});
