import { encodeCursor, type NotRecovered } from "../../core/cursor.js";
import type { StreamsResponse } from "../../core/live.js";
import type { Frame } from "../../core/streams.js";
import type { Handler } from "../http/types.js";
import { liveErrorResponse } from "../live/errors.js";
import { requestOrigin, type OriginPolicy } from "../live/origin.js";
import { gatewayToken, intParam, requestCursor, startPositions } from "../live/request.js";
import type { GatewayTokens } from "../live/tokens.js";
import { MAX_READ_LIMIT, type StreamStore } from "../store/index.js";

export interface StreamsHandlerOptions {
  store: StreamStore;
  tokens: GatewayTokens;
  origins: OriginPolicy;
}

export const DEFAULT_STREAMS_LIMIT = 100;

/**
 * `GET /api/streams?token=…&cursor=…&limit=100`: the frames after a cursor, for gap fill, at most
 * `limit` per call; `more: true` means call again with the returned cursor. The cursor names the
 * streams to read (the caller's own only); without one, every stream of the caller from its oldest
 * retained frame. Lost frames come back as `notRecovered`, never as a silent gap.
 */
export function createStreamsHandler(options: StreamsHandlerOptions): Handler {
  return async (request) => {
    let cors: Record<string, string> = {};
    try {
      cors = options.origins.check(request.headers, requestOrigin(request.headers));
      const identity = await options.tokens.verify(gatewayToken(request));
      const limit = intParam(request, "limit", 1, MAX_READ_LIMIT, DEFAULT_STREAMS_LIMIT);
      const cursor = requestCursor(request, ["cursor"]);
      const positions = startPositions(identity, cursor)
        .filter((p) => cursor === undefined || p.after !== undefined)
        .map((p) => ({ stream: p.stream, after: p.after ?? 0 }));

      const frames: Frame[] = [];
      const notRecovered: NotRecovered[] = [];
      const next = new Map<string, number>();
      let more = false;
      for (const { stream, after } of positions) {
        let pos = after;
        // Without a cursor the caller asks for what is retained: frames before it are not a loss.
        let expectAll = cursor !== undefined;
        for (;;) {
          const room = limit - frames.length;
          if (room === 0) {
            more = true;
            break;
          }
          const r = await options.store.read(stream, pos, room);
          if (pos > r.head) {
            notRecovered.push({ stream, after: pos, resumeAfter: 0, reason: "reset" });
            pos = 0;
            expectAll = false;
            continue;
          }
          if (expectAll && pos + 1 < r.first) {
            notRecovered.push({ stream, after: pos, resumeAfter: r.first - 1, reason: "retention" });
          }
          expectAll = true;
          frames.push(...r.frames);
          pos = Math.max(pos, r.cursor);
          if (r.cursor >= r.head) break;
        }
        next.set(stream, pos);
      }
      const body: StreamsResponse = { frames, cursor: encodeCursor(next), more };
      if (notRecovered.length > 0) body.notRecovered = notRecovered;
      return { status: 200, headers: { ...cors, "cache-control": "no-store" }, json: body };
    } catch (err) {
      return liveErrorResponse(err, cors);
    }
  };
}
