import { describe, expect, it } from "vitest";
import { HeraldError } from "./errors.js";
import { jsonByteLength, validateNotification } from "./notification.js";

function failure(input: unknown, options = {}): { code: string; target: string | undefined } {
  try {
    validateNotification(input, options);
  } catch (err) {
    if (err instanceof HeraldError) return { code: err.code, target: err.target };
    throw err;
  }
  throw new Error("expected validation to fail");
}

describe("validateNotification", () => {
  const ok = { type: "order.shipped", to: { users: ["alice"] }, data: { order: 7 } };

  it("accepts a minimal notification and generates an id", () => {
    const n = validateNotification(ok, { generateId: () => "n-1" });
    expect(n).toEqual({ id: "n-1", type: "order.shipped", to: { users: ["alice"] }, data: { order: 7 } });
  });

  it("keeps a given id, ttl and deliverAt, and deduplicates targets", () => {
    const n = validateNotification({
      ...ok,
      id: "abc",
      to: { users: ["a", "a", "b"], groups: [], broadcast: true },
      ttlSeconds: 60,
      deliverAt: "2026-01-01T09:00:00Z",
    });
    expect(n.id).toBe("abc");
    expect(n.to).toEqual({ users: ["a", "b"], broadcast: true });
    expect(n.ttlSeconds).toBe(60);
    expect(n.deliverAt).toBe("2026-01-01T09:00:00Z");
  });

  it.each([
    [null, "HERALD_INVALID_FIELD", ""],
    [[ok], "HERALD_INVALID_FIELD", ""],
    [{ ...ok, extra: 1 }, "HERALD_UNKNOWN_FIELD", "extra"],
    [{ ...ok, to: undefined }, "HERALD_MISSING_TARGET", "to"],
    [{ ...ok, to: {} }, "HERALD_MISSING_TARGET", "to"],
    [{ ...ok, to: { users: [] } }, "HERALD_MISSING_TARGET", "to"],
    [{ ...ok, to: { everyone: true } }, "HERALD_UNKNOWN_FIELD", "to.everyone"],
    [{ ...ok, to: { users: "alice" } }, "HERALD_INVALID_FIELD", "to.users"],
    [{ ...ok, to: { users: ["ok", 5] } }, "HERALD_INVALID_FIELD", "to.users[1]"],
    [{ ...ok, to: { groups: ["bad\nname"] } }, "HERALD_INVALID_FIELD", "to.groups[0]"],
    [{ ...ok, to: { broadcast: false } }, "HERALD_INVALID_FIELD", "to.broadcast"],
    [{ ...ok, type: "" }, "HERALD_INVALID_TYPE", "type"],
    [{ ...ok, type: "has space" }, "HERALD_INVALID_TYPE", "type"],
    [{ ...ok, type: "x".repeat(129) }, "HERALD_INVALID_TYPE", "type"],
    [{ ...ok, type: 5 }, "HERALD_INVALID_TYPE", "type"],
    [{ type: "a", to: { broadcast: true } }, "HERALD_INVALID_FIELD", "data"],
    [{ ...ok, id: "" }, "HERALD_INVALID_FIELD", "id"],
    [{ ...ok, id: 12 }, "HERALD_INVALID_FIELD", "id"],
    [{ ...ok, ttlSeconds: 0 }, "HERALD_INVALID_FIELD", "ttlSeconds"],
    [{ ...ok, ttlSeconds: 1.5 }, "HERALD_INVALID_FIELD", "ttlSeconds"],
    [{ ...ok, deliverAt: "tomorrow" }, "HERALD_INVALID_FIELD", "deliverAt"],
    [{ ...ok, deliverAt: "2026-01-01T09:00:00" }, "HERALD_INVALID_FIELD", "deliverAt"],
  ])("rejects %j with %s at %j", (input, code, target) => {
    expect(failure(input)).toEqual({ code, target });
  });

  it("rejects data over the limit with 413's code", () => {
    const err = failure({ ...ok, data: "x".repeat(100) }, { maxDataBytes: 50 });
    expect(err).toEqual({ code: "HERALD_PAYLOAD_TOO_LARGE", target: "data" });
    expect(() => validateNotification({ ...ok, data: "x".repeat(40) }, { maxDataBytes: 50 })).not.toThrow();
  });

  it("accepts null and other JSON values as data", () => {
    for (const data of [null, 0, "", false, [1, 2]]) {
      expect(validateNotification({ ...ok, data }).data).toEqual(data);
    }
  });
});

describe("jsonByteLength", () => {
  it("counts UTF-8 bytes of the serialized value", () => {
    for (const value of [{ a: "é" }, "日本", "😀", [1, "x"], null]) {
      expect(jsonByteLength(value)).toBe(Buffer.byteLength(JSON.stringify(value)));
    }
  });
});
