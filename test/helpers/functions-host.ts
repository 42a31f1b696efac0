/**
 * What the Azure Functions host does around a function, done in-process with the real `HttpRequest`
 * and `InvocationContext` of `@azure/functions`: build the HTTP request, and for a Service Bus trigger
 * receive a message (peek-lock), hand over its body and metadata as the host does, then settle it as
 * `autoCompleteMessages: true` does (return -> complete, throw -> abandon).
 */
import { randomUUID } from "node:crypto";
import azureFunctions, { type HttpResponseInit } from "@azure/functions";
import type { ServiceBusReceivedMessage, ServiceBusReceiver } from "@azure/service-bus";

const { HttpRequest, InvocationContext } = azureFunctions;

/** Where `func start` listens; the handlers see it only as the request's URL. */
export const FUNCTIONS_BASE = "http://localhost:7071";

export function httpRequest(
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: string } = {},
): InstanceType<typeof HttpRequest> {
  return new HttpRequest({
    method,
    url: `${FUNCTIONS_BASE}${path}`,
    headers: { host: "localhost:7071", ...init.headers },
    ...(init.body === undefined ? {} : { body: { string: init.body } }),
  });
}

export function invocation(
  functionName: string,
  triggerMetadata?: Record<string, unknown>,
): InstanceType<typeof InvocationContext> {
  return new InvocationContext({
    functionName,
    invocationId: randomUUID(),
    ...(triggerMetadata ? { triggerMetadata } : {}),
  });
}

/** The body of an HTTP function's answer as JSON. */
export function jsonOf(response: HttpResponseInit): unknown {
  if (typeof response.body !== "string") throw new Error("the response has no text body");
  return JSON.parse(response.body);
}

/**
 * The body as the Node worker receives it: the host sends the message body as text when it is UTF-8
 * and the library parses text that is JSON; other bytes stay bytes.
 */
function hostBody(message: ServiceBusReceivedMessage): unknown {
  const body: unknown = message.body;
  if (!(body instanceof Uint8Array)) return body;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    return Buffer.from(body);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The trigger metadata the Service Bus extension passes (camelCase, dates as ISO text). */
export function triggerMetadataOf(message: ServiceBusReceivedMessage): Record<string, unknown> {
  return {
    messageId: message.messageId,
    deliveryCount: message.deliveryCount,
    enqueuedTimeUtc: message.enqueuedTimeUtc?.toISOString(),
    expiresAtUtc: message.expiresAtUtc?.toISOString(),
    contentType: message.contentType,
    subject: message.subject,
    sequenceNumber: message.sequenceNumber?.toString(),
    lockToken: message.lockToken,
    applicationProperties: message.applicationProperties ?? {},
  };
}

export interface TriggerRun {
  message: ServiceBusReceivedMessage;
  /** What the handler threw (the message was then abandoned); undefined: it returned (completed). */
  error: unknown;
}

/** Receives one message and runs the trigger's handler on it; undefined if none came in time. */
export async function runServiceBusTrigger(
  receiver: ServiceBusReceiver,
  handler: (message: unknown, context: InstanceType<typeof InvocationContext>) => Promise<void>,
  functionName = "fanout",
  maxWaitTimeInMs = 5_000,
): Promise<TriggerRun | undefined> {
  const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs });
  if (!message) return undefined;
  try {
    await handler(hostBody(message), invocation(functionName, triggerMetadataOf(message)));
  } catch (error) {
    await receiver.abandonMessage(message);
    return { message, error };
  }
  await receiver.completeMessage(message);
  return { message, error: undefined };
}
