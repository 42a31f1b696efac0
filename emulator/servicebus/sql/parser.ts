import {
  isPredicate,
  type ActionStatement,
  type ArithmeticOp,
  type CallNode,
  type CompareOp,
  type LiteralNode,
  type Node,
  type PredicateNode,
  type PropertyNode,
  type ValueNode,
} from "./ast.js";
import { SqlSyntaxError } from "./errors.js";
import { describeToken, tokenize, type Token } from "./lexer.js";
import { SYSTEM_PROPERTIES, findSystemProperty } from "./system-properties.js";
import type { SqlParameters } from "./types.js";

/** Service Bus rejects SQL expressions longer than this. */
export const MAX_EXPRESSION_LENGTH = 1024;
/** Parentheses, NOT and unary signs nested deeper than this are rejected, so no input can exhaust the stack. */
export const MAX_NESTING_DEPTH = 64;

const COMPARE_OPS: ReadonlySet<string> = new Set(["=", "<>", "!=", ">", ">=", "<", "<="]);
const SETTABLE = SYSTEM_PROPERTIES.filter((p) => p.settable)
  .map((p) => `sys.${p.name}`)
  .join(", ");

/** Parses a filter (`<predicate>`). Throws SqlSyntaxError. */
export function parseFilter(source: string, parameters?: SqlParameters): PredicateNode {
  const parser = new Parser(prepare(source), parameters);
  return parser.filter();
}

/** Parses a rule action (`SET ...; REMOVE ...`). Throws SqlSyntaxError. */
export function parseAction(source: string, parameters?: SqlParameters): ActionStatement[] {
  const parser = new Parser(prepare(source), parameters);
  return parser.action();
}

function prepare(source: unknown): Token[] {
  if (typeof source !== "string") {
    throw new SqlSyntaxError("the expression must be a string at position 0", 0);
  }
  if (source.length > MAX_EXPRESSION_LENGTH) {
    throw new SqlSyntaxError(
      `the expression is ${source.length} characters long; the limit is ${MAX_EXPRESSION_LENGTH} at position ${MAX_EXPRESSION_LENGTH}`,
      MAX_EXPRESSION_LENGTH,
    );
  }
  return tokenize(source);
}

class Parser {
  private index = 0;
  private depth = 0;
  private readonly parameters: Map<string, unknown>;
  private readonly parametersLower: Map<string, unknown>;

  constructor(
    private readonly tokens: Token[],
    parameters: SqlParameters | undefined,
  ) {
    // Parameters may be keyed `@name` (as the .NET SDK shows) or `name`.
    this.parameters = new Map();
    this.parametersLower = new Map();
    if (parameters !== undefined && parameters !== null && typeof parameters === "object") {
      for (const [key, value] of Object.entries(parameters)) {
        const name = key.startsWith("@") ? key.slice(1) : key;
        this.parameters.set(name, value);
        if (!this.parametersLower.has(name.toLowerCase()))
          this.parametersLower.set(name.toLowerCase(), value);
      }
    }
  }

  // ---- entry points ----

  filter(): PredicateNode {
    if (this.peek().kind === "eof") this.fail("a condition");
    const node = this.requirePredicate(this.or());
    if (this.peek().kind !== "eof") this.fail("AND, OR or end of input");
    return node;
  }

