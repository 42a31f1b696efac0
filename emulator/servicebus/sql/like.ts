/** A compiled LIKE pattern. */
export type LikeMatcher = (value: string) => boolean;

/** Thrown for a malformed pattern; the caller turns it into a syntax or evaluation error. */
export class LikePatternError extends Error {
  constructor(
    message: string,
    /** Which operand is at fault. */
    readonly part: "pattern" | "escape",
  ) {
    super(message);
  }
}

const ANY_SEQUENCE = -1; // %
const ANY_ONE = -2; // _

/**
 * Compiles a LIKE pattern: `%` matches any run of characters, `_` exactly one (a UTF-16 unit, as
 * a .NET char), every other character itself, case-sensitively; `escape` makes the next character
 * literal. No regular expressions: the general matcher is the iterative wildcard algorithm, which
 * needs at most O(value × pattern) steps, so a hostile pattern cannot make matching exponential.
 */
export function compileLike(pattern: string, escape: string | undefined): LikeMatcher {
  if (escape !== undefined && escape.length !== 1) {
    throw new LikePatternError(`the LIKE escape must be exactly one character, not '${escape}'`, "escape");
  }
  const codes: number[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charCodeAt(i);
    if (escape !== undefined && pattern[i] === escape) {
      i++;
      if (i >= pattern.length) {
        throw new LikePatternError(`the LIKE pattern '${pattern}' ends with its escape character`, "pattern");
      }
      codes.push(pattern.charCodeAt(i));
    } else if (c === 37) {
      if (codes[codes.length - 1] !== ANY_SEQUENCE) codes.push(ANY_SEQUENCE);
    } else if (c === 95) {
      codes.push(ANY_ONE);
    } else {
      codes.push(c);
    }
  }
  return specialise(codes) ?? ((value) => wildcardMatch(value, codes));
}

/** Patterns whose only wildcards are leading/trailing `%` become string methods. */
function specialise(codes: number[]): LikeMatcher | undefined {
  if (codes.includes(ANY_ONE)) return undefined;
  const leading = codes[0] === ANY_SEQUENCE;
  const trailing = codes.length > 1 && codes[codes.length - 1] === ANY_SEQUENCE;
  const inner = codes.slice(leading ? 1 : 0, trailing ? -1 : undefined);
  if (inner.includes(ANY_SEQUENCE)) return undefined;
  const literal = String.fromCharCode(...inner);
  if (leading && trailing) return literal.length === 0 ? () => true : (v) => v.includes(literal);
  if (leading) return literal.length === 0 ? () => true : (v) => v.endsWith(literal);
  if (trailing) return (v) => v.startsWith(literal);
  return (v) => v === literal;
}

function wildcardMatch(value: string, codes: readonly number[]): boolean {
  const n = value.length;
  const m = codes.length;
  let i = 0;
  let j = 0;
  let star = -1; // position in codes after the last % seen
  let mark = 0; // position in value that the last % has consumed up to
  while (i < n) {
    const c = j < m ? codes[j]! : 0;
    if (j < m && (c === ANY_ONE || c === value.charCodeAt(i))) {
      i++;
      j++;
    } else if (j < m && c === ANY_SEQUENCE) {
      star = ++j;
      mark = i;
    } else if (star >= 0) {
      j = star;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (j < m && codes[j] === ANY_SEQUENCE) j++;
  return j === m;
}
