import { randomUUID } from "node:crypto";
import type {
  ActionStatement,
  ArithmeticNode,
  CompareNode,
  CompareOp,
  InNode,
  LikeNode,
  PredicateNode,
  PropertyNode,
  ValueNode,
} from "./ast.js";
import { SqlEvaluationError, SqlSyntaxError } from "./errors.js";
import { LikePatternError, compileLike, type LikeMatcher } from "./like.js";
import { findSystemProperty, systemKeyOf, systemReader } from "./system-properties.js";
import type { SqlMessageView, SqlValue } from "./types.js";

/**
 * Evaluation model. Values are SqlValues; `null` and `undefined` (a missing property) both mean
 * *unknown*. Predicates return `true`, `false` or `null` (unknown). Type errors throw
 * SqlEvaluationError, which the public wrappers catch: nothing here is called without one.
 */
export type Reader = (view: SqlMessageView) => unknown;
export type Test = (view: SqlMessageView) => boolean | null;
/** One action statement; `undo` collects what it changed so a failing action can be rolled back. */
export type Step = (view: SqlMessageView, undo: UndoEntry[]) => void;

/**
 * `value`: a key was added or its value replaced (Map order unchanged). `entries`: a key is about
 * to be deleted, which re-adding would move to the end, so the whole map is kept as it was.
 */
export type UndoEntry =
  | {
      readonly map: Map<string, SqlValue>;
      readonly key: string;
      readonly existed: boolean;
      readonly previous: SqlValue | undefined;
    }
  | { readonly map: Map<string, SqlValue>; readonly entries: readonly [string, SqlValue][] };

/**
 * Whether a numeric value is an Int64 or a Double in C# terms. Known for constants; `dynamic`
 * for message properties, whose numbers arrive without that distinction (decided per value:
 * integral means Int64).
 */
type NumericHint = "int" | "double" | "dynamic";

interface CompiledValue {
  readonly read: Reader;
  readonly hint: NumericHint;
  /** Set when the value is a constant. */
  readonly constant?: { readonly value: unknown };
}

// ---- values ----

export function compileValue(node: ValueNode): CompiledValue {
  switch (node.kind) {
    case "literal": {
      const value = node.value;
      return { read: () => value, hint: node.numeric ?? "dynamic", constant: { value } };
    }
    case "property":
      return { read: propertyReader(node), hint: "dynamic" };
    case "unary": {
      const operand = compileValue(node.operand);
      const read = operand.read;
      const pos = node.pos;
      if (node.op === "-") {
        return {
          hint: operand.hint,
          read: (m) => {
            const v = read(m);
            if (v == null) return null;
            if (typeof v === "number") return -v;
            throw new SqlEvaluationError(
              `unary '-' cannot be applied to ${typeName(v)} at position ${pos}`,
              pos,
            );
          },
        };
      }
      return {
        hint: operand.hint,
        read: (m) => {
          const v = read(m);
          if (v == null || typeof v === "number") return v ?? null;
          throw new SqlEvaluationError(
            `unary '+' cannot be applied to ${typeName(v)} at position ${pos}`,
            pos,
          );
        },
      };
    }
    case "arithmetic":
      return compileArithmetic(node);
    case "call": {
      if (node.name === "newid") return { read: () => randomUUID(), hint: "dynamic" };
      const name = compileValue(node.args[0]!).read;
      const pos = node.pos;
      return { read: (m) => readPropertyByName(m, name(m), pos), hint: "dynamic" };
    }
  }
}

function propertyReader(node: PropertyNode): Reader {
  if (node.system !== undefined) return systemReader(node.system);
  const name = node.name;
  return (m) => m.user.get(name);
}

/** `property(name)`: the name is computed per message, so a bad `sys.` name fails at run time. */
function readPropertyByName(m: SqlMessageView, name: unknown, pos: number): unknown {
  if (name == null) return null;
  if (typeof name !== "string") {
    throw new SqlEvaluationError(
      `property() needs a string name, not ${typeName(name)} at position ${pos}`,
      pos,
    );
  }
  const dot = name.indexOf(".");
  const scope = dot > 0 ? name.slice(0, dot).toLowerCase() : "";
  if (scope === "sys") {
    const p = findSystemProperty(name.slice(dot + 1));
    if (p === undefined) {
      throw new SqlEvaluationError(`unknown system property '${name}' at position ${pos}`, pos);
    }
    const key = systemKeyOf(p, m.system);
    return key === undefined ? undefined : m.system.get(key);
  }
  return m.user.get(scope === "user" ? name.slice(dot + 1) : name);
}

