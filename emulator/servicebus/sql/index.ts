/**
 * The Service Bus SQL filter and action language (the subset of SQL-92 that Service Bus rules
 * use). Contract between the broker and the SQL engine.
 */

/** A scalar value in a message property or a SQL expression. */
export type SqlValue = string | number | boolean | Date | null;

/**
 * What a filter or action sees of a message. `system` holds the broker properties addressed as
 * `sys.<Name>` (MessageId, CorrelationId, Label, To, ReplyTo, SessionId, ReplyToSessionId,
 * ContentType, DeliveryCount, SequenceNumber, EnqueuedTimeUtc, ScheduledEnqueueTimeUtc, Size,
 * TimeToLive, ExpiresAtUtc); `user` the application properties, addressed as `user.<name>` or by
 * bare name. Property names in `system` are matched case-insensitively; in `user` exactly.
 */
export interface SqlMessageView {
  system: Map<string, SqlValue>;
  user: Map<string, SqlValue>;
}

/** A parsed filter; `matches` never throws for a well-formed message view. */
export interface CompiledFilter {
  readonly expression: string;
  matches(message: SqlMessageView): boolean;
}

/** A parsed action (`SET a = expr; REMOVE b`); `apply` mutates the view. */
export interface CompiledAction {
  readonly expression: string;
  apply(message: SqlMessageView): void;
}

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

export function compileFilter(
  _expression: string,
  _parameters?: Record<string, string | number | boolean | Date>,
): CompiledFilter {
  throw new Error("the SQL filter engine is being built (issue 2)");
}

export function compileAction(
  _expression: string,
  _parameters?: Record<string, string | number | boolean | Date>,
): CompiledAction {
  throw new Error("the SQL filter engine is being built (issue 2)");
}
