/**
 * The one place broker and entity errors become AMQP error conditions (and `$management`
 * status codes). The official client maps these conditions to its `ServiceBusError` codes.
 */
import { EntityError } from "../model.js";
import { BrokerError, type BrokerErrorCode } from "../broker/errors.js";
import { AmqpDecodeError } from "./codec.js";

export interface AmqpErrorShape {
  condition: string;
  description: string;
  info?: Record<string, unknown>;
}

const BROKER_CONDITIONS: Record<BrokerErrorCode, [condition: string, status: number]> = {
  EntityNotFound: ["amqp:not-found", 404],
  EntityDisabled: ["com.microsoft:entity-disabled", 400],
  MessageLockLost: ["com.microsoft:message-lock-lost", 410],
  SessionLockLost: ["com.microsoft:session-lock-lost", 410],
  SessionCannotBeLocked: ["com.microsoft:session-cannot-be-locked", 410],
  MessageNotFound: ["com.microsoft:message-not-found", 404],
  MessageSizeExceeded: ["amqp:link:message-size-exceeded", 403],
  InvalidOperation: ["amqp:not-allowed", 400],
  BadRequest: ["com.microsoft:argument-error", 400],
  Timeout: ["com.microsoft:timeout", 408],
  AlreadyExists: ["com.microsoft:entity-already-exists", 409],
  Unauthorized: ["amqp:unauthorized-access", 401],
  QuotaExceeded: ["amqp:resource-limit-exceeded", 403],
  Internal: ["amqp:internal-error", 500],
};

const ENTITY_CONDITIONS: Record<EntityError["code"], [string, number]> = {
  NotFound: ["amqp:not-found", 404],
  AlreadyExists: ["com.microsoft:entity-already-exists", 409],
  BadRequest: ["com.microsoft:argument-error", 400],
  QuotaExceeded: ["amqp:resource-limit-exceeded", 403],
};

/** Translates any thrown value; unknown errors become `amqp:internal-error` without internals. */
export function toAmqpError(err: unknown): AmqpErrorShape & { status: number } {
  if (err instanceof BrokerError) {
    const [condition, status] = BROKER_CONDITIONS[err.code];
    return { condition, description: err.message, status };
  }
  if (err instanceof EntityError) {
    const [condition, status] = ENTITY_CONDITIONS[err.code];
    return { condition, description: err.message, status };
  }
  if (err instanceof AmqpDecodeError) {
    return { condition: "amqp:decode-error", description: err.message, status: 400 };
  }
  return {
    condition: "amqp:internal-error",
    description: "The emulator failed to process the request; see its log for details.",
    status: 500,
  };
}

/** Whether an error is the broker's or a client's fault (logged at different levels). */
export function isExpectedError(err: unknown): boolean {
  return err instanceof BrokerError || err instanceof EntityError || err instanceof AmqpDecodeError;
}
