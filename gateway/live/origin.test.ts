import { describe, expect, it } from "vitest";
import { HeraldError } from "../../core/errors.js";
import { OriginPolicy, requestOrigin } from "./origin.js";

const h = (init: Record<string, string>): Headers => new Headers(init);

describe("OriginPolicy", () => {
  it("passes requests without an Origin header and same-origin requests", () => {
    const policy = new OriginPolicy(undefined);
    expect(policy.check(h({}), "http://gw:3000")).toEqual({});
    expect(
      policy.check(h({ origin: "http://gw:3000" }), "http://gw:3000")["access-control-allow-origin"],
    ).toBe("http://gw:3000");
    expect(() => policy.check(h({ origin: "http://other" }), "http://gw:3000")).toThrow(
      expect.objectContaining({ code: "HERALD_ORIGIN_NOT_ALLOWED", status: 403 }),
    );
    expect(() => policy.check(h({ origin: "null" }), "http://gw:3000")).toThrow(HeraldError);
  });

  it("allows listed origins (normalized), the public URL's origin, or any with *", () => {
    const policy = new OriginPolicy(
      ["https://App.example.com/", "http://localhost:5173"],
      "https://push.example.com/x",
    );
    for (const origin of ["https://app.example.com", "http://localhost:5173", "https://push.example.com"]) {
      expect(policy.check(h({ origin }), undefined)).toMatchObject({
        "access-control-allow-origin": origin,
        vary: "Origin",
      });
    }
    expect(() => policy.check(h({ origin: "https://app.example.com.evil.net" }), undefined)).toThrow(
      HeraldError,
    );
    expect(
      new OriginPolicy(["*"]).check(h({ origin: "https://x" }), undefined)["access-control-allow-origin"],
    ).toBe("*");
  });

  it("rejects a configured entry that is not an origin", () => {
    expect(() => new OriginPolicy(["app.example.com"])).toThrow(
      expect.objectContaining({ code: "HERALD_INVALID_CONFIG", target: "HERALD_ALLOWED_ORIGINS" }),
    );
  });

  it("answers preflights with methods, headers and max-age", () => {
    const res = new OriginPolicy(["https://a.example"]).preflight(
      h({ origin: "https://a.example" }),
      undefined,
      "GET",
    );
    expect(res.status).toBe(204);
    expect(res.headers).toMatchObject({
      "access-control-allow-methods": "GET",
      "access-control-allow-headers": "authorization, content-type, last-event-id, cache-control",
      "access-control-max-age": "600",
    });
  });

  it("derives the request's own origin from Host and X-Forwarded-Proto", () => {
    expect(requestOrigin(h({ host: "gw.example.com" }))).toBe("http://gw.example.com");
    expect(requestOrigin(h({ host: "gw.example.com", "x-forwarded-proto": "https" }))).toBe(
      "https://gw.example.com",
    );
    expect(requestOrigin(h({}))).toBeUndefined();
    expect(requestOrigin(h({ host: "bad host" }))).toBeUndefined();
  });
});
