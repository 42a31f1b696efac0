/**
 * JWT HS256 as Azure Web PubSub uses it: the access key's UTF-8 bytes are the HMAC key (not
 * base64-decoded), for REST calls, client access tokens and our reconnection tokens alike.
 * node:crypto only; no dependency.
 */
import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from "node:crypto";

export interface JwtClaims {
  aud?: string | string[];
  sub?: string;
  exp?: number;
  nbf?: number;
  iat?: number;
  [claim: string]: unknown;
}

export type JwtResult = { ok: true; claims: JwtClaims } | { ok: false; reason: string };

const HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");

/** Imported once per key: an HMAC per handshake and per REST call should not re-import it. */
const keys = new Map<string, KeyObject>();
function secret(key: string): KeyObject {
  let k = keys.get(key);
  if (k === undefined) {
    if (keys.size > 16) keys.clear();
    k = createSecretKey(Buffer.from(key, "utf8"));
    keys.set(key, k);
  }
  return k;
}

/** HMAC-SHA256 of the concatenated `parts` with the key's UTF-8 bytes. */
export function hmac(key: string, ...parts: string[]): Buffer {
  const h = createHmac("sha256", secret(key));
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Signs `claims` with HS256; `iat` is added when absent. */
export function signJwt(claims: JwtClaims, key: string, now = Date.now()): string {
  const body = { iat: Math.floor(now / 1000), ...claims };
  const payload = Buffer.from(JSON.stringify(body)).toString("base64url");
  const signature = hmac(key, `${HEADER}.${payload}`).toString("base64url");
  return `${HEADER}.${payload}.${signature}`;
}

/**
 * Verifies signature, algorithm, `exp` and `nbf` (both with `skewSeconds` of tolerance).
 * The audience is the caller's business: REST and client tokens match it differently.
 */
export function verifyJwt(token: string, key: string, skewSeconds: number, now = Date.now()): JwtResult {
  const parts = token.split(".");
  if (parts.length !== 3) return { ok: false, reason: "The token is not a JWT." };
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  let header: unknown;
  let claims: unknown;
  try {
    // The SDKs' header is always this one; skip parsing it.
    header =
      headerPart === HEADER
        ? { alg: "HS256" }
        : JSON.parse(Buffer.from(headerPart, "base64url").toString("utf8"));
    claims = JSON.parse(Buffer.from(payloadPart, "base64url").toString("utf8"));
  } catch {
    return { ok: false, reason: "The token is not a JWT." };
  }
  if (!isObject(header) || header.alg !== "HS256")
    return { ok: false, reason: "The token must be signed with HS256." };
  if (!isObject(claims)) return { ok: false, reason: "The token has no claims." };
  const expected = hmac(key, headerPart, ".", payloadPart);
  const given = Buffer.from(signaturePart, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, reason: "The token signature is invalid." };
  const seconds = now / 1000;
  if (claims.exp !== undefined && (typeof claims.exp !== "number" || claims.exp + skewSeconds < seconds))
    return { ok: false, reason: "The token is expired." };
  if (claims.nbf !== undefined && (typeof claims.nbf !== "number" || claims.nbf - skewSeconds > seconds))
    return { ok: false, reason: "The token is not valid yet." };
  return { ok: true, claims: claims as JwtClaims };
}

/** The `aud` claim as a list (JWT allows a string or an array). */
export function audiences(claims: JwtClaims): string[] {
  const aud = claims.aud;
  if (typeof aud === "string") return [aud];
  if (Array.isArray(aud)) return aud.filter((a): a is string => typeof a === "string");
  return [];
}

/** A claim that may be one string or an array of strings (`role`, `webpubsub.group`). */
export function stringList(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
  return [];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Random URL-safe ids (22 characters, 128 bits) for connection ids and reconnection tokens,
 * cut from a pooled random buffer: one native call per 256 ids rather than one per connection.
 */
let pool = Buffer.alloc(0);
let poolAt = 0;
export function randomId(): string {
  if (poolAt + 16 > pool.length) {
    pool = randomBytes(4096);
    poolAt = 0;
  }
  const id = pool.toString("base64url", poolAt, poolAt + 16);
  poolAt += 16;
  return id;
}

/** Compares secrets without leaking where they differ. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
