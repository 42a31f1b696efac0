import type { IncomingMessage, ServerResponse } from "node:http";
import { writeLiveError } from "../live/errors.js";
import { PollConnection } from "../live/poll.js";
import { requestOrigin } from "../live/origin.js";
import { gatewayToken, nodeLiveRequest, intParam, requestCursor, startPositions } from "../live/request.js";
import type { LiveEndpointOptions } from "./sse.js";

/** Longest `wait` a poll may ask for: well under the 230 s idle timeouts of Azure's load balancers. */
export const MAX_POLL_WAIT_SECONDS = 60;
export const DEFAULT_POLL_WAIT_SECONDS = 25;

/**
 * `GET /api/poll?token=…&cursor=…&wait=25`: `200 { frames, cursor }` as soon as the caller has frames
 * after `cursor`, or an empty answer after `wait` seconds (0: answer at once). A second poll of the same
 * connection (same token) while one is open is refused with 409.
 */
export function createPollHandler(
  options: LiveEndpointOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    let cors: Record<string, string> = {};
    try {
      const request = nodeLiveRequest(req);
      cors = options.origins.check(request.headers, requestOrigin(request.headers));
      const identity = await options.tokens.verify(gatewayToken(request));
      const waitSeconds = intParam(request, "wait", 0, MAX_POLL_WAIT_SECONDS, DEFAULT_POLL_WAIT_SECONDS);
      const start = startPositions(identity, requestCursor(request, ["cursor"]));
      if (res.destroyed) return;
      const conn = new PollConnection(options.hub, identity, start, res, {
        waitMs: waitSeconds * 1000,
        headers: cors,
      });
      options.hub.admit(conn);
      void conn.start();
    } catch (err) {
      writeLiveError(res, err, cors);
    }
  };
}
