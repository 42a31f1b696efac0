import { SqlSyntaxError } from "./errors.js";

export type TokenKind = "identifier" | "keyword" | "string" | "number" | "parameter" | "punct" | "eof";

export interface Token {
  readonly kind: TokenKind;
  /**
   * identifier: the name (unescaped); keyword: upper-case; string: the contents (unescaped);
   * number: the source text; parameter: the name without `@`; punct: the operator.
   */
  readonly value: string;
  /** The exact source text of the token. */
  readonly text: string;
  /** 0-based offset of the first character. */
  readonly pos: number;
  /** Identifiers written as `[name]` or `"name"`: never keywords, scopes or function names. */
  readonly delimited?: boolean;
  /** Numbers: an integer constant (Int64) or an approximate one (Double). */
  readonly numeric?: "int" | "double";
}

/** Reserved words; a regular identifier cannot be one of these (use `[name]` instead). */
export const KEYWORDS: ReadonlySet<string> = new Set([
  "AND",
  "OR",
  "NOT",
  "IN",
  "LIKE",
  "ESCAPE",
  "IS",
  "NULL",
  "TRUE",
  "FALSE",
  "EXISTS",
]);

const TWO_CHAR_PUNCT = new Set(["<>", "<=", ">=", "!="]);
const ONE_CHAR_PUNCT = new Set(["=", "<", ">", "+", "-", "*", "/", "%", "(", ")", ",", ".", ";"]);
const INT64_MAX = 9223372036854775807n;

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;
const SPACE = /^\s$/u;

/** `[[:IsLetter:]]`, tested per UTF-16 unit as .NET's Char.IsLetter does. */
function isLetter(ch: string): boolean {
  const c = ch.charCodeAt(0);
  if (c < 128) return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  return LETTER.test(ch);
}

function isIdentifierPart(ch: string): boolean {
  const c = ch.charCodeAt(0);
  if (c < 128) return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95;
  return LETTER.test(ch) || DIGIT.test(ch);
}

function isAsciiDigit(ch: string | undefined): boolean {
  return ch !== undefined && ch >= "0" && ch <= "9";
}

function isSpace(ch: string): boolean {
  const c = ch.charCodeAt(0);
  if (c < 128) return c === 32 || (c >= 9 && c <= 13);
  return SPACE.test(ch);
}

/** Shows a character in an error message; control characters by code. */
export function showChar(ch: string): string {
  const c = ch.charCodeAt(0);
  return c < 32 || c === 127 ? `character U+${c.toString(16).toUpperCase().padStart(4, "0")}` : `'${ch}'`;
}

/** Splits an expression into tokens; the last one is always `eof`. Throws SqlSyntaxError. */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const n = source.length;
  let i = 0;
  while (i < n) {
    const ch = source[i]!;
    if (isSpace(ch)) {
      i++;
      continue;
    }
    const start = i;
    if (ch === "'") {
      const [value, end] = readQuoted(source, i, "'", "string literal");
      tokens.push({ kind: "string", value, text: source.slice(start, end), pos: start });
      i = end;
    } else if (ch === "[") {
      const [value, end] = readQuoted(source, i, "]", "delimited identifier");
      pushDelimited(tokens, source, value, start, end);
      i = end;
    } else if (ch === '"') {
      const [value, end] = readQuoted(source, i, '"', "quoted identifier");
      pushDelimited(tokens, source, value, start, end);
      i = end;
    } else if (isAsciiDigit(ch) || (ch === "." && isAsciiDigit(source[i + 1]))) {
      i = readNumber(source, i, tokens);
    } else if (ch === "@") {
      i++;
      while (i < n && isIdentifierPart(source[i]!)) i++;
      if (i === start + 1) {
        throw new SqlSyntaxError(`expected a parameter name after '@' at position ${start}`, start);
      }
      const text = source.slice(start, i);
      tokens.push({ kind: "parameter", value: text.slice(1), text, pos: start });
    } else if (isLetter(ch)) {
      i++;
      while (i < n && isIdentifierPart(source[i]!)) i++;
      const text = source.slice(start, i);
      const upper = text.toUpperCase();
      if (KEYWORDS.has(upper)) tokens.push({ kind: "keyword", value: upper, text, pos: start });
      else tokens.push({ kind: "identifier", value: text, text, pos: start });
    } else {
      const two = source.slice(i, i + 2);
      if (TWO_CHAR_PUNCT.has(two)) {
        tokens.push({ kind: "punct", value: two, text: two, pos: start });
        i += 2;
      } else if (ONE_CHAR_PUNCT.has(ch)) {
        tokens.push({ kind: "punct", value: ch, text: ch, pos: start });
        i++;
      } else {
        throw new SqlSyntaxError(`unexpected ${showChar(ch)} at position ${start}`, start);
      }
    }
  }
  tokens.push({ kind: "eof", value: "", text: "", pos: n });
  return tokens;
}

function pushDelimited(tokens: Token[], source: string, value: string, start: number, end: number): void {
  if (value.length === 0) {
    throw new SqlSyntaxError(`empty identifier at position ${start}`, start);
  }
  tokens.push({ kind: "identifier", value, text: source.slice(start, end), pos: start, delimited: true });
}

/** Reads `'...'`, `[...]` or `"..."` starting at `start`, where a doubled closer stands for itself. */
function readQuoted(source: string, start: number, close: string, what: string): [string, number] {
  let value = "";
  let i = start + 1;
  let chunk = i;
  for (;;) {
    const at = source.indexOf(close, i);
    if (at < 0) throw new SqlSyntaxError(`unterminated ${what} at position ${start}`, start);
    if (source[at + 1] === close) {
      value += source.slice(chunk, at + 1);
      i = at + 2;
      chunk = i;
      continue;
    }
    value += source.slice(chunk, at);
    return [value, at + 1];
  }
}

function readNumber(source: string, start: number, tokens: Token[]): number {
  let i = start;
  let approximate = false;
  while (isAsciiDigit(source[i])) i++;
  if (source[i] === ".") {
    approximate = true;
    i++;
    while (isAsciiDigit(source[i])) i++;
  }
  if (source[i] === "e" || source[i] === "E") {
    approximate = true;
    let j = i + 1;
    if (source[j] === "+" || source[j] === "-") j++;
    if (!isAsciiDigit(source[j])) {
      throw new SqlSyntaxError(`expected digits in the exponent of a number at position ${j}`, j);
    }
    while (isAsciiDigit(source[j])) j++;
    i = j;
  }
  const text = source.slice(start, i);
  if (approximate) {
    if (!Number.isFinite(Number(text))) {
      throw new SqlSyntaxError(`number ${text} is out of range at position ${start}`, start);
    }
  } else if (BigInt(text) > INT64_MAX) {
    throw new SqlSyntaxError(`integer ${text} is out of the Int64 range at position ${start}`, start);
  }
  tokens.push({ kind: "number", value: text, text, pos: start, numeric: approximate ? "double" : "int" });
  return i;
}

/** How a token is named in "expected X but found Y". */
export function describeToken(t: Token): string {
  switch (t.kind) {
    case "eof":
      return "end of input";
    case "punct":
      return `'${t.value}'`;
    case "keyword":
      return t.value;
    case "identifier":
      return `identifier ${clip(t.text)}`;
    case "string":
      return `string ${clip(t.text)}`;
    case "number":
      return `number ${clip(t.text)}`;
    case "parameter":
      return `parameter ${clip(t.text)}`;
  }
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
