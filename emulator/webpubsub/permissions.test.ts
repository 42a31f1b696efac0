import { describe, expect, it } from "vitest";
import { Permissions, compilePattern } from "./permissions.js";

describe("group permissions", () => {
  it("has none without group roles", () => {
    expect(Permissions.fromRoles([])).toBeNull();
    expect(Permissions.fromRoles(["admin", "webpubsub.other"])).toBeNull();
  });

  it("reads any-group and single-group roles (group names may contain dots)", () => {
    const p = Permissions.fromRoles(["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup.a.b"])!;
    expect(p.can("joinLeaveGroup", "anything")).toBe(true);
    expect(p.can("sendToGroup", "a.b")).toBe(true);
    expect(p.can("sendToGroup", "a")).toBe(false);
    expect(p.has("joinLeaveGroup", undefined)).toBe(true);
    expect(p.has("sendToGroup", undefined)).toBe(false);
  });

  it("matches patterns: * within a segment, ** across, ? one character", () => {
    const p = Permissions.fromRoles([
      "webpubsub.joinLeaveGroups.chat.*",
      "webpubsub.sendToGroups.news.**",
      "webpubsub.sendToGroups.t?",
    ])!;
    expect(p.can("joinLeaveGroup", "chat.room1")).toBe(true);
    expect(p.can("joinLeaveGroup", "chat.room1.sub")).toBe(false);
    expect(p.can("sendToGroup", "news.a.b.c")).toBe(true);
    expect(p.can("sendToGroup", "t1")).toBe(true);
    expect(p.can("sendToGroup", "t12")).toBe(false);
    expect(compilePattern("a+b(c)").test("a+b(c)")).toBe(true);
  });

  it("grants and revokes per group or for all groups", () => {
    const p = new Permissions();
    expect(p.can("sendToGroup", "g")).toBe(false);
    p.grant("sendToGroup", "g");
    expect(p.can("sendToGroup", "g")).toBe(true);
    expect(p.has("sendToGroup", "g")).toBe(true);
    p.revoke("sendToGroup", "g");
    expect(p.can("sendToGroup", "g")).toBe(false);
    p.grant("joinLeaveGroup", undefined);
    p.revoke("joinLeaveGroup", "secret");
    expect(p.can("joinLeaveGroup", "open")).toBe(true);
    expect(p.can("joinLeaveGroup", "secret")).toBe(false);
    p.grant("joinLeaveGroup", "secret");
    expect(p.can("joinLeaveGroup", "secret")).toBe(true);
    p.revoke("joinLeaveGroup", undefined);
    expect(p.can("joinLeaveGroup", "open")).toBe(false);
  });
});
