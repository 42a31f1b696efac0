/**
 * The OData `filter` subset Azure Web PubSub accepts on send and group-membership calls
 * (reference-odata-filter): identifiers `userId`, `connectionId` (strings) and `groups` (a
 * collection); `and`, `or`, `not`, `eq ne gt ge lt le`, `in`, string functions and `length`.
 * Filters are type-checked when parsed, so a bad filter is a 400 before anything is sent, and
 * compiled to a closure so fan-out does not walk a tree per connection.
 */

/** What a filter can see of a connection. */
export interface FilterTarget {
  readonly connectionId: string;
  readonly userId: string | null;
  readonly groupSet: ReadonlySet<string> | null;
}

export type FilterPredicate = (target: FilterTarget) => boolean;

export class FilterError extends Error {
  override readonly name = "FilterError";
}

/** Filters longer than this, or with more nodes than `MAX_NODES`, are refused (the service caps complexity too). */
export const MAX_FILTER_LENGTH = 4096;
const MAX_NODES = 400;

type Type = "string" | "int" | "bool" | "collection" | "null";
type Value = string | number | boolean | null | ReadonlySet<string>;
type Eval = (t: FilterTarget) => Value;
interface Node {
  type: Type;
  eval: Eval;
  text: string;
}

type Token =
  | { kind: "string"; value: string; pos: number }
  | { kind: "int"; value: number; pos: number }
  | { kind: "word"; value: string; pos: number }
  | { kind: "punct"; value: "(" | ")" | ","; pos: number };

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const ch = input[i]!;
    if (ch === " " || ch === "\t" || ch === "\r" || ch === "\n") {
      i++;
    } else if (ch === "(" || ch === ")" || ch === ",") {
      tokens.push({ kind: "punct", value: ch, pos: i });
      i++;
    } else if (ch === "'") {
      const start = i;
      let value = "";
      i++;
      for (;;) {
        if (i >= input.length) throw new FilterError(`Unterminated string literal at position ${start}.`);
        if (input[i] === "'") {
          if (input[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += input[i];
        i++;
      }
      tokens.push({ kind: "string", value, pos: start });
    } else if (/[0-9+-]/.test(ch)) {
      const m = /^[+-]?[0-9]+/.exec(input.slice(i));
      if (!m) throw new FilterError(`Unexpected '${ch}' at position ${i}.`);
      const value = Number(m[0]);
      if (!Number.isSafeInteger(value)) throw new FilterError(`Integer out of range at position ${i}.`);
      tokens.push({ kind: "int", value, pos: i });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(ch)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(input.slice(i))!;
      tokens.push({ kind: "word", value: m[0], pos: i });
      i += m[0].length;
    } else {
      throw new FilterError(`Unexpected '${ch}' at position ${i}.`);
    }
  }
  return tokens;
}

const COMPARISONS = new Set(["eq", "ne", "gt", "ge", "lt", "le"]);
const RESERVED = new Set(["and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in"]);

class Parser {
  private i = 0;
  private nodes = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): Node {
    if (this.tokens.length === 0) throw new FilterError("The filter is empty.");
    const node = this.or();
    const extra = this.tokens[this.i];
    if (extra) throw new FilterError(`Unexpected '${this.describe(extra)}' at position ${extra.pos}.`);
    expectType(node, "bool");
    return node;
  }

  private peekWord(word: string): boolean {
    const t = this.tokens[this.i];
    return t !== undefined && t.kind === "word" && t.value === word;
  }

  private peekPunct(p: "(" | ")" | ","): boolean {
    const t = this.tokens[this.i];
    return t !== undefined && t.kind === "punct" && t.value === p;
  }

  private expectPunct(p: "(" | ")" | ","): void {
    const t = this.tokens[this.i];
    if (!t || t.kind !== "punct" || t.value !== p)
      throw new FilterError(
        t
          ? `Expected '${p}' at position ${t.pos}, got '${this.describe(t)}'.`
          : `Expected '${p}' at the end.`,
      );
    this.i++;
  }

  private describe(t: Token): string {
    return t.kind === "string" ? `'${t.value}'` : String(t.value);
  }

  private count(): void {
    if (++this.nodes > MAX_NODES) throw new FilterError("The filter is too complex.");
  }

  private or(): Node {
    let left = this.and();
    while (this.peekWord("or")) {
      this.i++;
      const right = this.and();
      expectType(left, "bool");
      expectType(right, "bool");
      const a = left.eval;
      const b = right.eval;
      this.count();
      left = {
        type: "bool",
        eval: (t) => a(t) === true || b(t) === true,
        text: `${left.text} or ${right.text}`,
      };
    }
    return left;
  }

  private and(): Node {
    let left = this.comparison();
    while (this.peekWord("and")) {
      this.i++;
      const right = this.comparison();
      expectType(left, "bool");
      expectType(right, "bool");
      const a = left.eval;
      const b = right.eval;
      this.count();
      left = {
        type: "bool",
        eval: (t) => a(t) === true && b(t) === true,
        text: `${left.text} and ${right.text}`,
      };
    }
    return left;
  }

  private comparison(): Node {
    const left = this.unary();
    const t = this.tokens[this.i];
    if (t?.kind === "word" && COMPARISONS.has(t.value)) {
      this.i++;
      const right = this.unary();
      this.count();
      return compare(t.value, left, right);
    }
    if (t?.kind === "word" && t.value === "in") {
      this.i++;
      this.count();
      return this.inExpression(left);
    }
    return left;
  }

  private inExpression(left: Node): Node {
    if (left.type === "collection" || left.type === "bool")
      throw new FilterError(`Invalid syntax for '${left.text} in': expect a primitive value.`);
    const l = left.eval;
    // `x in groups` or `x in (groups)`
    const save = this.i;
    let parens = 0;
    while (this.peekPunct("(")) {
      this.i++;
      parens++;
    }
    const t = this.tokens[this.i];
    if (t?.kind === "word" && identifier(t.value) === "groups") {
      this.i++;
      for (let p = 0; p < parens; p++) this.expectPunct(")");
      return {
        type: "bool",
        eval: (target) => {
          const v = l(target);
          return typeof v === "string" && target.groupSet !== null && target.groupSet.has(v);
        },
        text: `${left.text} in groups`,
      };
    }
    this.i = save;
    this.expectPunct("(");
    const items: Node[] = [this.unary()];
    while (this.peekPunct(",")) {
      this.i++;
      items.push(this.unary());
    }
    this.expectPunct(")");
    for (const item of items) {
      if (item.type === "collection" || item.type === "bool")
        throw new FilterError(`Invalid syntax for '${item.text}' in an 'in' list: expect a primitive value.`);
      if (left.type !== "null" && item.type !== "null" && item.type !== left.type)
        throw new FilterError(
          `Invalid syntax for '${left.text} in': Type '${item.type}', expect '${left.type}'.`,
        );
    }
    const evals = items.map((item) => item.eval);
    return {
      type: "bool",
      eval: (target) => {
        const v = l(target);
        for (const e of evals) if (e(target) === v) return true;
        return false;
      },
      text: `${left.text} in (...)`,
    };
  }

  private unary(): Node {
    if (this.peekWord("not")) {
      this.i++;
      const operand = this.unary();
      if (operand.type !== "bool")
        throw new FilterError(
          `Invalid syntax for 'not ${operand.text}': Type '${operand.type}', expect 'bool'.`,
        );
      const e = operand.eval;
      this.count();
      return { type: "bool", eval: (t) => e(t) !== true, text: `not ${operand.text}` };
    }
    return this.primary();
  }

  private primary(): Node {
    const t = this.tokens[this.i];
    if (!t) throw new FilterError("The filter ends unexpectedly.");
    this.count();
    if (t.kind === "punct") {
      if (t.value !== "(") throw new FilterError(`Unexpected '${t.value}' at position ${t.pos}.`);
      this.i++;
      const inner = this.or();
      this.expectPunct(")");
      return { ...inner, text: `(${inner.text})` };
    }
    this.i++;
    if (t.kind === "string") {
      const v = t.value;
      return { type: "string", eval: () => v, text: `'${v}'` };
    }
    if (t.kind === "int") {
      const v = t.value;
      return { type: "int", eval: () => v, text: String(v) };
    }
    const word = t.value;
    if (word === "true" || word === "false") {
      const v = word === "true";
      return { type: "bool", eval: () => v, text: word };
    }
    if (word === "null") return { type: "null", eval: () => null, text: "null" };
    if (this.peekPunct("(")) return this.call(word, t.pos);
    const id = identifier(word);
    if (id === "userId") return { type: "string", eval: (c) => c.userId, text: "userId" };
    if (id === "connectionId") return { type: "string", eval: (c) => c.connectionId, text: "connectionId" };
    if (id === "groups") return { type: "collection", eval: (c) => c.groupSet ?? EMPTY, text: "groups" };
    if (RESERVED.has(word)) throw new FilterError(`Unexpected '${word}' at position ${t.pos}.`);
    throw new FilterError(`Unknown identifier '${word}' at position ${t.pos}.`);
  }

  private call(name: string, pos: number): Node {
    this.expectPunct("(");
    const args: Node[] = [];
    if (!this.peekPunct(")")) {
      args.push(this.or());
      while (this.peekPunct(",")) {
        this.i++;
        args.push(this.or());
      }
    }
    this.expectPunct(")");
    const text = `${name}(${args.map((a) => a.text).join(",")})`;
    const arity = (n: number, m = n): void => {
      if (args.length < n || args.length > m)
        throw new FilterError(
          `Function '${name}' takes ${n === m ? n : `${n} or ${m}`} arguments: '${text}'.`,
        );
    };
    const str = (k: number): Eval => {
      const a = args[k]!;
      if (a.type !== "string" && a.type !== "null")
        throw new FilterError(`Invalid syntax for '${text}': Type '${a.type}', expect 'string'.`);
      return a.eval;
    };
    const int = (k: number): number => {
      const a = args[k]!;
      const v = a.eval(NOBODY);
      if (a.type !== "int" || typeof v !== "number")
        throw new FilterError(`Invalid syntax for '${text}': expect an integer literal.`);
      return v;
    };
    switch (name) {
      case "tolower":
      case "toupper":
      case "trim": {
        arity(1);
        const a = str(0);
        const f =
          name === "tolower"
            ? (s: string) => s.toLowerCase()
            : name === "toupper"
              ? (s: string) => s.toUpperCase()
              : (s: string) => s.trim();
        return { type: "string", eval: (t) => mapString(a(t), f), text };
      }
      case "substring": {
        arity(2, 3);
        const a = str(0);
        const start = int(1);
        const length = args.length === 3 ? int(2) : undefined;
        if (start < 0 || (length !== undefined && length < 0))
          throw new FilterError(`Invalid syntax for '${text}': negative index.`);
        return {
          type: "string",
          eval: (t) =>
            mapString(a(t), (s) => (length === undefined ? s.slice(start) : s.slice(start, start + length))),
          text,
        };
      }
      case "concat": {
        arity(2);
        const a = str(0);
        const b = str(1);
        return {
          type: "string",
          eval: (t) => {
            const x = a(t);
            const y = b(t);
            return typeof x === "string" && typeof y === "string" ? x + y : null;
          },
          text,
        };
      }
      case "indexof": {
        arity(2);
        const a = str(0);
        const b = str(1);
        return {
          type: "int",
          eval: (t) => {
            const x = a(t);
            const y = b(t);
            return typeof x === "string" && typeof y === "string" ? x.indexOf(y) : null;
          },
          text,
        };
      }
      case "startswith":
      case "endswith":
      case "contains": {
        arity(2);
        const a = str(0);
        const b = str(1);
        const f =
          name === "startswith"
            ? (x: string, y: string) => x.startsWith(y)
            : name === "endswith"
              ? (x: string, y: string) => x.endsWith(y)
              : (x: string, y: string) => x.includes(y);
        return {
          type: "bool",
          eval: (t) => {
            const x = a(t);
            const y = b(t);
            return typeof x === "string" && typeof y === "string" && f(x, y);
          },
          text,
        };
      }
      case "length": {
        arity(1);
        const a = args[0]!;
        if (a.type !== "string" && a.type !== "collection" && a.type !== "null")
          throw new FilterError(
            `Invalid syntax for '${text}': Type '${a.type}', expect 'string' or 'collection'.`,
          );
        const e = a.eval;
        return {
          type: "int",
          eval: (t) => {
            const v = e(t);
            if (typeof v === "string") return v.length;
            if (v instanceof Set) return v.size;
            return null;
          },
          text,
        };
      }
      default:
        throw new FilterError(`Unknown function '${name}' at position ${pos}.`);
    }
  }
}