function combineHints(a: NumericHint, b: NumericHint): NumericHint {
  if (a === "double" || b === "double") return "double";
  return a === "int" && b === "int" ? "int" : "dynamic";
}

function compileArithmetic(node: ArithmeticNode): CompiledValue {
  const left = compileValue(node.left);
  const right = compileValue(node.right);
  const l = left.read;
  const r = right.read;
  const pos = node.opPos;
  const hint = combineHints(left.hint, right.hint);
  const op = node.op;
  switch (op) {
    case "+":
      return {
        hint,
        read: (m) => {
          const a = l(m);
          const b = r(m);
          if (a == null || b == null) return null;
          if (typeof a === "number" && typeof b === "number") return a + b;
          if (typeof a === "string" && typeof b === "string") return a + b;
          // DateTime + TimeSpan, with TimeSpans carried as milliseconds.
          if (a instanceof Date && typeof b === "number") return new Date(a.getTime() + b);
          if (typeof a === "number" && b instanceof Date) return new Date(b.getTime() + a);
          throw operatorError(op, a, b, pos);
        },
      };
    case "-":
      return {
        hint,
        read: (m) => {
          const a = l(m);
          const b = r(m);
          if (a == null || b == null) return null;
          if (typeof a === "number" && typeof b === "number") return a - b;
          if (a instanceof Date && b instanceof Date) return a.getTime() - b.getTime();
          if (a instanceof Date && typeof b === "number") return new Date(a.getTime() - b);
          throw operatorError(op, a, b, pos);
        },
      };
    case "*":
      return {
        hint,
        read: (m) => {
          const a = l(m);
          const b = r(m);
          if (a == null || b == null) return null;
          if (typeof a === "number" && typeof b === "number") return a * b;
          throw operatorError(op, a, b, pos);
        },
      };
    case "/":
    case "%": {
      // C# semantics: Int64 / Int64 truncates and fails on zero; any Double makes it IEEE.
      const integral: (a: number, b: number) => boolean =
        hint === "double"
          ? () => false
          : hint === "int"
            ? () => true
            : (a, b) => Number.isInteger(a) && Number.isInteger(b);
      const divide = op === "/";
      return {
        hint,
        read: (m) => {
          const a = l(m);
          const b = r(m);
          if (a == null || b == null) return null;
          if (typeof a !== "number" || typeof b !== "number") throw operatorError(op, a, b, pos);
          if (!integral(a, b)) return divide ? a / b : a % b;
          if (b === 0) throw new SqlEvaluationError(`division by zero at position ${pos}`, pos);
          return divide ? Math.trunc(a / b) : a % b;
        },
      };
    }
  }
}

// ---- predicates ----

export function compilePredicate(node: PredicateNode): Test {
  switch (node.kind) {
    case "and": {
      const l = compilePredicate(node.left);
      const r = compilePredicate(node.right);
      return (m) => {
        const a = l(m);
        if (a === false) return false;
        const b = r(m);
        if (b === false) return false;
        return a === null || b === null ? null : true;
      };
    }
    case "or": {
      const l = compilePredicate(node.left);
      const r = compilePredicate(node.right);
      return (m) => {
        const a = l(m);
        if (a === true) return true;
        const b = r(m);
        if (b === true) return true;
        return a === null || b === null ? null : false;
      };
    }
    case "not": {
      const t = compilePredicate(node.operand);
      return (m) => {
        const v = t(m);
        return v === null ? null : !v;
      };
    }
    case "compare":
      return compileCompare(node);
    case "in":
      return compileIn(node);
    case "like":
      return compileLikeNode(node);
    case "isNull": {
      const read = propertyReader(node.property);
      return node.negated ? (m) => read(m) != null : (m) => read(m) == null;
    }
    case "exists": {
      // A user property exists when the message has the key (even with a null value); a
      // system property when the message carries a value for it.
      const p = node.property;
      if (p.system !== undefined) {
        const read = systemReader(p.system);
        return (m) => read(m) != null;
      }
      const name = p.name;
      return (m) => m.user.has(name);
    }
  }
}

