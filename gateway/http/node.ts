import type { IncomingMessage, ServerResponse } from "node:http";
import { errorResponse, payloadTooLarge } from "./errors.js";
import type { HandlerRequest, HandlerResponse } from "./types.js";

/** Adapts a node:http request to the neutral handler request. */
export function toHandlerRequest(req: IncomingMessage, base: string): HandlerRequest {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.set(name, value);
  }
  return {
    method: req.method ?? "GET",
    url: new URL(req.url ?? "/", base),
    headers,
    readBody: (limit) => readBody(req, limit),
  };
}

/** Reads a request body, refusing more than `limit` bytes without buffering the excess. */
export function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(payloadTooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off("data", onData);
        req.resume();
        reject(payloadTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => resolve(Buffer.concat(chunks)));
    req.once("error", reject);
  });
}

/** Writes a handler response; JSON bodies get their content type and length. */
export function writeResponse(res: ServerResponse, response: HandlerResponse): void {
  const headers: Record<string, string> = { ...response.headers };
  let body: Buffer | undefined;
  if (response.json !== undefined) {
    body = Buffer.from(JSON.stringify(response.json));
    headers["content-type"] = "application/json; charset=utf-8";
  }
  if (body) headers["content-length"] = String(body.length);
  res.writeHead(response.status, headers);
  res.end(body);
}

/** Runs a handler for a node:http request, answering thrown errors with their code. */
export async function runHandler(
  handler: (request: HandlerRequest) => Promise<HandlerResponse>,
  req: IncomingMessage,
  res: ServerResponse,
  base: string,
): Promise<HandlerResponse> {
  let response: HandlerResponse;
  try {
    response = await handler(toHandlerRequest(req, base));
  } catch (err) {
    response = errorResponse(err);
  }
  if (!res.headersSent && !res.destroyed) writeResponse(res, response);
  return response;
}
