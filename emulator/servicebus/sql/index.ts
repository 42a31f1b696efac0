/**
 * The Service Bus SQL filter and action language (the subset of SQL-92 that Service Bus rules
 * use). Contract between the broker and the SQL engine; the grammar and semantics are described
 * in docs/servicebus-sql.md.
 */
import { SqlEvaluationError } from "./errors.js";
import {
  compilePredicate,
  compileStatement,
  rollback,
  type Step,
  type Test,
  type UndoEntry,
} from "./evaluate.js";
import { parseAction, parseFilter } from "./parser.js";
import type { SqlMessageView } from "./types.js";

export { SqlEvaluationError, SqlSyntaxError } from "./errors.js";
export { MAX_EXPRESSION_LENGTH, MAX_NESTING_DEPTH } from "./parser.js";
export type { SqlMessageView, SqlValue } from "./types.js";

/**
 * A parsed filter; `matches` never throws for a well-formed message view.
 *
 * `matches` is true only when the expression evaluates to TRUE: FALSE, unknown (e.g. a comparison
 * with a missing property) and an evaluation error (e.g. comparing a string with a number) all
 * give false. A broker that must tell an error apart — Service Bus raises a filter evaluation
 * exception, and `deadLetteringOnFilterEvaluationExceptions` decides whether the message is
 * dead-lettered — calls {@link evaluateFilter} instead, which returns the three-valued result or
 * the {@link SqlEvaluationError}.
 */
export interface CompiledFilter {
  readonly expression: string;
  matches(message: SqlMessageView): boolean;
}

/**
 * A parsed action (`SET a = expr; REMOVE b`); `apply` mutates the view. `apply` never throws: an
 * action that fails on a message (see {@link applyAction}) leaves the view as it was.
 */
export interface CompiledAction {
  readonly expression: string;
  apply(message: SqlMessageView): void;
}

/** The outcome of a filter on one message. */
export interface SqlFilterEvaluation {
  /** TRUE, FALSE, or null for unknown; null as well when `error` is set. */
  readonly value: boolean | null;
  /** Set when evaluation failed (Service Bus: a filter evaluation exception). */
  readonly error?: SqlEvaluationError;
}

/** The outcome of an action on one message. */
export type SqlActionResult =
  { readonly ok: true } | { readonly ok: false; readonly error: SqlEvaluationError };

const TRUE: SqlFilterEvaluation = Object.freeze({ value: true });
const FALSE: SqlFilterEvaluation = Object.freeze({ value: false });
const UNKNOWN: SqlFilterEvaluation = Object.freeze({ value: null });
const OK: SqlActionResult = Object.freeze({ ok: true });

class SqlFilter implements CompiledFilter {
  constructor(
    readonly expression: string,
    private readonly test: Test,
  ) {}

  matches(message: SqlMessageView): boolean {
    try {
      return this.test(message) === true;
    } catch {
      return false;
    }
  }

  evaluate(message: SqlMessageView): SqlFilterEvaluation {
    try {
      const value = this.test(message);
      return value === true ? TRUE : value === false ? FALSE : UNKNOWN;
    } catch (error) {
      return { value: null, error: asEvaluationError(error) };
    }
  }
}

class SqlAction implements CompiledAction {
  constructor(
    readonly expression: string,
    private readonly steps: readonly Step[],
  ) {}

  apply(message: SqlMessageView): void {
    this.run(message);
  }

  run(message: SqlMessageView): SqlActionResult {
    const undo: UndoEntry[] = [];
    try {
      for (const step of this.steps) step(message, undo);
      return OK;
    } catch (error) {
      try {
        rollback(undo);
      } catch {
        // The view itself is broken (not a Map); there is nothing left to restore.
      }
      return { ok: false, error: asEvaluationError(error) };
    }
  }
}

function asEvaluationError(error: unknown): SqlEvaluationError {
  if (error instanceof SqlEvaluationError) return error;
  // Not expected from the engine; a malformed view (e.g. missing maps) lands here.
  const detail = error instanceof Error ? error.message : String(error);
  return new SqlEvaluationError(`evaluation failed: ${detail}`, 0);
}

/**
 * Compiles a filter once; evaluate it per message with `matches` or {@link evaluateFilter}.
 * Throws {@link SqlSyntaxError} (with a 0-based `position`) for any invalid expression, an
 * unknown `sys.` property, an undefined `@parameter`, or an expression over the length or
 * nesting limits.
 *
 * @example
 * const f = compileFilter("sys.Label = 'order' AND user.priority > @min", { "@min": 5 });
 * f.matches({ system: new Map([["Label", "order"]]), user: new Map([["priority", 7]]) }); // true
 */
export function compileFilter(
  expression: string,
  parameters?: Record<string, string | number | boolean | Date>,
): CompiledFilter {
  const ast = parseFilter(expression, parameters);
  return new SqlFilter(expression, compilePredicate(ast));
}

/**
 * Compiles a rule action: `SET <property> = <expression>` and `REMOVE <property>` statements,
 * optionally separated by `;`. Throws {@link SqlSyntaxError}, also for SET on a read-only system
 * property or REMOVE of a system property.
 *
 * @example
 * compileAction("SET sys.Label = 'routed'; REMOVE user.secret").apply(view);
 */
export function compileAction(
  expression: string,
  parameters?: Record<string, string | number | boolean | Date>,
): CompiledAction {
  const statements = parseAction(expression, parameters);
  return new SqlAction(expression, statements.map(compileStatement));
}

/**
 * Evaluates a filter with three-valued logic and reports evaluation errors instead of hiding
 * them. Never throws. A filter that did not come from {@link compileFilter} (e.g. a correlation
 * filter the broker implements itself) is evaluated through its `matches`.
 */
export function evaluateFilter(filter: CompiledFilter, message: SqlMessageView): SqlFilterEvaluation {
  if (filter instanceof SqlFilter) return filter.evaluate(message);
  try {
    return filter.matches(message) ? TRUE : FALSE;
  } catch (error) {
    return { value: null, error: asEvaluationError(error) };
  }
}

/**
 * Applies an action and reports whether it succeeded. Never throws. On failure (e.g. a type
 * error in a SET expression) every change the action made is undone, so the message is exactly
 * as before.
 */
export function applyAction(action: CompiledAction, message: SqlMessageView): SqlActionResult {
  if (action instanceof SqlAction) return action.run(message);
  try {
    action.apply(message);
    return OK;
  } catch (error) {
    return { ok: false, error: asEvaluationError(error) };
  }
}
