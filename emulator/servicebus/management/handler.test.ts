import { describe, expect, it, vi } from "vitest";
import { MemoryEntityManager } from "../../../test/helpers/memory-entity-manager.js";
import type { EntityManager } from "../model.js";
import { handleManagementRequest, type HandlerContext, type ManagementResponse } from "./handler.js";
import { childElements, parseXml, textOf } from "./xml.js";

const SAS = `SharedAccessSignature sr=x&sig=y&se=${Math.floor(Date.now() / 1000) + 3600}&skn=k`;
const NS = `xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"`;
const entry = (description: string): string =>
  `<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml">${description}</content></entry>`;

function setup(manager: EntityManager = new MemoryEntityManager()): {
  ctx: HandlerContext;
  send: (
    method: string,
    url: string,
    body?: string | Uint8Array,
    headers?: Record<string, string>,
  ) => ManagementResponse;
} {
  const ctx: HandlerContext = { manager, startedAt: new Date(0), onInternalError: vi.fn() };
  const send = (
    method: string,
    url: string,
    body: string | Uint8Array = "",
    headers: Record<string, string> = {},
  ): ManagementResponse =>
    handleManagementRequest(ctx, {
      method,
      url,
      headers: { authorization: SAS, host: "localhost", ...headers },
      body: typeof body === "string" ? new TextEncoder().encode(body) : body,
    });
  return { ctx, send };
}

const detail = (r: ManagementResponse): string => {
  const root = parseXml(r.body);
  expect(root.local).toBe("Error");
  const [code, text] = childElements(root);
  expect(code && textOf(code)).toBe(String(r.status));
  return text ? textOf(text) : "";
};

const names = (r: ManagementResponse): string[] =>
  childElements(parseXml(r.body))
    .filter((e) => e.local === "entry")
    .map((e) => textOf(childElements(e).find((c) => c.local === "title") ?? e));

