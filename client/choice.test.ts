import { describe, expect, it } from "vitest";
import { isHeraldError } from "../core/errors.js";
import { recalledTransport, rememberTransport, storageKey, transportOrder } from "./choice.js";
import type { StorageLike } from "./types.js";

function storage(): StorageLike & { items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    getItem: (k) => items.get(k) ?? null,
    setItem: (k, v) => void items.set(k, v),
    removeItem: (k) => void items.delete(k),
  };
}

describe("transport choice", () => {
  it("keeps the configured order, without repeats", () => {
    expect(transportOrder(["sse", "websocket", "sse"])).toEqual(["sse", "websocket"]);
  });

  it("refuses an empty list or an unknown name with HERALD_INVALID_FIELD", () => {
    for (const bad of [[], ["carrier-pigeon"]] as never[][]) {
      try {
        transportOrder(bad);
        expect.unreachable();
      } catch (err) {
        expect(isHeraldError(err) && err.code).toBe("HERALD_INVALID_FIELD");
      }
    }
  });

  it("remembers per gateway until the time given, then forgets", () => {
    const s = storage();
    rememberTransport(s, "https://a", { name: "sse", until: 1000 });
    expect(recalledTransport(s, "https://a", 999)).toEqual({ name: "sse", until: 1000 });
    expect(recalledTransport(s, "https://b", 999)).toBeUndefined();
    expect(recalledTransport(s, "https://a", 1000)).toBeUndefined();
    rememberTransport(s, "https://a", undefined);
    expect(s.items.size).toBe(0);
  });

  it("ignores garbage in storage and storage that throws", () => {
    const s = storage();
    s.items.set(storageKey("g"), "{not json");
    expect(recalledTransport(s, "g", 0)).toBeUndefined();
    s.items.set(storageKey("g"), JSON.stringify({ name: "telnet", until: 5 }));
    expect(recalledTransport(s, "g", 0)).toBeUndefined();
    const throwing: StorageLike = {
      getItem: () => {
        throw new Error("SecurityError");
      },
      setItem: () => {
        throw new Error("QuotaExceededError");
      },
      removeItem: () => {},
    };
    expect(recalledTransport(throwing, "g", 0)).toBeUndefined();
    expect(() => rememberTransport(throwing, "g", { name: "sse", until: 1 })).not.toThrow();
  });
});
