import type { IncomingMessage, ServerResponse } from "node:http";
import { writeLiveError } from "../live/errors.js";
import type { LiveHub } from "../live/hub.js";
import { requestOrigin, type OriginPolicy } from "../live/origin.js";
import { gatewayToken, nodeLiveRequest, requestCursor, startPositions } from "../live/request.js";
import { LIVE_PATHS } from "../live/paths.js";
import { SSE_HEADERS, SseConnection } from "../live/sse.js";
import type { GatewayTokens } from "../live/tokens.js";

/** Shared by every SSE request once its own headers are dropped (frozen: nothing may add to them). */
const NO_HEADERS = Object.freeze({}) as IncomingMessage["headers"];
const NO_RAW_HEADERS = Object.freeze([]) as unknown as string[];

export interface LiveEndpointOptions {
  hub: LiveHub;
  tokens: GatewayTokens;
  origins: OriginPolicy;
}

/**
 * `GET /api/sse?token=…`: a `text/event-stream` of the caller's streams from `Last-Event-ID` (header),
 * `lastEventId` or `cursor` (query), or from now. 401 without a valid gateway token, 403 for a cursor
 * naming another user's stream or a foreign origin, 400 for a malformed cursor, 429 over a limit.
 */
export function createSseHandler(
  options: LiveEndpointOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    let cors: Record<string, string> = {};
    try {
      const request = nodeLiveRequest(req);
      cors = options.origins.check(request.headers, requestOrigin(request.headers));
      const identity = await options.tokens.verify(gatewayToken(request));
      const start = startPositions(
        identity,
        requestCursor(request, ["Last-Event-ID", "lastEventId", "cursor"]),
      );
      if (req.method === "HEAD") {
        res.writeHead(200, { ...SSE_HEADERS, ...cors });
        res.end();
        return;
      }
      if (res.destroyed) return;
      // The request object lives as long as the stream: drop what was read from it, the query (with the
      // token) and the headers (a browser's cookies and user agent), rather than hold them for hours.
      req.url = LIVE_PATHS.sse;
      req.headers = NO_HEADERS;
      req.rawHeaders = NO_RAW_HEADERS;
      const conn = new SseConnection(options.hub, identity, start, res);
      options.hub.admit(conn);
      conn.open(cors);
      void conn.start();
    } catch (err) {
      writeLiveError(res, err, cors);
    }
  };
}