describe("handleManagementRequest", () => {
  it("checks authorization before anything else", () => {
    const { send } = setup();
    const r = send("GET", "//not a route", "", { authorization: "" });
    expect(r.status).toBe(401);
    expect(detail(r)).toMatch(/^MissingToken/);
  });

  it("routes create, get, list and delete to the manager", () => {
    const manager = new MemoryEntityManager();
    const { send } = setup(manager);
    expect(send("PUT", "/q1?api-version=2021-05", entry(`<QueueDescription ${NS}/>`)).status).toBe(201);
    expect(send("PUT", "/t1", entry(`<TopicDescription ${NS}/>`)).status).toBe(201);
    expect(send("PUT", "/t1/Subscriptions/s1", entry(`<SubscriptionDescription ${NS}/>`)).status).toBe(201);
    expect(
      send(
        "PUT",
        "/t1/Subscriptions/s1/Rules/r1",
        entry(`<RuleDescription ${NS}><Filter i:type="TrueFilter"/><Name>R1</Name></RuleDescription>`),
      ).status,
    ).toBe(201);
    expect(manager.getRule("t1", "s1", "r1")).toEqual({
      name: "r1",
      filter: { kind: "sql", sqlExpression: "1=1" },
    });

    const got = send("GET", "/Q1");
    expect(got.status).toBe(200);
    expect(got.headers["content-type"]).toBe("application/atom+xml;type=entry;charset=utf-8");
    expect(got.body).toContain("<QueueDescription");
    expect(send("GET", "/t1").body).toContain("<TopicDescription");
    expect(names(send("GET", "/$Resources/Queues"))).toEqual(["q1"]);
    expect(names(send("GET", "/$Resources/Topics"))).toEqual(["t1"]);
    expect(names(send("GET", "/t1/Subscriptions/"))).toEqual(["s1"]);
    expect(names(send("GET", "/t1/Subscriptions/s1/Rules/"))).toEqual(["$Default", "r1"]);

    expect(send("DELETE", "/t1/Subscriptions/s1/Rules/r1")).toEqual({ status: 200, headers: {}, body: "" });
    expect(send("DELETE", "/t1/Subscriptions/s1").status).toBe(200);
    expect(send("DELETE", "/t1").status).toBe(200);
    expect(send("DELETE", "/q1").status).toBe(200);
    expect(manager.listQueues()).toEqual([]);
    expect(manager.listTopics()).toEqual([]);
  });

  it("pages sorted by name and bounds $top", () => {
    const manager = new MemoryEntityManager();
    for (const name of ["c", "A", "b"]) manager.createQueue(name, {});
    for (let i = 0; i < 150; i++) manager.createTopic(`t${String(i).padStart(3, "0")}`, {});
    const { send } = setup(manager);
    expect(names(send("GET", "/$Resources/Queues"))).toEqual(["A", "b", "c"]);
    expect(names(send("GET", "/$Resources/Queues?$skip=1&$top=1"))).toEqual(["b"]);
    expect(names(send("GET", "/$Resources/Queues?%24skip=5"))).toEqual([]);
    expect(names(send("GET", "/$Resources/Topics"))).toHaveLength(100);
    expect(names(send("GET", "/$Resources/Topics?$top=1000"))).toHaveLength(100);
    for (const bad of ["$top=0", "$top=-1", "$skip=x", "$skip=1.5"]) {
      const r = send("GET", `/$Resources/Queues?${bad}`);
      expect(r.status).toBe(400);
      expect(detail(r)).toContain("query parameter");
    }
  });

  it("treats a PUT with If-Match as a replacing update", () => {
    const manager = new MemoryEntityManager();
    manager.createQueue("q", {
      maxDeliveryCount: 3,
      forwardTo: "x",
      userMetadata: "m",
      requiresSession: true,
    });
    const { send } = setup(manager);
    const r = send(
      "PUT",
      "/q",
      entry(`<QueueDescription ${NS}><LockDuration>PT2M</LockDuration></QueueDescription>`),
      {
        "if-match": "*",
      },
    );
    expect(r.status).toBe(200);
    expect(manager.getQueue("q")?.options).toMatchObject({
      lockDurationMs: 120_000,
      maxDeliveryCount: 10,
      forwardTo: undefined,
      userMetadata: undefined,
      requiresSession: true,
    });
    const missing = send("PUT", "/nope", entry(`<QueueDescription ${NS}/>`), { "if-match": "*" });
    expect(missing.status).toBe(404);
    expect(detail(missing)).toMatch(/^The messaging entity 'sb:\/\/localhost\/nope' could not be found\./);
  });

  it.each([
    [
      "PUT",
      "/t/Subscriptions/s",
      entry(`<QueueDescription ${NS}/>`),
      400,
      "cannot be stored at a subscription path",
    ],
    [
      "PUT",
      "/q",
      entry(`<RuleDescription ${NS}><Filter i:type="TrueFilter"/></RuleDescription>`),
      400,
      "queue or topic path",
    ],
    ["PUT", "/t/Subscriptions/s/Rules/r", entry(`<TopicDescription ${NS}/>`), 400, "rule path"],
    ["PUT", "/$Resources/Queues", entry(`<QueueDescription ${NS}/>`), 405, "not supported"],
    ["DELETE", "/t/Subscriptions/", "", 405, "not supported"],
    ["POST", "/q", "", 405, "not supported"],
    ["GET", "/$Resources/Rules", "", 400, "only $Resources/Queues"],
    ["GET", "//q", "", 400, "empty segment"],
    ["PUT", "/q", "", 400, "body is empty"],
    ["PUT", "/q", "<entry><content><QueueDescription></content></entry>", 400, "not well-formed XML"],
    ["GET", "/missing", "", 404, "'sb://localhost/missing' could not be found"],
    ["GET", "/t/Subscriptions/missing", "", 404, "could not be found"],
    ["GET", "/t/Subscriptions/s/Rules/missing", "", 404, "could not be found"],
    ["DELETE", "/missing", "", 404, "could not be found"],
    [
      "PUT",
      "/bad name",
      entry(`<QueueDescription ${NS}/>`),
      400,
      "SubCode=40000. The queue name 'bad name' is invalid",
    ],
  ])("%s %s answers %d", (method, url, body, status, message) => {
    const manager = new MemoryEntityManager();
    manager.createTopic("t", {});
    manager.createSubscription("t", "s", {});
    const { send } = setup(manager);
    const r = send(method, url, body);
    expect(r.status).toBe(status);
    expect(detail(r)).toContain(message);
    if (status === 405) expect(r.headers.allow).toBeDefined();
  });

  it("rejects a rule whose body names another rule", () => {
    const manager = new MemoryEntityManager();
    manager.createTopic("t", {});
    manager.createSubscription("t", "s", {});
    const r = setup(manager).send(
      "PUT",
      "/t/Subscriptions/s/Rules/a",
      entry(`<RuleDescription ${NS}><Filter i:type="TrueFilter"/><Name>b</Name></RuleDescription>`),
    );
    expect(r.status).toBe(400);
    expect(detail(r)).toContain("differs");
  });

  it("bounds the length of error details", () => {
    const r = setup().send("GET", `/${"a".repeat(5000)}`);
    expect(r.status).toBe(404);
    expect(detail(r).length).toBeLessThan(1200);
  });

  it("rejects a body that is not UTF-8", () => {
    const r = setup().send("PUT", "/q", new Uint8Array([0x3c, 0x61, 0xff, 0x3e]));
    expect(r.status).toBe(400);
    expect(detail(r)).toContain("not valid UTF-8");
  });

  it("echoes a safe client request id as the tracking id and ignores an unsafe one", () => {
    const { send } = setup();
    expect(detail(send("GET", "/x", "", { "x-ms-client-request-id": "abc-123" }))).toContain(
      "TrackingId:abc-123,",
    );
    expect(detail(send("GET", "/x", "", { "x-ms-client-request-id": "<script>" }))).not.toContain("script");
  });

  it("writes ids with the client's host and falls back to localhost for odd ones", () => {
    const manager = new MemoryEntityManager();
    manager.createQueue("q", {});
    const { send } = setup(manager);
    expect(send("GET", "/q", "", { host: "ns.example:5300" }).body).toContain(
      "<id>https://ns.example:5300/q?api-version=2021-05</id>",
    );
    expect(send("GET", "/q", "", { host: 'x"><y' }).body).toContain("<id>https://localhost/q?");
  });

  it("answers an unexpected manager failure with a bare 500 and reports it", () => {
    const manager = new MemoryEntityManager();
    manager.listQueues = () => {
      throw new TypeError("secret internal detail");
    };
    const { ctx, send } = setup(manager);
    const r = send("GET", "/$Resources/Queues", "", { "x-ms-client-request-id": "req-1" });
    expect(r.status).toBe(500);
    expect(detail(r)).not.toContain("secret");
    expect(ctx.onInternalError).toHaveBeenCalledWith(expect.any(TypeError), {
      method: "GET",
      path: "/$Resources/Queues",
      trackingId: "req-1",
    });
  });

  it("maps every EntityError code", () => {
    const manager = new MemoryEntityManager({ maxEntities: 1 });
    const { send } = setup(manager);
    const body = entry(`<QueueDescription ${NS}/>`);
    expect(send("PUT", "/a", body).status).toBe(201);
    expect(send("PUT", "/A", body).status).toBe(409);
    expect(detail(send("PUT", "/b", body))).toMatch(/^SubCode=40300\./);
    expect(send("PUT", "/b", body).status).toBe(403);
    expect(
      send(
        "PUT",
        "/a",
        entry(`<QueueDescription ${NS}><LockDuration>PT10M</LockDuration></QueueDescription>`),
        { "if-match": "*" },
      ).status,
    ).toBe(400);
    expect(send("GET", "/a/Subscriptions/").status).toBe(404);
  });
});
