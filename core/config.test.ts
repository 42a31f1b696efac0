import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SECRET_SETTINGS, SETTINGS, readSettings } from "./config.js";
import { HeraldError } from "./errors.js";

describe("settings", () => {
  it("are all listed in docs/configuration.md, and nothing else is", () => {
    const doc = readFileSync(new URL("../docs/configuration.md", import.meta.url), "utf8");
    const documented = new Set([...doc.matchAll(/^\| `(HERALD_[A-Za-z_]+)`/gm)].map((m) => m[1]));
    expect([...documented].sort()).toEqual(Object.keys(SETTINGS).sort());
  });

  it("apply defaults and parse kinds", () => {
    const s = readSettings({
      HERALD_CONCURRENCY: "8",
      HERALD_ALLOWED_ORIGINS: "http://a, http://b,",
      HERALD_STORE: "",
    });
    expect(s.HERALD_TOPIC).toBe("notifications");
    expect(s.HERALD_CONCURRENCY).toBe(8);
    expect(s.HERALD_ALLOWED_ORIGINS).toEqual(["http://a", "http://b"]);
    expect(s.HERALD_STORE).toBe("memory");
    expect(s.HERALD_SERVICEBUS).toBeUndefined();
    expect(Object.isFrozen(s)).toBe(true);
  });

  it.each([
    ["HERALD_CONCURRENCY", "lots", /whole number/],
    ["HERALD_CONCURRENCY", "0", /at least 1/],
    ["HERALD_PORT", "70000", /at most 65535/],
    ["HERALD_STORE", "redis", /one of memory, table/],
    ["HERALD_JWT_JWKS_URL", "not a url", /must be a URL/],
    ["HERALD_WEBPUBSUB__serviceUri", "ftp://x", /http\(s\) URL/],
  ])("reject %s=%s naming the variable", (name, value, reason) => {
    let caught: unknown;
    try {
      readSettings({ [name]: value });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(HeraldError);
    const err = caught as HeraldError;
    expect(err.code).toBe("HERALD_INVALID_CONFIG");
    expect(err.target).toBe(name);
    expect(err.message).toMatch(new RegExp(`^${name}: `));
    expect(err.message).toMatch(reason);
  });

  it("mark connection strings and secrets as secret", () => {
    expect(SECRET_SETTINGS).toEqual(
      expect.arrayContaining([
        "HERALD_SERVICEBUS",
        "HERALD_WEBPUBSUB",
        "HERALD_STORAGE",
        "HERALD_JWT_SECRET",
      ]),
    );
  });
});