  action(): ActionStatement[] {
    const statements: ActionStatement[] = [];
    if (this.peek().kind === "eof") this.fail("SET or REMOVE");
    while (this.peek().kind !== "eof") {
      const t = this.peek();
      const word = t.kind === "identifier" && !t.delimited ? t.value.toUpperCase() : "";
      if (word === "SET") {
        this.next();
        const target = this.property();
        if (target.system !== undefined && !target.system.settable) {
          throw new SqlSyntaxError(
            `sys.${target.system.name} is read-only; SET can change ${SETTABLE} and user properties at position ${target.pos}`,
            target.pos,
          );
        }
        this.expectPunct("=");
        const value = this.requireValue(this.additive());
        statements.push({ kind: "set", pos: t.pos, target, value });
      } else if (word === "REMOVE") {
        this.next();
        const target = this.property();
        if (target.scope === "sys") {
          throw new SqlSyntaxError(
            `REMOVE applies to user properties only, not sys.${target.name} at position ${target.pos}`,
            target.pos,
          );
        }
        statements.push({ kind: "remove", pos: t.pos, target });
      } else {
        this.fail(statements.length === 0 ? "SET or REMOVE" : "SET, REMOVE or end of input");
      }
      // The separator is optional: `SET a = 1 SET b = 2` is as valid as `SET a = 1; SET b = 2;`.
      if (this.isPunct(";")) this.next();
      else if (this.peek().kind !== "eof" && !this.startsStatement()) {
        this.fail("';', SET, REMOVE or end of input");
      }
    }
    return statements;
  }

  // ---- predicates: OR < AND < NOT < comparison ----

  private or(): Node {
    this.enter();
    let left = this.and();
    while (this.isKeyword("OR")) {
      const l = this.requirePredicate(left);
      this.next();
      const right = this.requirePredicate(this.and());
      left = { kind: "or", pos: l.pos, left: l, right };
    }
    this.depth--;
    return left;
  }

  private and(): Node {
    let left = this.not();
    while (this.isKeyword("AND")) {
      const l = this.requirePredicate(left);
      this.next();
      const right = this.requirePredicate(this.not());
      left = { kind: "and", pos: l.pos, left: l, right };
    }
    return left;
  }

  private not(): Node {
    if (!this.isKeyword("NOT")) return this.comparison();
    const t = this.next();
    this.enter();
    const operand = this.requirePredicate(this.not());
    this.depth--;
    return { kind: "not", pos: t.pos, operand };
  }

  private comparison(): Node {
    const left = this.additive();
    const t = this.peek();
    if (t.kind === "punct" && COMPARE_OPS.has(t.value)) {
      const l = this.requireValue(left);
      this.next();
      const right = this.requireValue(this.additive());
      return { kind: "compare", pos: l.pos, opPos: t.pos, op: t.value as CompareOp, left: l, right };
    }
    if (t.kind !== "keyword") return left;
    switch (t.value) {
      case "IS": {
        this.next();
        const negated = this.isKeyword("NOT");
        if (negated) this.next();
        this.expectKeyword("NULL");
        if (left.kind !== "property") {
          throw new SqlSyntaxError(`IS [NOT] NULL applies to a property at position ${left.pos}`, left.pos);
        }
        return { kind: "isNull", pos: left.pos, negated, property: left };
      }
      case "NOT": {
        const after = this.tokens[this.index + 1];
        if (after?.kind !== "keyword" || (after.value !== "IN" && after.value !== "LIKE")) {
          this.next();
          this.fail("IN or LIKE after NOT");
        }
        this.next();
        return this.inOrLike(left, true, t);
      }
      case "IN":
      case "LIKE":
        return this.inOrLike(left, false, t);
      default:
        return left;
    }
  }

  private inOrLike(left: Node, negated: boolean, opToken: Token): PredicateNode {
    const operand = this.requireValue(left);
    const keyword = this.next();
    if (keyword.value === "IN") {
      this.expectPunct("(");
      const items: ValueNode[] = [this.requireValue(this.additive())];
      while (this.isPunct(",")) {
        this.next();
        items.push(this.requireValue(this.additive()));
      }
      this.expectPunct(")");
      return { kind: "in", pos: operand.pos, opPos: opToken.pos, negated, operand, items };
    }
    const pattern = this.requireValue(this.additive());
    if (!this.isKeyword("ESCAPE")) {
      return { kind: "like", pos: operand.pos, opPos: opToken.pos, negated, operand, pattern };
    }
    this.next();
    const escape = this.requireValue(this.additive());
    return { kind: "like", pos: operand.pos, opPos: opToken.pos, negated, operand, pattern, escape };
  }

