/**
 * The emulator accepts any well-formed, unexpired Shared Access Signature: the Authorization
 * header the SDK builds from a connection string. It does not verify the signature, because
 * the emulator's well-known key (`SAS_KEY_VALUE`) is public anyway.
 */

export type AuthCheck = { ok: true; keyName: string } | { ok: false; reason: string };

const REQUIRED = ["sr", "sig", "se", "skn"] as const;

/** Checks an `Authorization` header value; `nowMs` is the current time. */
export function checkAuthorization(header: string | undefined, nowMs: number): AuthCheck {
  if (header === undefined || header.trim() === "")
    return { ok: false, reason: "MissingToken: the request has no Authorization header." };
  const match = /^\s*(\S+)\s+(.+?)\s*$/.exec(header);
  if (!match) return { ok: false, reason: "MalformedToken: the Authorization header has no token." };
  const [, scheme = "", token = ""] = match;
  if (scheme.toLowerCase() !== "sharedaccesssignature")
    return {
      ok: false,
      reason: `InvalidToken: the emulator accepts only SharedAccessSignature tokens, not "${scheme.slice(0, 32)}".`,
    };

  const fields = new Map<string, string>();
  for (const part of token.split("&")) {
    const eq = part.indexOf("=");
    if (eq <= 0) return { ok: false, reason: "MalformedToken: a token field is not key=value." };
    const key = part.slice(0, eq).trim().toLowerCase();
    let value: string;
    try {
      value = decodeURIComponent(part.slice(eq + 1));
    } catch {
      return { ok: false, reason: `MalformedToken: the ${key} field is not URL-encoded correctly.` };
    }
    if (fields.has(key)) return { ok: false, reason: `MalformedToken: the ${key} field appears twice.` };
    fields.set(key, value);
  }
  for (const key of REQUIRED) {
    if (!fields.get(key)) return { ok: false, reason: `MalformedToken: the token has no ${key} field.` };
  }
  const se = fields.get("se") ?? "";
  if (!/^\d{1,15}$/.test(se))
    return { ok: false, reason: "MalformedToken: the se field is not a Unix time." };
  if (Number(se) * 1000 < nowMs) return { ok: false, reason: "ExpiredToken: the token has expired." };
  return { ok: true, keyName: fields.get("skn") ?? "" };
}
