import type { WebPubSubServiceClient } from "@azure/web-pubsub";
import { HeraldError } from "../../core/errors.js";
import type { NegotiateResponse } from "../../core/live.js";
import { bearerToken, type TokenVerifier } from "../auth/tokens.js";
import type { Handler } from "../http/types.js";
import type { Logger } from "../log.js";
import { liveErrorResponse } from "../live/errors.js";
import { requestOrigin, type OriginPolicy } from "../live/origin.js";
import { GATEWAY_TRANSPORTS, LIVE_PATHS } from "../live/paths.js";
import type { GatewayTokens } from "../live/tokens.js";

/** Who a Web PubSub client URL is for. */
export interface ClientIdentity {
  userId: string;
  groups: readonly string[];
}

/** Builds a Web PubSub client URL (with its access token) for a user and the groups it joins. */
export type WebPubSubUrlFunction = (identity: ClientIdentity) => Promise<{ url: string; expiresAt: number }>;

export interface NegotiateHandlerOptions {
  /** Verifies the application JWT. */
  verifier: TokenVerifier;
  /**
   * Signs the gateway token for the SSE, long-poll and gap-fill URLs. Without it negotiate offers
   * websocket only: the Functions app when it knows no gateway to send fallback clients to.
   */
  tokens?: GatewayTokens | undefined;
  /** Web PubSub client URLs; without it negotiate offers no websocket transport. */
  webPubSubUrl?: WebPubSubUrlFunction | undefined;
  /** The gateway's public base URL (HERALD_PUBLIC_URL); default: the request's own origin. */
  publicUrl?: string | undefined;
  origins: OriginPolicy;
  log?: Logger | undefined;
}

/**
 * A `WebPubSubUrlFunction` on the Web PubSub SDK: `getClientAccessToken` signs the client token
 * locally with the access key (or asks the service with a managed identity).
 */
export function webPubSubUrlFunction(
  client: WebPubSubServiceClient,
  options: { expirationMinutes?: number; now?: () => number } = {},
): WebPubSubUrlFunction {
  const minutes = options.expirationMinutes ?? 60;
  const now = options.now ?? Date.now;
  return async (identity) => {
    const issuedAt = now();
    const { url } = await client.getClientAccessToken({
      userId: identity.userId,
      groups: [...identity.groups],
      expirationTimeInMinutes: minutes,
    });
    return { url, expiresAt: issuedAt + minutes * 60_000 };
  };
}

function joinUrl(base: string, path: string, token: string): string {
  return `${base.replace(/\/+$/, "")}${path}?token=${encodeURIComponent(token)}`;
}

/**
 * `POST /api/negotiate` with `Authorization: Bearer <application JWT>`: the caller's user id and
 * groups and a URL for each transport, in order of preference. The SSE, long-poll and gap-fill URLs
 * carry a short-lived gateway token (EventSource cannot send headers); the websocket URL carries a Web
 * PubSub client token for the same user and groups.
 */
export function createNegotiateHandler(options: NegotiateHandlerOptions): Handler {
  const log = options.log?.child({ component: "negotiate" });
  return async (request) => {
    let cors: Record<string, string> = {};
    try {
      cors = options.origins.check(request.headers, requestOrigin(request.headers));
      if (request.method !== "POST") {
        throw new HeraldError("HERALD_METHOD_NOT_ALLOWED", `${request.method} is not allowed here; use POST`);
      }
      const appToken = bearerToken(request.headers);
      if (!appToken) {
        throw new HeraldError(
          "HERALD_UNAUTHORIZED",
          "negotiate needs `Authorization: Bearer <application JWT>`",
        );
      }
      const identity = await options.verifier.verify(appToken);
      const clientIdentity = { userId: identity.userId, groups: identity.groups };
      const gateway = await options.tokens?.sign(clientIdentity);
      let expiresAt = gateway?.expiresAt ?? Number.POSITIVE_INFINITY;
      const transports: NegotiateResponse["transports"] = [];
      if (options.webPubSubUrl) {
        try {
          const ws = await options.webPubSubUrl(clientIdentity);
          transports.push({ name: "websocket", url: ws.url });
          expiresAt = Math.min(expiresAt, ws.expiresAt);
        } catch (err) {
          // The fallbacks still work without Web PubSub: offer them rather than fail the negotiate.
          log?.warn(
            { err: err instanceof Error ? err.message.slice(0, 200) : String(err) },
            "no Web PubSub URL",
          );
        }
      }
      const base = options.publicUrl ?? requestOrigin(request.headers) ?? request.url.origin;
      if (gateway) {
        for (const { name, path } of GATEWAY_TRANSPORTS) {
          transports.push({ name, url: joinUrl(base, path, gateway.token) });
        }
      }
      if (transports.length === 0) {
        throw new HeraldError("HERALD_NOT_READY", "no transport is available now: Web PubSub did not answer");
      }
      const body: NegotiateResponse = {
        userId: identity.userId,
        groups: identity.groups,
        expiresAt: new Date(expiresAt).toISOString(),
        transports,
        ...(gateway ? { streamsUrl: joinUrl(base, LIVE_PATHS.streams, gateway.token) } : {}),
      };
      log?.debug({ userId: identity.userId, connectionId: gateway?.connectionId }, "negotiated");
      return { status: 200, headers: { ...cors, "cache-control": "no-store" }, json: body };
    } catch (err) {
      return liveErrorResponse(err, cors);
    }
  };
}