function compileCompare(node: CompareNode): Test {
  const left = compileValue(node.left);
  const right = compileValue(node.right);
  const op = node.op;
  const pos = node.opPos;
  const l = left.read;
  const constant = right.constant?.value;
  // Fast path for the common `property = 'text'` / `property > 5` shape.
  if (typeof constant === "string" || typeof constant === "number") {
    const type = typeof constant;
    switch (op) {
      case "=":
        return (m) => {
          const a = l(m);
          if (a == null) return null;
          return typeof a === type ? a === constant : compare(op, a, constant, pos);
        };
      case "<>":
      case "!=":
        return (m) => {
          const a = l(m);
          if (a == null) return null;
          return typeof a === type ? a !== constant : compare(op, a, constant, pos);
        };
      default:
        return (m) => compare(op, l(m), constant, pos);
    }
  }
  const r = right.read;
  return (m) => compare(op, l(m), r(m), pos);
}

/** A comparison with C# binding: numbers with numbers, strings with strings (ordinal), etc. */
export function compare(op: CompareOp, a: unknown, b: unknown, pos: number): boolean | null {
  if (a == null || b == null) return null;
  const ta = typeof a;
  if (ta === typeof b && (ta === "number" || ta === "string")) {
    const x = a as number | string;
    const y = b as number | string;
    switch (op) {
      case "=":
        return x === y;
      case "<>":
      case "!=":
        return x !== y;
      case ">":
        return x > y;
      case ">=":
        return x >= y;
      case "<":
        return x < y;
      case "<=":
        return x <= y;
    }
  }
  if (ta === "boolean" && typeof b === "boolean") {
    if (op === "=") return a === b;
    if (op === "<>" || op === "!=") return a !== b;
    throw new SqlEvaluationError(`operator '${op}' cannot compare boolean values at position ${pos}`, pos);
  }
  if (a instanceof Date && b instanceof Date) return compare(op, a.getTime(), b.getTime(), pos);
  throw new SqlEvaluationError(
    `cannot compare ${typeName(a)} with ${typeName(b)} using '${op}' at position ${pos}`,
    pos,
  );
}

function compileIn(node: InNode): Test {
  const operand = compileValue(node.operand).read;
  const items = node.items.map(compileValue);
  const negated = node.negated;
  const pos = node.opPos;
  const constants = items.map((i) => i.constant?.value);
  const first = constants[0];
  const sameType =
    (typeof first === "string" || typeof first === "number") &&
    items.every((i) => i.constant !== undefined && typeof i.constant.value === typeof first);
  if (sameType) {
    // All items are constants of one type: a Set lookup, whatever the list length.
    const set = new Set(constants);
    const type = typeof first;
    return (m) => {
      const v = operand(m);
      if (v == null) return null;
      if (typeof v !== type) {
        compare("=", v, first, pos); // throws the type error
        return null;
      }
      const found = v === v && set.has(v); // NaN equals nothing, as in C#
      return found !== negated;
    };
  }
  const readers = items.map((i) => i.read);
  return (m) => {
    const v = operand(m);
    if (v == null) return null;
    let found = false;
    for (const read of readers) {
      const item = read(m);
      // Unknown items never match; only an unknown operand makes IN unknown.
      if (item != null && compare("=", v, item, pos) === true) {
        found = true;
        break;
      }
    }
    return found !== negated;
  };
}

