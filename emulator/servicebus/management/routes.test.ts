import { describe, expect, it } from "vitest";
import { parseRoute, RouteError } from "./routes.js";

describe("parseRoute", () => {
  it.each([
    ["/$namespaceinfo", { kind: "namespace" }],
    ["/$Resources/Queues", { kind: "list", entity: "queues" }],
    ["/$resources/topics/", { kind: "list", entity: "topics" }],
    ["/orders", { kind: "entity", name: "orders" }],
    ["/a/b/c", { kind: "entity", name: "a/b/c" }],
    ["/with%20space", { kind: "entity", name: "with space" }],
    ["/t/Subscriptions/", { kind: "subscriptions", topic: "t" }],
    ["/t/subscriptions", { kind: "subscriptions", topic: "t" }],
    ["/t/Subscriptions/s", { kind: "subscription", topic: "t", name: "s" }],
    ["/a/b/Subscriptions/s", { kind: "subscription", topic: "a/b", name: "s" }],
    ["/t/Subscriptions/s/Rules/", { kind: "rules", topic: "t", subscription: "s" }],
    ["/t/Subscriptions/s/Rules/$Default", { kind: "rule", topic: "t", subscription: "s", name: "$Default" }],
    ["/t/Subscriptions/s/rules/r%2E1", { kind: "rule", topic: "t", subscription: "s", name: "r.1" }],
    // A subscription may itself be called "Subscriptions".
    ["/t/Subscriptions/Subscriptions", { kind: "subscription", topic: "t", name: "Subscriptions" }],
    // Shapes that are not subscription paths fall back to a queue or topic name.
    ["/t/Subscriptions/s/x", { kind: "entity", name: "t/Subscriptions/s/x" }],
    ["/Subscriptions/s", { kind: "entity", name: "Subscriptions/s" }],
  ])("%s", (path, route) => {
    expect(parseRoute(path)).toEqual(route);
  });

  it.each([
    ["", "must start with '/'"],
    ["/", "names no entity"],
    ["//q", "empty segment"],
    ["/q/", "empty segment"],
    ["/$Resources/Rules", "only $Resources/Queues"],
    ["/%E0%A4%A", "not percent-encoded correctly"],
    ["/t//Subscriptions/s", "empty segment"],
  ])("rejects %j", (path, message) => {
    expect(() => parseRoute(path)).toThrow(RouteError);
    expect(() => parseRoute(path)).toThrow(message);
  });
});