const EMPTY: ReadonlySet<string> = new Set();
const NOBODY: FilterTarget = { connectionId: "", userId: null, groupSet: null };

function identifier(word: string): "userId" | "connectionId" | "groups" | undefined {
  switch (word.toLowerCase()) {
    case "userid":
      return "userId";
    case "connectionid":
      return "connectionId";
    case "groups":
      return "groups";
    default:
      return undefined;
  }
}

function mapString(v: Value, f: (s: string) => string): Value {
  return typeof v === "string" ? f(v) : null;
}

function expectType(node: Node, type: Type): void {
  if (node.type !== type)
    throw new FilterError(`Invalid syntax for '${node.text}': Type '${node.type}', expect '${type}'.`);
}

function compare(op: string, left: Node, right: Node): Node {
  for (const side of [left, right])
    if (side.type === "collection")
      throw new FilterError(`Invalid syntax for '${side.text}': a collection cannot be compared.`);
  if (left.type !== "null" && right.type !== "null" && left.type !== right.type)
    throw new FilterError(
      `Invalid syntax for '${left.text} ${op} ${right.text}': Type '${right.type}', expect '${left.type}'.`,
    );
  const a = left.eval;
  const b = right.eval;
  const text = `${left.text} ${op} ${right.text}`;
  const ordered = (f: (x: string | number, y: string | number) => boolean): Eval => {
    return (t) => {
      const x = a(t);
      const y = b(t);
      if (
        (typeof x === "string" && typeof y === "string") ||
        (typeof x === "number" && typeof y === "number")
      )
        return f(x, y);
      return false;
    };
  };
  switch (op) {
    case "eq":
      return { type: "bool", eval: (t) => a(t) === b(t), text };
    case "ne":
      return { type: "bool", eval: (t) => a(t) !== b(t), text };
    case "gt":
      return { type: "bool", eval: ordered((x, y) => x > y), text };
    case "ge":
      return { type: "bool", eval: ordered((x, y) => x >= y), text };
    case "lt":
      return { type: "bool", eval: ordered((x, y) => x < y), text };
    default:
      return { type: "bool", eval: ordered((x, y) => x <= y), text };
  }
}

/**
 * Parses and type-checks an OData filter; throws `FilterError` with a message for the 400
 * answer. An empty or absent filter matches everything (`undefined`).
 */
export function compileFilter(filter: string | null | undefined): FilterPredicate | undefined {
  if (filter === null || filter === undefined || filter.trim() === "") return undefined;
  if (filter.length > MAX_FILTER_LENGTH)
    throw new FilterError(`The filter is longer than ${MAX_FILTER_LENGTH} characters.`);
  const node = new Parser(tokenize(filter)).parse();
  const e = node.eval;
  return (target) => e(target) === true;
}
