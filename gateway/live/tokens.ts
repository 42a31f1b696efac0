import { randomBytes, randomUUID } from "node:crypto";
import { SignJWT, errors as joseErrors, jwtVerify } from "jose";
import { HeraldError } from "../../core/errors.js";

/**
 * Who a gateway token speaks for. `connectionId` is fresh for each negotiate: it names the logical
 * connection, so a second long-poll of the same connection while one is open can be refused.
 */
export interface GatewayIdentity {
  userId: string;
  groups: string[];
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
/** Shorter keys are guessable offline from any token a client holds. */
export const MIN_GATEWAY_SECRET_LENGTH = 32;

/**
 * Short-lived tokens for the SSE, long-poll and gap-fill URLs negotiate hands out (EventSource cannot
 * send an Authorization header, so they travel in the query string). HS256 JWTs with the user id,
 * groups and a connection id; the audience keeps them apart from application JWTs signed with the same
 * algorithm.
 */
export class GatewayTokens {
  readonly ttlSeconds: number;
  readonly #secret: Uint8Array<ArrayBuffer>;
  /** Imported once: jose would import a raw secret again on every sign and verify. */
  #key: Promise<CryptoKey> | undefined;
  readonly #now: () => number;

  constructor(options: GatewayTokenOptions = {}) {
    if (options.secret !== undefined && options.secret.length < MIN_GATEWAY_SECRET_LENGTH) {
      throw new HeraldError(
        "HERALD_INVALID_CONFIG",
        `HERALD_GATEWAY_TOKEN_SECRET: must be at least ${MIN_GATEWAY_SECRET_LENGTH} characters`,
        { target: "HERALD_GATEWAY_TOKEN_SECRET" },
      );
    }
    this.#secret =
      options.secret === undefined
        ? new Uint8Array(randomBytes(32))
        : new TextEncoder().encode(options.secret);
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
    const expiresAt = (nowSeconds + this.ttlSeconds) * 1000;
    const token = await new SignJWT({ groups: [...identity.groups], cid: connectionId })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(identity.userId)
      .setAudience(AUDIENCE)
      .setIssuedAt(nowSeconds)
      .setExpirationTime(expiresAt / 1000)
      .sign(await this.#cryptoKey());
    return { token, expiresAt, connectionId };
  }

  /** Verifies a gateway token; rejects with HERALD_UNAUTHORIZED saying why (never echoing the token). */
  async verify(token: string | null | undefined): Promise<GatewayIdentity> {
    if (!token) {
      throw new HeraldError(
        "HERALD_UNAUTHORIZED",
        "this endpoint needs the token from negotiate (`?token=` or `Authorization: Bearer`)",
      );
    }
    let payload;
    try {
      ({ payload } = await jwtVerify(token, await this.#cryptoKey(), {
        algorithms: ["HS256"],
        audience: AUDIENCE,
        currentDate: new Date(this.#now()),
        clockTolerance: 5,
      }));
    } catch (err) {
      const reason =
        err instanceof joseErrors.JWTExpired
          ? "the gateway token has expired; negotiate again"
          : "the gateway token is malformed, was signed by another gateway, or is not a gateway token";
      throw new HeraldError("HERALD_UNAUTHORIZED", reason, { cause: err });
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
    return { userId: payload.sub, groups, connectionId: payload.cid };
  }

  #cryptoKey(): Promise<CryptoKey> {
    return (this.#key ??= crypto.subtle.importKey(
      "raw",
      this.#secret,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    ));
  }
}
