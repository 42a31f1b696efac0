import {
  createHmac,
  createSecretKey,
  randomBytes,
  randomUUID,
  timingSafeEqual,
  type KeyObject,
} from "node:crypto";
import { HeraldError } from "../../core/errors.js";

/**
 * Who a gateway token speaks for. `connectionId` is fresh for each negotiate: it names the logical
 * connection, so a second long-poll of the same connection while one is open can be refused.
 */
export interface GatewayIdentity {
  userId: string;
  groups: readonly string[];
  connectionId: string;
}

export interface GatewayTokenOptions {
  /** HS256 key shared by every replica; unset: a random key for this process only. */
  secret?: string | undefined;
  /** @default 600 */
  ttlSeconds?: number;
  /** @default Date.now */
  now?: () => number;
}

const AUDIENCE = "herald-gateway";
const HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
const CLOCK_TOLERANCE_SECONDS = 5;
const NO_GROUPS: readonly string[] = Object.freeze([]);
/** Far above any real token (a user in 256 groups); refuses junk before hashing it. */
const MAX_TOKEN_LENGTH = 16_384;
/**
 * Name of the key in the stream store (`StreamStore.sharedSecret`) that signs gateway tokens when
 * HERALD_GATEWAY_TOKEN_SECRET is not set: every replica and the Functions app on one Table store share it.
 */
export const GATEWAY_TOKEN_KEY_NAME = "gateway-token-key";
/** Shorter keys are guessable offline from any token a client holds. */
export const MIN_GATEWAY_SECRET_LENGTH = 32;

/**
 * Short-lived tokens for the SSE, long-poll and gap-fill URLs negotiate hands out (EventSource cannot
 * send an Authorization header, so they travel in the query string). HS256 JWTs with the user id,
 * groups and a connection id; the audience keeps them apart from application JWTs signed with the same
 * algorithm. Signed and checked here with node:crypto, synchronously: every SSE connection and every
 * poll verifies one, and WebCrypto's asynchronous jobs cost measurable memory per connection (see
 * bench/delivery/results.md).
 */
export class GatewayTokens {
  readonly ttlSeconds: number;
  readonly #secret: KeyObject;
  readonly #now: () => number;

  constructor(options: GatewayTokenOptions = {}) {
    if (options.secret !== undefined && options.secret.length < MIN_GATEWAY_SECRET_LENGTH) {
      throw new HeraldError(
        "HERALD_INVALID_CONFIG",
        `HERALD_GATEWAY_TOKEN_SECRET: must be at least ${MIN_GATEWAY_SECRET_LENGTH} characters`,
        { target: "HERALD_GATEWAY_TOKEN_SECRET" },
      );
    }
    this.#secret = createSecretKey(
      options.secret === undefined ? randomBytes(32) : Buffer.from(options.secret, "utf8"),
    );
    this.ttlSeconds = options.ttlSeconds ?? 600;
    this.#now = options.now ?? Date.now;
  }

  /** Signs a token for `identity` with a new connection id. */
  async sign(identity: { userId: string; groups: readonly string[] }): Promise<{
    token: string;
    expiresAt: number;
    connectionId: string;
  }> {
    const nowSeconds = Math.floor(this.#now() / 1000);
    const connectionId = randomUUID();
    const exp = nowSeconds + this.ttlSeconds;
    const payload = {
      sub: identity.userId,
      groups: [...identity.groups],
      cid: connectionId,
      aud: AUDIENCE,
      iat: nowSeconds,
      exp,
    };
    const body = `${HEADER}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
    return { token: `${body}.${this.#mac(body).toString("base64url")}`, expiresAt: exp * 1000, connectionId };
  }

  /** Verifies a gateway token; rejects with HERALD_UNAUTHORIZED saying why (never echoing the token). */
  async verify(token: string | null | undefined): Promise<GatewayIdentity> {
    if (!token) {
      throw new HeraldError(
        "HERALD_UNAUTHORIZED",
        "this endpoint needs the token from negotiate (`?token=` or `Authorization: Bearer`)",
      );
    }
    const payload = this.#verified(token);
    if (!payload) {
      throw new HeraldError(
        "HERALD_UNAUTHORIZED",
        "the gateway token is malformed, was signed by another gateway, or is not a gateway token",
      );
    }
    if (typeof payload.exp !== "number" || this.#now() / 1000 > payload.exp + CLOCK_TOLERANCE_SECONDS) {
      throw new HeraldError("HERALD_UNAUTHORIZED", "the gateway token has expired; negotiate again");
    }
    const groups = payload.groups;
    if (
      typeof payload.sub !== "string" ||
      payload.sub === "" ||
      typeof payload.cid !== "string" ||
      !Array.isArray(groups) ||
      !groups.every((g): g is string => typeof g === "string")
    ) {
      throw new HeraldError(
        "HERALD_UNAUTHORIZED",
        "the gateway token lacks its user, groups or connection id",
      );
    }
    // Most users have no groups: one shared empty list instead of one per connection.
    return {
      userId: payload.sub,
      groups: groups.length === 0 ? NO_GROUPS : groups,
      connectionId: payload.cid,
    };
  }

  #mac(body: string): Buffer {
    return createHmac("sha256", this.#secret).update(body).digest();
  }

  /** The payload of a well-formed HS256 token with a valid signature and our audience, else undefined. */
  #verified(token: string): Record<string, unknown> | undefined {
    if (token.length > MAX_TOKEN_LENGTH) return undefined;
    const parts = token.split(".");
    if (parts.length !== 3) return undefined;
    const [header, body, signature] = parts as [string, string, string];
    const given = Buffer.from(signature, "base64url");
    const expected = this.#mac(`${header}.${body}`);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    try {
      const h = JSON.parse(Buffer.from(header, "base64url").toString()) as { alg?: unknown };
      if (h.alg !== "HS256") return undefined;
      const payload = JSON.parse(Buffer.from(body, "base64url").toString()) as unknown;
      if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return undefined;
      const p = payload as Record<string, unknown>;
      const aud = p.aud;
      if (aud !== AUDIENCE && !(Array.isArray(aud) && aud.includes(AUDIENCE))) return undefined;
      return p;
    } catch {
      return undefined;
    }
  }
}
