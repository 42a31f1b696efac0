import { describe, expect, it } from "vitest";
import { isHeraldError } from "../../core/errors.js";
import { createTokenVerifier } from "../auth/tokens.js";
import type { HandlerRequest } from "../http/types.js";
import { createDevTokenHandler, parseDevTokenRequest, type DevTokenResponse } from "./dev-token.js";

const SECRET = "dev-token-test-secret-0123456789abcdef";
const handler = createDevTokenHandler({ secret: SECRET, publishRole: "herald.publish" });

function request(body: string, contentType: string | null = "application/json"): HandlerRequest {
  const headers = new Headers();
  if (contentType) headers.set("content-type", contentType);
  const bytes = new TextEncoder().encode(body);
  return {
    method: "POST",
    url: new URL("http://127.0.0.1/api/dev/token"),
    headers,
    readBody: async (limit) => {
      if (bytes.length > limit) throw new Error(`over ${limit}`);
      return bytes;
    },
  };
}

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (err) {
    return isHeraldError(err) ? `${err.code} ${err.target ?? ""}`.trim() : String(err);
  }
  return "resolved";
}

describe("POST /api/dev/token", () => {
  it("signs a token the gateway's verifier accepts, with groups and, on request, the publish role", async () => {
    const verifier = createTokenVerifier({ secret: SECRET });
    const plain = await handler(
      request(JSON.stringify({ userId: "alice", groups: ["ops", "ops", "sales"] })),
    );
    expect(plain.status).toBe(200);
    expect(plain.headers?.["cache-control"]).toBe("no-store");
    const answer = plain.json as DevTokenResponse;
    expect(answer).toMatchObject({ userId: "alice", groups: ["ops", "sales"], roles: [] });
    expect(await verifier.verify(answer.token)).toEqual({
      userId: "alice",
      groups: ["ops", "sales"],
      roles: [],
    });

    const pub = (
      await handler(request(JSON.stringify({ userId: "bot", publish: true, expiresInSeconds: 120 })))
    ).json as DevTokenResponse;
    expect((await verifier.verify(pub.token)).roles).toEqual(["herald.publish"]);
    const left = Date.parse(pub.expiresAt) - Date.now();
    expect(left).toBeGreaterThan(60_000);
    expect(left).toBeLessThanOrEqual(120_000);
  });

  it("a token signed with another secret is not accepted", async () => {
    const answer = (await handler(request(JSON.stringify({ userId: "alice" })))).json as DevTokenResponse;
    const other = createTokenVerifier({ secret: "another-secret-0123456789abcdef-xyz" });
    expect(await codeOf(other.verify(answer.token))).toBe("HERALD_UNAUTHORIZED");
  });

  it.each([
    ["{", "HERALD_MALFORMED_JSON"],
    ["[]", "HERALD_INVALID_FIELD"],
    ["null", "HERALD_INVALID_FIELD"],
    ["{}", "HERALD_INVALID_FIELD userId"],
    ['{"userId":""}', "HERALD_INVALID_FIELD userId"],
    ['{"userId":"a\\nb"}', "HERALD_INVALID_FIELD userId"],
    [JSON.stringify({ userId: "x".repeat(129) }), "HERALD_INVALID_FIELD userId"],
    ['{"userId":"a","groups":"ops"}', "HERALD_INVALID_FIELD groups"],
    ['{"userId":"a","groups":[1]}', "HERALD_INVALID_FIELD groups[0]"],
    [
      JSON.stringify({ userId: "a", groups: Array.from({ length: 21 }, (_, i) => `g${i}`) }),
      "HERALD_INVALID_FIELD groups",
    ],
    ['{"userId":"a","publish":"yes"}', "HERALD_INVALID_FIELD publish"],
    ['{"userId":"a","expiresInSeconds":10}', "HERALD_INVALID_FIELD expiresInSeconds"],
    ['{"userId":"a","expiresInSeconds":1.5e9}', "HERALD_INVALID_FIELD expiresInSeconds"],
    ['{"userId":"a","roles":["admin"]}', "HERALD_UNKNOWN_FIELD roles"],
  ])("answers %s with %s", async (body, expected) => {
    expect(await codeOf(handler(request(body)))).toBe(expected);
  });

  it("takes JSON only, so a cross-site form post cannot mint a token", async () => {
    expect(await codeOf(handler(request('{"userId":"a"}', "text/plain")))).toBe(
      "HERALD_UNSUPPORTED_MEDIA_TYPE",
    );
    expect(await codeOf(handler(request("userId=a", "application/x-www-form-urlencoded")))).toBe(
      "HERALD_UNSUPPORTED_MEDIA_TYPE",
    );
    expect(await codeOf(handler(request('{"userId":"a"}', null)))).toBe("HERALD_UNSUPPORTED_MEDIA_TYPE");
  });

  it("refuses a body over 4 KiB", async () => {
    expect(await codeOf(handler(request(JSON.stringify({ userId: "a", pad: "x".repeat(5000) }))))).toMatch(
      /over 4096/,
    );
  });

  it("parseDevTokenRequest fills defaults", () => {
    expect(parseDevTokenRequest({ userId: "bob" })).toEqual({
      userId: "bob",
      groups: [],
      publish: false,
      expiresInSeconds: 3600,
    });
  });
});
