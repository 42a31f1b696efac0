import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { errorResponse, payloadTooLarge } from "../gateway/http/errors.js";
import type { Handler, HandlerRequest, HandlerResponse } from "../gateway/http/types.js";

/** An HTTP function's handler, as `app.http` takes it. */
export type AzureHttpHandler = (
  request: HttpRequest,
  context: InvocationContext,
) => Promise<HttpResponseInit>;

/**
 * Adapts a Functions `HttpRequest` to the neutral handler request. The host has already buffered the
 * body; the limit still applies so both hosts answer an oversized body with the same code.
 */
export function toHandlerRequest(request: HttpRequest): HandlerRequest {
  return {
    method: request.method,
    url: new URL(request.url),
    headers: request.headers,
    readBody: async (limit) => {
      const declared = Number(request.headers.get("content-length"));
      if (Number.isFinite(declared) && declared > limit) throw payloadTooLarge(limit);
      const body = new Uint8Array(await request.arrayBuffer());
      if (body.byteLength > limit) throw payloadTooLarge(limit);
      return body;
    },
  };
}

/** A neutral response as the Functions host takes it: JSON bodies serialized exactly as the gateway does. */
export function toHttpResponseInit(response: HandlerResponse): HttpResponseInit {
  const headers: Record<string, string> = { ...response.headers };
  if (response.json === undefined) return { status: response.status, headers };
  headers["content-type"] = "application/json; charset=utf-8";
  return { status: response.status, headers, body: JSON.stringify(response.json) };
}

/**
 * Runs a neutral handler as an HTTP function; a thrown error becomes its `{ code, message }` answer.
 * `handler` is resolved on each call, so its clients are built on the first request, not at load.
 */
export function azureHttpHandler(handler: () => Handler | Promise<Handler>): AzureHttpHandler {
  return async (request) => {
    let response: HandlerResponse;
    try {
      response = await (await handler())(toHandlerRequest(request));
    } catch (err) {
      response = errorResponse(err);
    }
    return toHttpResponseInit(response);
  };
}
