import { HeraldError } from "../../core/errors.js";
import type { HandlerResponse } from "../http/types.js";
import type { HeaderReader } from "./request.js";

/** Request headers browsers may send to the live endpoints (EventSource adds Last-Event-ID). */
const ALLOWED_HEADERS = "authorization, content-type, last-event-id, cache-control";
const EXPOSED_HEADERS = "retry-after, www-authenticate";
/** Shared by every request without an Origin (most of them): held by each open connection. */
const NO_CORS: Readonly<Record<string, string>> = Object.freeze({});

function originOf(url: string): string | undefined {
  try {
    const origin = new URL(url).origin;
    return origin === "null" ? undefined : origin;
  } catch {
    return undefined;
  }
}

/**
 * Which browser origins may call the live endpoints (`HERALD_ALLOWED_ORIGINS`): a list of origins,
 * `*` for any, or nothing for the gateway's own origin only. Requests without an `Origin` header are
 * not from a browser page on another origin, so they pass (the token still guards them).
 */
export class OriginPolicy {
  readonly #any: boolean;
  readonly #allowed: Set<string>;

  constructor(allowed: readonly string[] | undefined, publicUrl?: string) {
    this.#any = allowed?.includes("*") ?? false;
    this.#allowed = new Set();
    for (const entry of allowed ?? []) {
      if (entry === "*") continue;
      const origin = originOf(entry);
      if (!origin) {
        throw new HeraldError(
          "HERALD_INVALID_CONFIG",
          `HERALD_ALLOWED_ORIGINS: "${entry.slice(0, 100)}" is not an origin like https://app.example.com`,
          { target: "HERALD_ALLOWED_ORIGINS" },
        );
      }
      this.#allowed.add(origin);
    }
    const own = publicUrl ? originOf(publicUrl) : undefined;
    if (own) this.#allowed.add(own);
  }

  /**
   * CORS headers for the answer; throws HERALD_ORIGIN_NOT_ALLOWED for a browser origin not allowed.
   * `selfOrigin` is the origin the request was addressed to (same-origin requests always pass).
   */
  check(headers: HeaderReader, selfOrigin: string | undefined): Readonly<Record<string, string>> {
    const origin = headers.get("origin");
    if (origin === null) return NO_CORS;
    if (this.#any)
      return { "access-control-allow-origin": "*", "access-control-expose-headers": EXPOSED_HEADERS };
    if (origin !== selfOrigin && !this.#allowed.has(origin)) {
      throw new HeraldError(
        "HERALD_ORIGIN_NOT_ALLOWED",
        `origin ${JSON.stringify(origin.slice(0, 200))} may not call this gateway; add it to HERALD_ALLOWED_ORIGINS`,
        { target: "Origin" },
      );
    }
    return {
      "access-control-allow-origin": origin,
      "access-control-expose-headers": EXPOSED_HEADERS,
      vary: "Origin",
    };
  }

  /** The answer to a CORS preflight (`OPTIONS`) for `methods`. */
  preflight(headers: HeaderReader, selfOrigin: string | undefined, methods: string): HandlerResponse {
    const cors = this.check(headers, selfOrigin);
    return {
      status: 204,
      headers: {
        ...cors,
        "access-control-allow-methods": methods,
        "access-control-allow-headers": ALLOWED_HEADERS,
        "access-control-max-age": "600",
      },
    };
  }
}

/**
 * The origin a request was addressed to, from its Host header (and X-Forwarded-Proto behind a TLS
 * proxy). Set HERALD_PUBLIC_URL where a proxy rewrites Host.
 */
export function requestOrigin(headers: HeaderReader): string | undefined {
  const host = headers.get("host");
  if (!host) return undefined;
  const proto = headers.get("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase();
  return originOf(`${proto === "https" ? "https" : "http"}://${host}`);
}
