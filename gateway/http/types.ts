/**
 * The neutral request/response shapes every gateway handler uses, so the same handler runs under
 * the gateway's node:http server and under Azure Functions (thin adapters on each side).
 */
export interface HandlerRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Headers;
  /** Reads the whole body; rejects with HERALD_PAYLOAD_TOO_LARGE past `limit` bytes. */
  readBody(limit: number): Promise<Uint8Array>;
}

export interface HandlerResponse {
  status: number;
  headers?: Record<string, string>;
  /** Serialized as JSON with `content-type: application/json`. */
  json?: unknown;
}

export type Handler = (request: HandlerRequest) => Promise<HandlerResponse>;
