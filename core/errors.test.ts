import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_CODES, HeraldError, isHeraldError } from "./errors.js";

describe("error registry", () => {
  it("documents every code in docs/errors.md", () => {
    const doc = readFileSync(new URL("../docs/errors.md", import.meta.url), "utf8");
    const documented = new Set([...doc.matchAll(/`(HERALD_[A-Z_]+)`/g)].map((m) => m[1]));
    const missing = Object.keys(ERROR_CODES).filter((code) => !documented.has(code));
    expect(missing).toEqual([]);
    const unknown = [...documented].filter((code) => !(code! in ERROR_CODES));
    expect(unknown).toEqual([]);
  });

  it("carries status, code and target", () => {
    const err = new HeraldError("HERALD_BAD_REQUEST", "to.users must be an array", { target: "to.users" });
    expect(isHeraldError(err)).toBe(true);
    expect(err.status).toBe(400);
    expect(err.toJSON()).toEqual({
      code: "HERALD_BAD_REQUEST",
      message: "to.users must be an array",
      target: "to.users",
    });
    expect(isHeraldError(new Error("x"))).toBe(false);
  });
});
