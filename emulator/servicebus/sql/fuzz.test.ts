/**
 * Property tests with a seeded PRNG: whatever the input, compiling either succeeds or throws a
 * SqlSyntaxError with a sensible position, and a compiled filter or action never throws on any
 * message. Counts are fixed, so the run is bounded and reproducible.
 */
import { describe, expect, it } from "vitest";
import { formatNode, formatStatements } from "./ast.js";
import {
  MAX_EXPRESSION_LENGTH,
  SqlEvaluationError,
  SqlSyntaxError,
  applyAction,
  compileAction,
  compileFilter,
  evaluateFilter,
  type SqlMessageView,
  type SqlValue,
} from "./index.js";
import { parseAction, parseFilter } from "./parser.js";

type Random = () => number;

/** mulberry32: small, fast, good enough to drive a fuzzer. */
function prng(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (r: Random, n: number) => Math.floor(r() * n);
const pick = <T>(r: Random, items: readonly T[]): T => items[int(r, items.length)]!;

const PARAMETERS = { "@p1": "red", "@p2": 7, p3: 2.5, "@flag": true };

// ---- random messages ----

const SYSTEM_KEYS = [
  "Label",
  "label",
  "Subject",
  "MessageId",
  "To",
  "ReplyTo",
  "SessionId",
  "CorrelationId",
  "ContentType",
  "DeliveryCount",
  "SequenceNumber",
  "EnqueuedTimeUtc",
  "TimeToLive",
  "Unrelated",
];
const USER_KEYS = ["a", "b", "color", "priority", "my prop", 'q"x', "in", "set", "x", "sys.Label"];

function randomValue(r: Random): SqlValue {
  switch (int(r, 14)) {
    case 0:
      return null;
    case 1:
      return "";
    case 2:
      return pick(r, ["red", "blue", "order", "50%", "a_b", "O'Brien", "ünï", "%", "_"]);
    case 3:
      return String.fromCharCode(...Array.from({ length: int(r, 12) }, () => 32 + int(r, 400)));
    case 4:
      return int(r, 20) - 10;
    case 5:
      return (r() - 0.5) * 1e6;
    case 6:
      return pick(r, [0, -0, NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER, 2 ** 63]);
    case 7:
      return true;
    case 8:
      return false;
    case 9:
      return new Date(int(r, 2e12));
    case 10:
      return new Date(NaN);
    case 11:
      return "x".repeat(int(r, 2000));
    default:
      return int(r, 3);
  }
}

function randomView(r: Random): SqlMessageView {
  const system = new Map<string, SqlValue>();
  const user = new Map<string, SqlValue>();
  for (const key of SYSTEM_KEYS) if (r() < 0.4) system.set(key, randomValue(r));
  for (const key of USER_KEYS) if (r() < 0.5) user.set(key, randomValue(r));
  return { system, user };
}

function snapshot(view: SqlMessageView): unknown {
  const entries = (map: Map<string, SqlValue>) =>
    [...map].map(([k, v]) => [k, v instanceof Date ? `date:${v.getTime()}` : Object.is(v, -0) ? "-0" : v]);
  return { system: entries(view.system), user: entries(view.user) };
}

// ---- random token soup ----

const VOCABULARY = [
  "a",
  "b",
  "color",
  "sys",
  "user",
  ".",
  "Label",
  "sys.Label",
  "sys.DeliveryCount",
  "sys.Nope",
  "sys.SequenceNumber",
  "user.color",
  "[my prop]",
  "[",
  "]",
  '"q""x"',
  '"',
  "'red'",
  "'it''s'",
  "'%'",
  "'!'",
  "'",
  "0",
  "1",
  "7",
  "2.5",
  "1e3",
  ".5",
  "1e",
  "9223372036854775808",
  "@p1",
  "@p2",
  "@nope",
  "@",
  "(",
  ")",
  ",",
  ";",
  "=",
  "<>",
  "!=",
  "<",
  "<=",
  ">",
  ">=",
  "+",
  "-",
  "*",
  "/",
  "%",
  "AND",
  "or",
  "NOT",
  "IN",
  "like",
  "ESCAPE",
  "IS",
  "NULL",
  "TRUE",
  "false",
  "EXISTS",
  "newid",
  "property",
  "p",
  "SET",
  "REMOVE",
  "#",
  "!",
  "\u0000",
  "é",
  "_",
  "\t",
];

function tokenSoup(r: Random, prefix = ""): string {
  const n = 1 + int(r, r() < 0.5 ? 6 : 24);
  let text = prefix;
  for (let i = 0; i < n; i++) text += (r() < 0.8 ? " " : "") + pick(r, VOCABULARY);
  return text;
}

// ---- valid expressions from the grammar ----

const PROPERTIES = [
  "a",
  "b",
  "color",
  "priority",
  "user.x",
  "[my prop]",
  "user.[my prop]",
  '"q""x"',
  "sys.Label",
  "SYS.subject",
  "sys.DeliveryCount",
  "sys.[To]",
  "sys.EnqueuedTimeUtc",
];

function keyword(r: Random, word: string): string {
  return r() < 0.3 ? word.toLowerCase() : word;
}

function genValue(r: Random, depth: number): string {
  const choice = int(r, depth > 0 ? 12 : 8);
  switch (choice) {
    case 0:
      return String(int(r, 100));
    case 1:
      return pick(r, ["2.5", "0.5E-2", "101.5E5", ".25", "3.0"]);
    case 2:
      return `'${pick(r, ["red", "it''s", "", "50%", "ünï"])}'`;
    case 3:
      return keyword(r, pick(r, ["TRUE", "FALSE", "NULL"]));
    case 4:
    case 5:
      return pick(r, PROPERTIES);
    case 6:
      return pick(r, ["@p1", "@p2", "@p3", "@flag"]);
    case 7:
      return pick(r, ["newid()", "p('color')", "property('sys.Label')", "P('my prop')"]);
    case 8:
      return `-${genValue(r, depth - 1)}`;
    case 9:
      return `(${genValue(r, depth - 1)})`;
    default:
      return `${genValue(r, depth - 1)} ${pick(r, ["+", "-", "*", "/", "%"])} ${genValue(r, depth - 1)}`;
  }
}

function genPattern(r: Random): string {
  let pattern = "";
  const n = int(r, 6);
  for (let i = 0; i < n; i++) pattern += pick(r, ["a", "r", "%", "_", "!%", "!!", "''"]);
  return `'${pattern}'`;
}

function genPredicate(r: Random, depth: number): string {
  const choice = int(r, depth > 0 ? 10 : 6);
  switch (choice) {
    case 0:
    case 1:
      return `${genValue(r, depth)} ${pick(r, ["=", "<>", "!=", ">", ">=", "<", "<="])} ${genValue(r, depth)}`;
    case 2: {
      const items = Array.from({ length: 1 + int(r, 4) }, () => genValue(r, 0)).join(", ");
      return `${genValue(r, depth)} ${r() < 0.5 ? keyword(r, "NOT") + " " : ""}${keyword(r, "IN")} (${items})`;
    }
    case 3: {
      const escape = r() < 0.5 ? ` ${keyword(r, "ESCAPE")} '!'` : "";
      // A constant pattern that is not a string is a compile-time error, so computed ones are properties.
      const pattern = r() < 0.8 ? genPattern(r) : pick(r, PROPERTIES);
      return `${genValue(r, depth)} ${r() < 0.5 ? keyword(r, "NOT") + " " : ""}${keyword(r, "LIKE")} ${pattern}${escape}`;
    }
    case 4:
      return `${pick(r, PROPERTIES)} ${keyword(r, "IS")} ${r() < 0.5 ? keyword(r, "NOT") + " " : ""}${keyword(r, "NULL")}`;
    case 5:
      return `${keyword(r, "EXISTS")}(${pick(r, PROPERTIES)})`;
    case 6:
      return `${keyword(r, "NOT")} ${genPredicate(r, depth - 1)}`;
    case 7:
      return `(${genPredicate(r, depth - 1)})`;
    default:
      return `${genPredicate(r, depth - 1)} ${keyword(r, pick(r, ["AND", "OR"]))} ${genPredicate(r, depth - 1)}`;
  }
}

const SETTABLE = [
  "a",
  "b",
  "user.[my prop]",
  "sys.Label",
  "sys.To",
  "sys.ReplyTo",
  "sys.SessionId",
  "sys.MessageId",
];

function genAction(r: Random): string {
  const n = 1 + int(r, 4);
  const statements: string[] = [];
  for (let i = 0; i < n; i++) {
    statements.push(
      r() < 0.75
        ? `${keyword(r, "SET")} ${pick(r, SETTABLE)} = ${genValue(r, 2)}`
        : `${keyword(r, "REMOVE")} ${pick(r, ["a", "b", "color", "[my prop]"])}`,
    );
  }
  return statements.join(pick(r, ["; ", " ", ";"])) + (r() < 0.3 ? ";" : "");
}

function mutate(r: Random, text: string): string {
  const at = int(r, text.length + 1);
  switch (int(r, 6)) {
    case 0:
      return text.slice(0, at) + text.slice(at + 1 + int(r, 6));
    case 1:
      return text.slice(0, at) + pick(r, VOCABULARY) + text.slice(at);
    case 2:
      return text.slice(0, at) + String.fromCharCode(int(r, 0x3000)) + text.slice(at + 1);
    case 3:
      return text.slice(0, at) + text.slice(int(r, text.length));
    case 4:
      return text.slice(0, at);
    default:
      return text.slice(0, at) + text.slice(at, at + 10) + text.slice(at);
  }
}

// ---- the properties ----

/** Compiles `expression`; returns undefined when it is a (well-formed) syntax error. */
function tryCompile<T>(compile: () => T, expression: string): T | undefined {
  try {
    return compile();
  } catch (error) {
    if (!(error instanceof SqlSyntaxError)) {
      throw new Error(`compiling ${JSON.stringify(expression)} threw ${String(error)}`);
    }
    const { position, message } = error;
    const limit = Math.max(expression.length, MAX_EXPRESSION_LENGTH);
    if (
      !Number.isInteger(position) ||
      position < 0 ||
      position > limit ||
      !message.endsWith(` at position ${position}`)
    ) {
      throw new Error(`bad SqlSyntaxError for ${JSON.stringify(expression)}: ${message} (${position})`);
    }
    return undefined;
  }
}

function checkFilter(r: Random, expression: string): boolean {
  const filter = tryCompile(() => compileFilter(expression, PARAMETERS), expression);
  if (filter === undefined) return false;
  for (let i = 0; i < 3; i++) {
    const view = randomView(r);
    const matched = filter.matches(view);
    const result = evaluateFilter(filter, view);
    if (typeof matched !== "boolean") throw new Error(`matches returned ${String(matched)}`);
    if (result.error !== undefined && !(result.error instanceof SqlEvaluationError)) {
      throw new Error(`evaluateFilter reported ${String(result.error)}`);
    }
    // Without newid() the two calls see the same message and must agree.
    if (!/newid/i.test(expression) && matched !== (result.value === true)) {
      throw new Error(`matches and evaluateFilter disagree on ${JSON.stringify(expression)}`);
    }
  }
  return true;
}

function checkAction(r: Random, expression: string): boolean {
  const action = tryCompile(() => compileAction(expression, PARAMETERS), expression);
  if (action === undefined) return false;
  for (let i = 0; i < 3; i++) {
    const view = randomView(r);
    const before = snapshot(view);
    const result = applyAction(action, view);
    if (!result.ok) {
      if (!(result.error instanceof SqlEvaluationError))
        throw new Error(`applyAction reported ${String(result.error)}`);
      // A failed action leaves the message exactly as it was.
      expect(snapshot(view), expression).toEqual(before);
    }
    action.apply(randomView(r));
  }
  return true;
}

describe("fuzz", () => {
  it("random token sequences compile or fail with SqlSyntaxError; compiled ones never throw", () => {
    const r = prng(1);
    let compiled = 0;
    for (let i = 0; i < 4000; i++) if (checkFilter(r, tokenSoup(r))) compiled++;
    for (let i = 0; i < 2000; i++)
      if (checkAction(r, tokenSoup(r, pick(r, ["SET ", "REMOVE ", ""])))) compiled++;
    // The soup is almost all invalid (31 of 6000 compile with this seed); the generated and
    // mutated expressions below exercise evaluation far more.
    expect(compiled).toBeGreaterThan(20);
  });

  it("generated valid filters compile, print back to the same tree and never throw", () => {
    const r = prng(2);
    let checked = 0;
    for (let i = 0; i < 2500; i++) {
      const expression = genPredicate(r, int(r, 5));
      if (expression.length > MAX_EXPRESSION_LENGTH) continue;
      let printed: string;
      try {
        printed = formatNode(parseFilter(expression, PARAMETERS));
      } catch (error) {
        throw new Error(`valid filter ${JSON.stringify(expression)} was rejected: ${String(error)}`);
      }
      expect(formatNode(parseFilter(printed))).toBe(printed);
      expect(checkFilter(r, expression), expression).toBe(true);
      checked++;
    }
    expect(checked).toBeGreaterThan(2000);
  });

  it("generated valid actions compile, print back and never throw", () => {
    const r = prng(3);
    for (let i = 0; i < 1500; i++) {
      const expression = genAction(r);
      const printed = formatStatements(parseAction(expression, PARAMETERS));
      expect(formatStatements(parseAction(printed))).toBe(printed);
      expect(checkAction(r, expression), expression).toBe(true);
    }
  });

  it("mutated valid expressions compile or fail with SqlSyntaxError; compiled ones never throw", () => {
    const r = prng(4);
    let compiled = 0;
    let rejected = 0;
    for (let i = 0; i < 4000; i++) {
      let expression = genPredicate(r, int(r, 4));
      for (let m = 1 + int(r, 3); m > 0; m--) expression = mutate(r, expression);
      if (checkFilter(r, expression)) compiled++;
      else rejected++;
    }
    for (let i = 0; i < 2000; i++) {
      let expression = genAction(r);
      for (let m = 1 + int(r, 3); m > 0; m--) expression = mutate(r, expression);
      if (checkAction(r, expression)) compiled++;
      else rejected++;
    }
    expect(compiled).toBeGreaterThan(200);
    expect(rejected).toBeGreaterThan(200);
  });
});