  // ---- expressions: additive < multiplicative < unary < primary ----

  private additive(): Node {
    let left = this.multiplicative();
    while (this.isPunct("+") || this.isPunct("-")) {
      const l = this.requireValue(left);
      const op = this.next();
      const right = this.requireValue(this.multiplicative());
      left = { kind: "arithmetic", pos: l.pos, opPos: op.pos, op: op.value as ArithmeticOp, left: l, right };
    }
    return left;
  }

  private multiplicative(): Node {
    let left = this.unary();
    while (this.isPunct("*") || this.isPunct("/") || this.isPunct("%")) {
      const l = this.requireValue(left);
      const op = this.next();
      const right = this.requireValue(this.unary());
      left = { kind: "arithmetic", pos: l.pos, opPos: op.pos, op: op.value as ArithmeticOp, left: l, right };
    }
    return left;
  }

  private unary(): Node {
    if (!this.isPunct("+") && !this.isPunct("-")) return this.primary();
    const op = this.next();
    this.enter();
    const operand = this.requireValue(this.unary());
    this.depth--;
    // Fold signed numeric constants so `-1` costs nothing at evaluation time.
    if (operand.kind === "literal" && typeof operand.value === "number") {
      const value = op.value === "-" ? -operand.value : operand.value;
      return { ...operand, pos: op.pos, value };
    }
    return { kind: "unary", pos: op.pos, op: op.value as "+" | "-", operand };
  }

  private primary(): Node {
    const t = this.peek();
    switch (t.kind) {
      case "number":
        this.next();
        return { kind: "literal", pos: t.pos, value: Number(t.value), numeric: t.numeric ?? "int" };
      case "string":
        this.next();
        return { kind: "literal", pos: t.pos, value: t.value };
      case "parameter":
        this.next();
        return this.parameter(t);
      case "keyword":
        switch (t.value) {
          case "TRUE":
          case "FALSE":
            this.next();
            return { kind: "literal", pos: t.pos, value: t.value === "TRUE" };
          case "NULL":
            this.next();
            return { kind: "literal", pos: t.pos, value: null };
          case "EXISTS": {
            this.next();
            this.expectPunct("(");
            const property = this.property();
            this.expectPunct(")");
            return { kind: "exists", pos: t.pos, property };
          }
          default:
            return this.fail("an expression");
        }
      case "identifier": {
        const following = this.tokens[this.index + 1];
        if (!t.delimited && following?.kind === "punct" && following.value === "(") return this.call();
        return this.property();
      }
      case "punct":
        if (t.value === "(") {
          this.next();
          const inner = this.or();
          this.expectPunct(")");
          return { ...inner, pos: t.pos };
        }
        return this.fail("an expression");
      case "eof":
        return this.fail("an expression");
    }
  }

  private call(): CallNode {
    const nameToken = this.next();
    const name = nameToken.value.toLowerCase();
    this.expectPunct("(");
    if (name === "newid") {
      this.expectPunct(")");
      return { kind: "call", pos: nameToken.pos, name: "newid", args: [] };
    }
    if (name === "property" || name === "p") {
      this.enter();
      const arg = this.requireValue(this.additive());
      this.depth--;
      this.expectPunct(")");
      return { kind: "call", pos: nameToken.pos, name: "property", args: [arg] };
    }
    throw new SqlSyntaxError(
      `unknown function '${nameToken.value}'; the functions are newid(), property(name) and p(name) at position ${nameToken.pos}`,
      nameToken.pos,
    );
  }

