import { SignJWT, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { HeraldError } from "../../core/errors.js";
import { signDevToken } from "../auth/tokens.js";
import { GatewayTokens } from "./tokens.js";

const SECRET = "0123456789abcdef0123456789abcdef";

async function reason(tokens: GatewayTokens, token: string | undefined): Promise<string> {
  try {
    await tokens.verify(token);
  } catch (err) {
    expect(err).toBeInstanceOf(HeraldError);
    expect((err as HeraldError).code).toBe("HERALD_UNAUTHORIZED");
    return (err as HeraldError).message;
  }
  throw new Error("verified");
}

describe("GatewayTokens", () => {
  it("round-trips user, groups and a fresh connection id per token", async () => {
    const tokens = new GatewayTokens({ secret: SECRET, ttlSeconds: 60 });
    const a = await tokens.sign({ userId: "alice", groups: ["ops", "dev"] });
    const b = await tokens.sign({ userId: "alice", groups: [] });
    expect(a.connectionId).not.toBe(b.connectionId);
    expect(a.expiresAt - Date.now()).toBeLessThanOrEqual(60_000);
    expect(await tokens.verify(a.token)).toEqual({
      userId: "alice",
      groups: ["ops", "dev"],
      connectionId: a.connectionId,
    });
  });

  it("is shared by replicas with the same secret and refused by others", async () => {
    const token = (await new GatewayTokens({ secret: SECRET }).sign({ userId: "u", groups: [] })).token;
    expect((await new GatewayTokens({ secret: SECRET }).verify(token)).userId).toBe("u");
    expect(await reason(new GatewayTokens(), token)).toMatch(/signed by another gateway/);
  });

  it("refuses missing, expired and application tokens signed with the same key", async () => {
    const tokens = new GatewayTokens({ secret: SECRET });
    expect(await reason(tokens, undefined)).toMatch(/needs the token from negotiate/);
    const old = new GatewayTokens({ secret: SECRET, ttlSeconds: 30, now: () => Date.now() - 600_000 });
    expect(await reason(tokens, (await old.sign({ userId: "u", groups: [] })).token)).toMatch(/expired/);
    // Same key, no gateway audience: an application JWT is not a gateway token.
    expect(await reason(tokens, await signDevToken(SECRET, { userId: "u" }))).toMatch(/not a gateway token/);
    const noCid = await new SignJWT({ groups: [] })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("u")
      .setAudience("herald-gateway")
      .setExpirationTime("1m")
      .sign(new TextEncoder().encode(SECRET));
    expect(await reason(tokens, noCid)).toMatch(/lacks its user, groups or connection id/);
  });

  it("are standard HS256 JWTs (jose verifies them) and refuse tampering, alg none and junk", async () => {
    const tokens = new GatewayTokens({ secret: SECRET });
    const { token } = await tokens.sign({ userId: "alice", groups: ["ops"] });
    const { payload, protectedHeader } = await jwtVerify(token, new TextEncoder().encode(SECRET), {
      audience: "herald-gateway",
    });
    expect(protectedHeader.alg).toBe("HS256");
    expect(payload).toMatchObject({ sub: "alice", groups: ["ops"] });

    const [h, p, sig] = token.split(".") as [string, string, string];
    const forged = Buffer.from(JSON.stringify({ ...payload, sub: "mallory" })).toString("base64url");
    expect(await reason(tokens, `${h}.${forged}.${sig}`)).toMatch(/malformed/);
    const none = Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url");
    expect(await reason(tokens, `${none}.${p}.`)).toMatch(/malformed/);
    expect(await reason(tokens, `${h}.${p}`)).toMatch(/malformed/);
    expect(await reason(tokens, "a".repeat(20_000))).toMatch(/malformed/);
    const otherAud = await new SignJWT({ groups: [], cid: "c" })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("u")
      .setAudience("someone-else")
      .setExpirationTime("1m")
      .sign(new TextEncoder().encode(SECRET));
    expect(await reason(tokens, otherAud)).toMatch(/not a gateway token/);
  });

  it("rejects a short secret at construction", () => {
    expect(() => new GatewayTokens({ secret: "short" })).toThrow(
      expect.objectContaining({ code: "HERALD_INVALID_CONFIG", target: "HERALD_GATEWAY_TOKEN_SECRET" }),
    );
  });
});
