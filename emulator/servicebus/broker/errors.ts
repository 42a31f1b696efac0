/**
 * Errors the broker's messaging operations throw. Each code maps to one AMQP error condition in
 * `amqp/errors.ts` (the one translation point), which the official client turns into its
 * `ServiceBusError` codes.
 */
export type BrokerErrorCode =
  | "EntityNotFound"
  | "EntityDisabled"
  | "MessageLockLost"
  | "SessionLockLost"
  | "SessionCannotBeLocked"
  | "MessageNotFound"
  | "MessageSizeExceeded"
  | "InvalidOperation"
  | "BadRequest"
  | "Timeout"
  | "AlreadyExists"
  | "Unauthorized"
  | "QuotaExceeded"
  | "Internal";

export class BrokerError extends Error {
  override readonly name = "BrokerError";
  constructor(
    readonly code: BrokerErrorCode,
    message: string,
  ) {
    super(message);
  }
}
