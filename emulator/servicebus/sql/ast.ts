import type { SystemProperty } from "./system-properties.js";

/** Every node has `pos`: the 0-based offset where its source text starts. */

export type CompareOp = "=" | "<>" | "!=" | ">" | ">=" | "<" | "<=";
export type ArithmeticOp = "+" | "-" | "*" | "/" | "%";

export interface LiteralNode {
  readonly kind: "literal";
  readonly pos: number;
  readonly value: string | number | boolean | Date | null;
  /** For numbers: Int64 (integer constant) or Double (decimal / scientific constant). */
  readonly numeric?: "int" | "double";
}

export interface PropertyNode {
  readonly kind: "property";
  readonly pos: number;
  readonly scope: "sys" | "user";
  /** User properties: the exact key. System properties: the canonical name. */
  readonly name: string;
  /** Set for `sys.` references. */
  readonly system?: SystemProperty;
}

export interface UnaryNode {
  readonly kind: "unary";
  readonly pos: number;
  readonly op: "+" | "-";
  readonly operand: ValueNode;
}

export interface ArithmeticNode {
  readonly kind: "arithmetic";
  readonly pos: number;
  /** Where the operator is. */
  readonly opPos: number;
  readonly op: ArithmeticOp;
  readonly left: ValueNode;
  readonly right: ValueNode;
}

export interface CallNode {
  readonly kind: "call";
  readonly pos: number;
  readonly name: "newid" | "property";
  readonly args: readonly ValueNode[];
}

export type ValueNode = LiteralNode | PropertyNode | UnaryNode | ArithmeticNode | CallNode;

export interface CompareNode {
  readonly kind: "compare";
  readonly pos: number;
  readonly opPos: number;
  readonly op: CompareOp;
  readonly left: ValueNode;
  readonly right: ValueNode;
}

export interface LogicalNode {
  readonly kind: "and" | "or";
  readonly pos: number;
  readonly left: PredicateNode;
  readonly right: PredicateNode;
}

export interface NotNode {
  readonly kind: "not";
  readonly pos: number;
  readonly operand: PredicateNode;
}

export interface InNode {
  readonly kind: "in";
  readonly pos: number;
  readonly opPos: number;
  readonly negated: boolean;
  readonly operand: ValueNode;
  readonly items: readonly ValueNode[];
}

export interface LikeNode {
  readonly kind: "like";
  readonly pos: number;
  readonly opPos: number;
  readonly negated: boolean;
  readonly operand: ValueNode;
  readonly pattern: ValueNode;
  readonly escape?: ValueNode;
}

export interface IsNullNode {
  readonly kind: "isNull";
  readonly pos: number;
  readonly negated: boolean;
  readonly property: PropertyNode;
}

export interface ExistsNode {
  readonly kind: "exists";
  readonly pos: number;
  readonly property: PropertyNode;
}

export type PredicateNode = CompareNode | LogicalNode | NotNode | InNode | LikeNode | IsNullNode | ExistsNode;

export type Node = ValueNode | PredicateNode;

export interface SetStatement {
  readonly kind: "set";
  readonly pos: number;
  readonly target: PropertyNode;
  readonly value: ValueNode;
}

export interface RemoveStatement {
  readonly kind: "remove";
  readonly pos: number;
  readonly target: PropertyNode;
}

export type ActionStatement = SetStatement | RemoveStatement;

const PREDICATE_KINDS: ReadonlySet<string> = new Set([
  "compare",
  "and",
  "or",
  "not",
  "in",
  "like",
  "isNull",
  "exists",
]);

export function isPredicate(node: Node): node is PredicateNode {
  return PREDICATE_KINDS.has(node.kind);
}

/**
 * Prints a node as a fully parenthesised expression that parses back to the same tree. Used by
 * tests to check precedence, and handy when debugging a rule.
 */
export function formatNode(node: Node): string {
  switch (node.kind) {
    case "literal":
      return formatLiteral(node);
    case "property":
      return `${node.scope}.[${node.name.replaceAll("]", "]]")}]`;
    case "unary":
      return `(${node.op}${formatNode(node.operand)})`;
    case "arithmetic":
    case "compare":
      return `(${formatNode(node.left)} ${node.op} ${formatNode(node.right)})`;
    case "call":
      return `${node.name}(${node.args.map(formatNode).join(", ")})`;
    case "and":
      return `(${formatNode(node.left)} AND ${formatNode(node.right)})`;
    case "or":
      return `(${formatNode(node.left)} OR ${formatNode(node.right)})`;
    case "not":
      return `(NOT ${formatNode(node.operand)})`;
    case "in":
      return `(${formatNode(node.operand)} ${node.negated ? "NOT IN" : "IN"} (${node.items.map(formatNode).join(", ")}))`;
    case "like": {
      const escape = node.escape === undefined ? "" : ` ESCAPE ${formatNode(node.escape)}`;
      return `(${formatNode(node.operand)} ${node.negated ? "NOT LIKE" : "LIKE"} ${formatNode(node.pattern)}${escape})`;
    }
    case "isNull":
      return `(${formatNode(node.property)} ${node.negated ? "IS NOT NULL" : "IS NULL"})`;
    case "exists":
      return `EXISTS(${formatNode(node.property)})`;
  }
}

function formatLiteral(node: LiteralNode): string {
  const v = node.value;
  if (v === null) return "NULL";
  if (typeof v === "string") return `'${v.replaceAll("'", "''")}'`;
  if (typeof v === "boolean") return v ? "TRUE" : "FALSE";
  if (v instanceof Date) return `<date ${Number.isNaN(v.getTime()) ? "invalid" : v.toISOString()}>`;
  if (node.numeric === "double") {
    // Keep the constant approximate when printed back (2.0, not 2).
    const s = String(v);
    return /[.eE]|Infinity|NaN/.test(s) ? s : `${s}.0`;
  }
  return String(v);
}

/** Prints action statements, one per `;`. */
export function formatStatements(statements: readonly ActionStatement[]): string {
  return statements
    .map((s) =>
      s.kind === "set"
        ? `SET ${formatNode(s.target)} = ${formatNode(s.value)}`
        : `REMOVE ${formatNode(s.target)}`,
    )
    .join("; ");
}
