import { describe, expect, it } from "vitest";
import { HeraldError } from "./errors.js";
import {
  BROADCAST_STREAM,
  formatStreamId,
  groupStream,
  isStreamId,
  parseStreamId,
  streamsFor,
  streamsOfClient,
  userStream,
  validateStreamId,
} from "./streams.js";

describe("stream ids", () => {
  it("names user, group and broadcast streams", () => {
    expect(userStream("alice")).toBe("user:alice");
    expect(groupStream("ops")).toBe("group:ops");
    expect(BROADCAST_STREAM).toBe("broadcast");
  });

  it.each([
    ["user:alice", { kind: "user", name: "alice" }],
    ["group:ops", { kind: "group", name: "ops" }],
    ["broadcast", { kind: "broadcast" }],
    // Everything after the first colon is the name, colons and slashes included.
    ["user:tenant:1/a#b?c", { kind: "user", name: "tenant:1/a#b?c" }],
    ["group:été 🎉", { kind: "group", name: "été 🎉" }],
    [`user:${"x".repeat(128)}`, { kind: "user", name: "x".repeat(128) }],
  ])("parses %j", (id, ref) => {
    expect(parseStreamId(id)).toEqual(ref);
    expect(isStreamId(id)).toBe(true);
    expect(formatStreamId(parseStreamId(id)!)).toBe(id);
  });

  it.each([
    "",
    "user:",
    "group:",
    "alice",
    "users:alice",
    "Broadcast",
    "broadcast:x",
    "user:a\nb",
    "user:a\u007fb",
    `user:${"x".repeat(129)}`,
    42,
    null,
    undefined,
  ])("rejects %j", (id) => {
    expect(parseStreamId(id)).toBeUndefined();
    expect(isStreamId(id)).toBe(false);
    let error: unknown;
    try {
      validateStreamId(id, "streams[0]");
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(HeraldError);
    expect((error as HeraldError).code).toBe("HERALD_INVALID_FIELD");
    expect((error as HeraldError).target).toBe("streams[0]");
  });

  it("validates and returns the reference", () => {
    expect(validateStreamId("group:ops")).toEqual({ kind: "group", name: "ops" });
  });
});

describe("streamsFor", () => {
  it("maps a target to its streams in a stable order, each once", () => {
    expect(streamsFor({ broadcast: true, groups: ["ops", "ops"], users: ["bob", "alice", "bob"] })).toEqual([
      "user:bob",
      "user:alice",
      "group:ops",
      "broadcast",
    ]);
    expect(streamsFor({ users: ["alice"] })).toEqual(["user:alice"]);
    expect(streamsFor({ groups: ["g"] })).toEqual(["group:g"]);
    expect(streamsFor({ broadcast: true })).toEqual(["broadcast"]);
    expect(streamsFor({})).toEqual([]);
  });

  it("keeps a user and a group of the same name apart", () => {
    expect(streamsFor({ users: ["x"], groups: ["x"] })).toEqual(["user:x", "group:x"]);
  });

  it("lists what a client reads", () => {
    expect(streamsOfClient("alice", ["ops"])).toEqual(["user:alice", "group:ops", "broadcast"]);
    expect(streamsOfClient(undefined)).toEqual(["broadcast"]);
  });
});
