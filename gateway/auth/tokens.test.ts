import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeraldError } from "../../core/errors.js";
import { createPublishAuthorizer, createTokenVerifier, signDevToken } from "./tokens.js";

const SECRET = "a-local-development-secret-of-some-length";

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof HeraldError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error("expected a rejection");
}

describe("HS256 application tokens", () => {
  const verifier = createTokenVerifier({ secret: SECRET });

  it("verify a dev token and read user, groups and roles", async () => {
    const token = await signDevToken(SECRET, {
      userId: "alice",
      groups: ["ops", "eu"],
      roles: ["herald.publish"],
    });
    expect(await verifier.verify(token)).toEqual({
      userId: "alice",
      groups: ["ops", "eu"],
      roles: ["herald.publish"],
    });
  });

  it("reject a token signed with another secret, an expired one, and junk", async () => {
    const other = await signDevToken("another-secret-entirely-0123456789", { userId: "alice" });
    expect(await failure(verifier.verify(other))).toMatchObject({
      code: "HERALD_UNAUTHORIZED",
      message: /signature/,
    });
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("alice")
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(new TextEncoder().encode(SECRET));
    expect(await failure(verifier.verify(expired))).toMatchObject({
      code: "HERALD_UNAUTHORIZED",
      message: /expired/,
    });
    expect(await failure(verifier.verify("not.a.jwt"))).toMatchObject({ code: "HERALD_UNAUTHORIZED" });
  });

  it("reject a token without the user claim, and check issuer and audience", async () => {
    const noSub = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(SECRET));
    expect(await failure(verifier.verify(noSub))).toMatchObject({ message: /no sub claim/ });
    const strict = createTokenVerifier({ secret: SECRET, issuer: "https://idp", audience: "herald" });
    const token = await signDevToken(SECRET, { userId: "bob" });
    expect(await failure(strict.verify(token))).toMatchObject({
      code: "HERALD_UNAUTHORIZED",
      message: /claim/,
    });
  });

  it("read user and groups from configured claims, including nested ones", async () => {
    const custom = createTokenVerifier({ secret: SECRET, userClaim: "oid", groupsClaim: "realm.groups" });
    const token = await new SignJWT({ oid: "u-7", realm: { groups: ["a"] } })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(SECRET));
    expect(await custom.verify(token)).toEqual({ userId: "u-7", groups: ["a"], roles: [] });
  });
});

describe("JWKS application tokens", () => {
  let server: Server;
  let jwksUrl: string;
  let sign: (claims: Record<string, unknown>) => Promise<string>;

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair("RS256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256", use: "sig" };
    server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/keys`;
    sign = (claims) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: "RS256", kid: "k1" })
        .setIssuer("https://idp.test")
        .setAudience("herald")
        .setExpirationTime("5m")
        .sign(privateKey);
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("verify a token from the identity provider's keys with issuer and audience", async () => {
    const verifier = createTokenVerifier({ jwksUrl, issuer: "https://idp.test", audience: "herald" });
    expect(await verifier.verify(await sign({ sub: "carol", groups: "team" }))).toEqual({
      userId: "carol",
      groups: ["team"],
      roles: [],
    });
    const wrongAudience = createTokenVerifier({ jwksUrl, issuer: "https://idp.test", audience: "other" });
    expect(await failure(wrongAudience.verify(await sign({ sub: "carol" })))).toMatchObject({
      message: /aud claim/,
    });
  });
});

describe("publish authorizer", () => {
  const authorize = createPublishAuthorizer({
    keys: ["publish-key-1"],
    verifier: createTokenVerifier({ secret: SECRET }),
    publishRole: "herald.publish",
  });
  const bearer = (token: string): Headers => new Headers({ authorization: `Bearer ${token}` });

  it("accept a configured key or a JWT with the publish role", async () => {
    expect(await authorize(bearer("publish-key-1"))).toBe("key#0");
    const token = await signDevToken(SECRET, { userId: "svc", roles: ["herald.publish"] });
    expect(await authorize(bearer(token))).toBe("user:svc");
  });

  it("answer 401 without or with a bad credential and 403 for a user token", async () => {
    expect(await failure(authorize(new Headers()))).toMatchObject({ code: "HERALD_UNAUTHORIZED" });
    expect(await failure(authorize(bearer("publish-key-2")))).toMatchObject({ code: "HERALD_UNAUTHORIZED" });
    expect(await failure(authorize(new Headers({ authorization: "Basic abc" })))).toMatchObject({
      code: "HERALD_UNAUTHORIZED",
    });
    const user = await signDevToken(SECRET, { userId: "alice" });
    expect(await failure(authorize(bearer(user)))).toMatchObject({ code: "HERALD_FORBIDDEN" });
  });
});
