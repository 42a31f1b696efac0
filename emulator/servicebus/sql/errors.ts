/** A syntax or semantic error in an expression, with its 0-based character position. */
export class SqlSyntaxError extends Error {
  override readonly name = "SqlSyntaxError";
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
  }
}

/**
 * A filter or action that compiled but failed on one message: incompatible types (`'a' = 1`),
 * integer division by zero, a bad LIKE pattern computed at run time, a non-string assigned to a
 * string system property. Service Bus raises a filter evaluation exception in these cases; the
 * broker decides what to do (see `deadLetteringOnFilterEvaluationExceptions`).
 * `position` is where in the expression the failing operator or operand starts.
 */
export class SqlEvaluationError extends Error {
  override readonly name = "SqlEvaluationError";
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
  }
}
