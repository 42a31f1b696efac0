import type { TokenVerifier } from "../auth/tokens.js";
import { createNegotiateHandler, type WebPubSubUrlFunction } from "../handlers/negotiate.js";
import { createPollHandler } from "../handlers/poll.js";
import { createSseHandler } from "../handlers/sse.js";
import { createStreamsHandler } from "../handlers/streams.js";
import type { Route } from "../http/server.js";
import type { Handler } from "../http/types.js";
import type { Logger } from "../log.js";
import { liveErrorResponse } from "./errors.js";
import type { LiveHub } from "./hub.js";
import { OriginPolicy, requestOrigin } from "./origin.js";
import { GATEWAY_TRANSPORTS, LIVE_PATHS } from "./paths.js";
import type { GatewayTokens } from "./tokens.js";

const TRANSPORT_HANDLERS = { sse: createSseHandler, "long-polling": createPollHandler } as const;

export interface LiveRoutesOptions {
  hub: LiveHub;
  /** Signs and verifies the gateway tokens in the transport URLs. */
  tokens: GatewayTokens;
  /** Verifies application JWTs on negotiate. */
  verifier: TokenVerifier;
  /** Web PubSub client URLs for negotiate; without it no websocket transport is offered. */
  webPubSubUrl?: WebPubSubUrlFunction | undefined;
  /** HERALD_PUBLIC_URL: base of the URLs negotiate hands out, and an allowed origin. */
  publicUrl?: string | undefined;
  /** HERALD_ALLOWED_ORIGINS: browser origins allowed besides the gateway's own (`*`: any). */
  allowedOrigins?: readonly string[] | undefined;
  log?: Logger | undefined;
}

/** The answer to a CORS preflight (`OPTIONS`) of an endpoint that takes `methods`. */
export function createPreflightHandler(origins: OriginPolicy, methods: string): Handler {
  return async (request) => {
    try {
      return origins.preflight(request.headers, requestOrigin(request.headers), methods);
    } catch (err) {
      return liveErrorResponse(err);
    }
  };
}

/**
 * The routes of negotiate, SSE, long-poll and gap fill for `startHttpServer`, each with its CORS
 * preflight (`OPTIONS`) and origin check.
 *
 * @example
 * const http = await startHttpServer({ host, port, log, routes: [...otherRoutes, ...liveRoutes({ hub, tokens, verifier })] });
 */
export function liveRoutes(options: LiveRoutesOptions): Route[] {
  const origins = new OriginPolicy(options.allowedOrigins, options.publicUrl);
  const endpoint = { hub: options.hub, tokens: options.tokens, origins };
  const preflight = (methods: string): Handler => createPreflightHandler(origins, methods);
  return [
    {
      method: "POST",
      path: LIVE_PATHS.negotiate,
      handler: createNegotiateHandler({
        verifier: options.verifier,
        tokens: options.tokens,
        webPubSubUrl: options.webPubSubUrl,
        publicUrl: options.publicUrl,
        origins,
        log: options.log,
      }),
    },
    { method: "OPTIONS", path: LIVE_PATHS.negotiate, handler: preflight("POST, OPTIONS") },
    ...GATEWAY_TRANSPORTS.flatMap(({ name, path }): Route[] => [
      { method: "GET", path, raw: TRANSPORT_HANDLERS[name](endpoint) },
      { method: "OPTIONS", path, handler: preflight("GET, OPTIONS") },
    ]),
    {
      method: "GET",
      path: LIVE_PATHS.streams,
      handler: createStreamsHandler({ store: options.hub.store, tokens: options.tokens, origins }),
    },
    { method: "OPTIONS", path: LIVE_PATHS.streams, handler: preflight("GET, OPTIONS") },
  ];
}