  /** `[<scope> .] <property_name>` */
  private property(): PropertyNode {
    const first = this.peek();
    if (first.kind !== "identifier") return this.fail("a property name");
    this.next();
    if (!this.isPunct(".")) return { kind: "property", pos: first.pos, scope: "user", name: first.value };
    const scope = first.value.toLowerCase();
    if (scope !== "sys" && scope !== "user") {
      throw new SqlSyntaxError(
        `unknown scope '${first.value}'; expected sys or user at position ${first.pos}`,
        first.pos,
      );
    }
    this.next();
    const nameToken = this.peek();
    // After a scope the name cannot be confused with a keyword, so `user.in` is accepted.
    if (nameToken.kind !== "identifier" && nameToken.kind !== "keyword") this.fail("a property name");
    this.next();
    const name = nameToken.kind === "keyword" ? nameToken.text : nameToken.value;
    if (scope === "user") return { kind: "property", pos: first.pos, scope: "user", name };
    const system = findSystemProperty(name);
    if (system === undefined) {
      throw new SqlSyntaxError(
        `unknown system property 'sys.${name}' at position ${nameToken.pos}`,
        nameToken.pos,
      );
    }
    return { kind: "property", pos: first.pos, scope: "sys", name: system.name, system };
  }

  private parameter(t: Token): LiteralNode {
    const value = this.parameters.has(t.value)
      ? this.parameters.get(t.value)
      : this.parametersLower.get(t.value.toLowerCase());
    if (value === undefined) {
      throw new SqlSyntaxError(`parameter @${t.value} is not defined at position ${t.pos}`, t.pos);
    }
    if (typeof value === "string" || typeof value === "boolean")
      return { kind: "literal", pos: t.pos, value };
    if (typeof value === "number") {
      return { kind: "literal", pos: t.pos, value, numeric: Number.isInteger(value) ? "int" : "double" };
    }
    if (value instanceof Date) return { kind: "literal", pos: t.pos, value: new Date(value.getTime()) };
    throw new SqlSyntaxError(
      `parameter @${t.value} must be a string, number, boolean or Date at position ${t.pos}`,
      t.pos,
    );
  }

  // ---- helpers ----

  private requirePredicate(node: Node): PredicateNode {
    if (isPredicate(node)) return node;
    // A bare value where a condition belongs: the parser needed an operator here.
    return this.fail("a comparison operator, IN, LIKE or IS");
  }

  private requireValue(node: Node): ValueNode {
    if (!isPredicate(node)) return node;
    throw new SqlSyntaxError(
      `expected an expression but found a condition at position ${node.pos}`,
      node.pos,
    );
  }

  private enter(): void {
    if (++this.depth > MAX_NESTING_DEPTH) {
      const pos = this.peek().pos;
      throw new SqlSyntaxError(
        `the expression is nested more than ${MAX_NESTING_DEPTH} levels deep at position ${pos}`,
        pos,
      );
    }
  }

  private startsStatement(): boolean {
    const t = this.peek();
    if (t.kind !== "identifier" || t.delimited) return false;
    const word = t.value.toUpperCase();
    return word === "SET" || word === "REMOVE";
  }

  private peek(): Token {
    return this.tokens[this.index]!;
  }

  private next(): Token {
    const t = this.tokens[this.index]!;
    if (t.kind !== "eof") this.index++;
    return t;
  }

  private isPunct(value: string): boolean {
    const t = this.peek();
    return t.kind === "punct" && t.value === value;
  }

  private isKeyword(value: string): boolean {
    const t = this.peek();
    return t.kind === "keyword" && t.value === value;
  }

  private expectPunct(value: string): Token {
    if (!this.isPunct(value)) this.fail(`'${value}'`);
    return this.next();
  }

  private expectKeyword(value: string): Token {
    if (!this.isKeyword(value)) this.fail(value);
    return this.next();
  }

  private fail(expected: string): never {
    const t = this.peek();
    throw new SqlSyntaxError(
      `expected ${expected} but found ${describeToken(t)} at position ${t.pos}`,
      t.pos,
    );
  }
}