function compileLikeNode(node: LikeNode): Test {
  const operand = compileValue(node.operand).read;
  const pattern = compileValue(node.pattern);
  const escape = node.escape === undefined ? undefined : compileValue(node.escape);
  const negated = node.negated;
  const pos = node.opPos;
  const constantPattern = pattern.constant?.value;
  const constantEscape = escape?.constant?.value;
  if (pattern.constant !== undefined && constantPattern !== null && typeof constantPattern !== "string") {
    throw new SqlSyntaxError(
      `the LIKE pattern must be a string at position ${node.pattern.pos}`,
      node.pattern.pos,
    );
  }
  if (escape?.constant !== undefined && constantEscape !== null && typeof constantEscape !== "string") {
    const at = node.escape?.pos ?? pos;
    throw new SqlSyntaxError(`the LIKE escape must be a string at position ${at}`, at);
  }
  if (typeof constantPattern === "string" && (escape === undefined || typeof constantEscape === "string")) {
    let matcher: LikeMatcher;
    try {
      matcher = compileLike(constantPattern, constantEscape as string | undefined);
    } catch (error) {
      if (!(error instanceof LikePatternError)) throw error;
      const at = error.part === "escape" ? (node.escape?.pos ?? pos) : node.pattern.pos;
      throw new SqlSyntaxError(`${error.message} at position ${at}`, at);
    }
    return (m) => {
      const v = operand(m);
      if (v == null) return null;
      requireString(v, "LIKE operand", pos);
      return matcher(v) !== negated;
    };
  }
  // The pattern is computed per message: keep the last compiled one.
  let lastPattern: string | undefined;
  let lastEscape: string | undefined;
  let lastMatcher: LikeMatcher | undefined;
  const readPattern = pattern.read;
  const readEscape = escape?.read;
  return (m) => {
    const v = operand(m);
    const p = readPattern(m);
    const e = readEscape === undefined ? undefined : readEscape(m);
    if (v == null || p == null || e === null || (readEscape !== undefined && e === undefined)) return null;
    requireString(v, "LIKE operand", pos);
    requireString(p, "LIKE pattern", pos);
    if (e !== undefined) requireString(e, "LIKE escape", pos);
    if (lastMatcher === undefined || p !== lastPattern || e !== lastEscape) {
      try {
        lastMatcher = compileLike(p, e);
      } catch (error) {
        if (error instanceof LikePatternError)
          throw new SqlEvaluationError(`${error.message} at position ${pos}`, pos);
        throw error;
      }
      lastPattern = p;
      lastEscape = e;
    }
    return lastMatcher(v) !== negated;
  };
}

// ---- actions ----

export function compileStatement(statement: ActionStatement): Step {
  const target = statement.target;
  if (statement.kind === "remove") {
    const key = target.name;
    return (m, undo) => {
      const map = m.user;
      if (!map.has(key)) return;
      undo.push({ map, entries: [...map] });
      map.delete(key);
    };
  }
  const read = compileValue(statement.value).read;
  const system = target.system;
  if (system === undefined) {
    const key = target.name;
    return (m, undo) => {
      const v = read(m);
      const map = m.user;
      undo.push({ map, key, existed: map.has(key), previous: map.get(key) });
      // An unknown value (missing property) is stored as null; a Date is copied so that a
      // parameter's Date is never shared between messages.
      map.set(key, v === undefined ? null : v instanceof Date ? new Date(v.getTime()) : (v as SqlValue));
    };
  }
  const pos = statement.value.pos;
  return (m, undo) => {
    const v = read(m);
    const map = m.system;
    const existing = systemKeyOf(system, map);
    if (v != null && typeof v !== "string") {
      throw new SqlEvaluationError(
        `sys.${system.name} takes a string, not ${typeName(v)} at position ${pos}`,
        pos,
      );
    }
    if (v == null) {
      // Setting a header to NULL removes it, as an absent AMQP property reads as null.
      if (existing === undefined) return;
      undo.push({ map, entries: [...map] });
      map.delete(existing);
      return;
    }
    const key = existing ?? system.name;
    undo.push({ map, key, existed: existing !== undefined, previous: map.get(key) });
    map.set(key, v);
  };
}

/** Restores what a failed action changed, newest change first. */
export function rollback(undo: readonly UndoEntry[]): void {
  for (let i = undo.length - 1; i >= 0; i--) {
    const entry = undo[i]!;
    if ("entries" in entry) {
      entry.map.clear();
      for (const [key, value] of entry.entries) entry.map.set(key, value);
    } else if (entry.existed) {
      entry.map.set(entry.key, entry.previous as SqlValue);
    } else {
      entry.map.delete(entry.key);
    }
  }
}

// ---- helpers ----

function requireString(v: unknown, what: string, pos: number): asserts v is string {
  if (typeof v !== "string") {
    throw new SqlEvaluationError(`the ${what} must be a string, not ${typeName(v)} at position ${pos}`, pos);
  }
}

function operatorError(op: string, a: unknown, b: unknown, pos: number): SqlEvaluationError {
  return new SqlEvaluationError(
    `operator '${op}' cannot be applied to ${typeName(a)} and ${typeName(b)} at position ${pos}`,
    pos,
  );
}

export function typeName(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (v instanceof Date) return "a date";
  switch (typeof v) {
    case "string":
      return "a string";
    case "number":
      return "a number";
    case "boolean":
      return "a boolean";
    default:
      return `an unsupported value (${typeof v})`;
  }
}
