import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { audiences, randomId, sameSecret, signJwt, stringList, verifyJwt } from "./auth.js";

const KEY = "0123456789abcdef0123456789abcdef";

describe("JWT HS256", () => {
  it("verifies what it signs and keeps the claims", () => {
    const token = signJwt(
      { aud: "http://localhost/x", sub: "u1", exp: Math.floor(Date.now() / 1000) + 60 },
      KEY,
    );
    const result = verifyJwt(token, KEY, 0);
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.claims.sub).toBe("u1");
      expect(audiences(result.claims)).toEqual(["http://localhost/x"]);
      expect(typeof result.claims.iat).toBe("number");
    }
  });

  it("signs with the key's UTF-8 bytes, as the Azure SDKs do", () => {
    const token = signJwt({ aud: "a" }, KEY);
    const [h, p, s] = token.split(".");
    expect(createHmac("sha256", Buffer.from(KEY, "utf8")).update(`${h}.${p}`).digest("base64url")).toBe(s);
  });

  it("rejects a wrong key, a tampered payload, junk and other algorithms", () => {
    const token = signJwt({ aud: "a" }, KEY);
    expect(verifyJwt(token, KEY + "x", 0)).toEqual({ ok: false, reason: "The token signature is invalid." });
    const [h, , s] = token.split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify({ aud: "b" })).toString("base64url")}.${s}`;
    expect(verifyJwt(forged, KEY, 0).ok).toBe(false);
    expect(verifyJwt("not-a-jwt", KEY, 0).ok).toBe(false);
    expect(verifyJwt("a.b.c", KEY, 0).ok).toBe(false);
    const none = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from("{}").toString("base64url")}.`;
    expect(verifyJwt(none, KEY, 0)).toEqual({ ok: false, reason: "The token must be signed with HS256." });
  });

  it("checks exp and nbf with the given skew", () => {
    const now = Date.now();
    const expired = signJwt({ exp: Math.floor(now / 1000) - 100 }, KEY, now);
    expect(verifyJwt(expired, KEY, 0, now)).toEqual({ ok: false, reason: "The token is expired." });
    expect(verifyJwt(expired, KEY, 300, now).ok).toBe(true);
    const early = signJwt({ nbf: Math.floor(now / 1000) + 100 }, KEY, now);
    expect(verifyJwt(early, KEY, 0, now).ok).toBe(false);
    expect(verifyJwt(early, KEY, 300, now).ok).toBe(true);
    const badExp = signJwt({ exp: "soon" as unknown as number }, KEY, now);
    expect(verifyJwt(badExp, KEY, 0, now).ok).toBe(false);
  });

  it("reads string-or-array claims", () => {
    expect(stringList("a")).toEqual(["a"]);
    expect(stringList(["a", 1, "b"])).toEqual(["a", "b"]);
    expect(stringList(undefined)).toEqual([]);
    expect(audiences({ aud: ["x", "y"] })).toEqual(["x", "y"]);
    expect(audiences({})).toEqual([]);
  });

  it("makes random URL-safe ids and compares secrets", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => randomId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(sameSecret("abc", "abc")).toBe(true);
    expect(sameSecret("abc", "abd")).toBe(false);
    expect(sameSecret("abc", "abcd")).toBe(false);
  });
});
