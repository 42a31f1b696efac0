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

/** Values a caller may bind to `@name` parameters. */
export type SqlParameters = Record<string, string | number | boolean | Date>;
