import { HeraldError } from "../../core/errors.js";
import { signDevToken } from "../auth/tokens.js";
import type { Handler } from "../http/types.js";

/** `POST /api/dev/token` body. */
export interface DevTokenRequest {
  /** The `sub` of the token: 1..128 printable characters. */
  userId: string;
  /** The `groups` claim (at most 20). */
  groups?: string[];
  /** Adds the publish role (`HERALD_JWT_PUBLISH_ROLE`) so the token can `POST /api/notifications`. */
  publish?: boolean;
  /** @default 3600 (60..86400) */
  expiresInSeconds?: number;
}

/** `POST /api/dev/token` answer. */
export interface DevTokenResponse {
  token: string;
  userId: string;
  groups: string[];
  roles: string[];
  expiresAt: string;
}

export interface DevTokenHandlerOptions {
  /** HERALD_JWT_SECRET: the key application JWTs are verified with. */
  secret: string;
  /** HERALD_JWT_PUBLISH_ROLE */
  publishRole: string;
}

const MAX_BODY_BYTES = 4096;
const MAX_GROUPS = 20;
const FIELDS = new Set(["userId", "groups", "publish", "expiresInSeconds"]);
// eslint-disable-next-line no-control-regex
const NAME_PATTERN = /^[^\u0000-\u001f\u007f]{1,128}$/;

function invalid(target: string, message: string): never {
  throw new HeraldError("HERALD_INVALID_FIELD", message, { target });
}

/** Checks a dev token request; throws the first problem with the field it concerns. */
export function parseDevTokenRequest(body: unknown): Required<DevTokenRequest> {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    invalid("", "the body must be a JSON object");
  const record = body as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!FIELDS.has(key))
      throw new HeraldError("HERALD_UNKNOWN_FIELD", `unknown field ${JSON.stringify(key)}`, { target: key });
  }
  const { userId, groups = [], publish = false, expiresInSeconds = 3600 } = record;
  if (typeof userId !== "string" || !NAME_PATTERN.test(userId))
    invalid("userId", "userId must be a string of 1 to 128 printable characters");
  if (!Array.isArray(groups) || groups.length > MAX_GROUPS)
    invalid("groups", `groups must be an array of at most ${MAX_GROUPS} strings`);
  groups.forEach((g: unknown, i) => {
    if (typeof g !== "string" || !NAME_PATTERN.test(g))
      invalid(`groups[${i}]`, `groups[${i}] must be a string of 1 to 128 printable characters`);
  });
  if (typeof publish !== "boolean") invalid("publish", "publish must be true or false");
  if (
    typeof expiresInSeconds !== "number" ||
    !Number.isInteger(expiresInSeconds) ||
    expiresInSeconds < 60 ||
    expiresInSeconds > 86400
  )
    invalid("expiresInSeconds", "expiresInSeconds must be a whole number from 60 to 86400");
  return { userId, groups: [...new Set(groups as string[])], publish, expiresInSeconds };
}

/**
 * `POST /api/dev/token`: signs an application JWT for any user with the local HS256 secret, so the
 * demo page can sign in without an identity provider. Development only (HERALD_DEV_TOKENS): it lets
 * whoever reaches the gateway act as anyone. Only JSON bodies are accepted, so a cross-site form post
 * cannot mint a token (a JSON POST from another origin needs a preflight the gateway does not grant).
 */
export function createDevTokenHandler(options: DevTokenHandlerOptions): Handler {
  return async (request) => {
    const type = request.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
    if (type !== "application/json")
      throw new HeraldError("HERALD_UNSUPPORTED_MEDIA_TYPE", "send the request as application/json");
    const raw = await request.readBody(MAX_BODY_BYTES);
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
    } catch (err) {
      throw new HeraldError("HERALD_MALFORMED_JSON", `the body is not valid JSON: ${(err as Error).message}`);
    }
    const claims = parseDevTokenRequest(body);
    const roles = claims.publish ? [options.publishRole] : [];
    const token = await signDevToken(options.secret, { ...claims, roles });
    const answer: DevTokenResponse = {
      token,
      userId: claims.userId,
      groups: claims.groups,
      roles,
      expiresAt: new Date(Date.now() + claims.expiresInSeconds * 1000).toISOString(),
    };
    return { status: 200, headers: { "cache-control": "no-store" }, json: answer };
  };
}
