import { timingSafeEqual } from "node:crypto";
import { SignJWT, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import { HeraldError } from "../../core/errors.js";

/** Who a verified application token speaks for. */
export interface Identity {
  userId: string;
  groups: string[];
  roles: string[];
}

export interface TokenVerifierOptions {
  /** HS256 secret (local use). */
  secret?: string | undefined;
  /** JWKS of the identity provider (cloud use); RS256/ES256 tokens. */
  jwksUrl?: string | undefined;
  issuer?: string | undefined;
  audience?: string | undefined;
  /** @default "sub" */
  userClaim?: string;
  /** @default "groups" */
  groupsClaim?: string;
}

export interface TokenVerifier {
  /** Resolves to the identity, or rejects with HERALD_UNAUTHORIZED saying why. */
  verify(token: string): Promise<Identity>;
}

function unauthorized(message: string, cause?: unknown): HeraldError {
  return new HeraldError("HERALD_UNAUTHORIZED", message, cause === undefined ? {} : { cause });
}

function stringList(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
  return [];
}

/** Reads a claim by name; a dotted name walks into nested objects (e.g. `realm_access.roles`). */
function claim(payload: JWTPayload, name: string): unknown {
  if (name in payload) return payload[name];
  let value: unknown = payload;
  for (const part of name.split(".")) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Verifies application JWTs: HS256 with a secret, or asymmetric keys from a JWKS URL. */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const userClaim = options.userClaim ?? "sub";
  const groupsClaim = options.groupsClaim ?? "groups";
  const secret = options.secret ? new TextEncoder().encode(options.secret) : undefined;
  const jwks = options.jwksUrl ? createRemoteJWKSet(new URL(options.jwksUrl)) : undefined;
  const common = {
    ...(options.issuer ? { issuer: options.issuer } : {}),
    ...(options.audience ? { audience: options.audience } : {}),
    clockTolerance: 30,
  };
  return {
    async verify(token) {
      if (!secret && !jwks)
        throw unauthorized(
          "the gateway has no way to verify tokens (set HERALD_JWT_SECRET or HERALD_JWT_JWKS_URL)",
        );
      let payload: JWTPayload | undefined;
      let failure: unknown;
      try {
        if (secret) payload = (await jwtVerify(token, secret, { ...common, algorithms: ["HS256"] })).payload;
      } catch (err) {
        failure = err;
      }
      if (!payload && jwks) {
        try {
          payload = (await jwtVerify(token, jwks, { ...common, algorithms: ["RS256", "PS256", "ES256"] }))
            .payload;
        } catch (err) {
          failure = err;
        }
      }
      if (!payload) {
        const reason =
          failure instanceof joseErrors.JWTExpired
            ? "the token has expired"
            : failure instanceof joseErrors.JWTClaimValidationFailed
              ? `the token's ${failure.claim} claim is not accepted`
              : "the token is malformed or its signature does not verify";
        throw unauthorized(reason, failure);
      }
      const userId = claim(payload, userClaim);
      if (typeof userId !== "string" || userId === "")
        throw unauthorized(`the token has no ${userClaim} claim`);
      return { userId, groups: stringList(claim(payload, groupsClaim)), roles: stringList(payload.roles) };
    },
  };
}

/** Signs a development token with the local HS256 secret (what `herald token` prints). */
export async function signDevToken(
  secret: string,
  claims: { userId: string; groups?: string[]; roles?: string[]; expiresInSeconds?: number },
): Promise<string> {
  const jwt = new SignJWT({
    ...(claims.groups?.length ? { groups: claims.groups } : {}),
    ...(claims.roles?.length ? { roles: claims.roles } : {}),
  })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.userId)
    .setIssuedAt()
    .setExpirationTime(`${claims.expiresInSeconds ?? 3600}s`);
  return jwt.sign(new TextEncoder().encode(secret));
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(headers: Headers): string | undefined {
  const value = headers.get("authorization");
  if (!value) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return m?.[1];
}

function sameKey(given: string, key: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface PublishAuthorizerOptions {
  /** Keys accepted as the bearer token. */
  keys: readonly string[];
  verifier: TokenVerifier;
  /** Role a JWT needs to publish. */
  publishRole: string;
}

/**
 * Checks a publishing credential: a configured key, or an application JWT carrying the publish
 * role. No credential or a bad one -> HERALD_UNAUTHORIZED; a valid user token without the role ->
 * HERALD_FORBIDDEN. Resolves to a label for logs (never the credential itself).
 */
export function createPublishAuthorizer(
  options: PublishAuthorizerOptions,
): (headers: Headers) => Promise<string> {
  return async (headers) => {
    const token = bearerToken(headers);
    if (!token) throw unauthorized("publishing needs `Authorization: Bearer <publish key or JWT>`");
    const keyIndex = options.keys.findIndex((key) => sameKey(token, key));
    if (keyIndex >= 0) return `key#${keyIndex}`;
    if (token.split(".").length !== 3) throw unauthorized("the publish key is not recognised");
    const identity = await options.verifier.verify(token);
    if (!identity.roles.includes(options.publishRole)) {
      throw new HeraldError(
        "HERALD_FORBIDDEN",
        `this token lacks the ${options.publishRole} role needed to publish`,
      );
    }
    return `user:${identity.userId}`;
  };
}
