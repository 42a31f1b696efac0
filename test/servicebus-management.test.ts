/**
 * The real `ServiceBusAdministrationClient` (@azure/service-bus 7.9.5) against the emulator's
 * management endpoint over real sockets, configured only with `emulatorAdministrationOptions`.
 */
import http from "node:http";
import net from "node:net";
import { ServiceBusAdministrationClient } from "@azure/service-bus";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startManagementServer, type ManagementServer } from "../emulator/servicebus/management/index.js";
import {
  emulatorAdministrationOptions,
  type EmulatorAdministrationOptions,
} from "../publisher/emulator-admin.js";
import { isHeraldError } from "../core/errors.js";
import { MemoryEntityManager } from "./helpers/memory-entity-manager.js";

const CONNECTION_STRING =
  "Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;";

let manager: MemoryEntityManager;
let server: ManagementServer;
let options: EmulatorAdministrationOptions;
let admin: ServiceBusAdministrationClient;

async function start(entityManager = new MemoryEntityManager()): Promise<void> {
  manager = entityManager;
  server = await startManagementServer(manager, { port: 0 });
  options = emulatorAdministrationOptions(server.url);
  admin = new ServiceBusAdministrationClient(CONNECTION_STRING, options);
}

beforeEach(() => start());
afterEach(async () => {
  options.agent.destroy();
  await server.close();
});

/** The RestError fields the SDK documents: `code` and `statusCode`. */
async function failure(
  promise: Promise<unknown>,
): Promise<{ code?: string; statusCode?: number; message: string }> {
  try {
    await promise;
  } catch (err) {
    return err as { code?: string; statusCode?: number; message: string };
  }
  throw new Error("expected the operation to fail");
}

async function raw(
  method: string,
  path: string,
  init: { body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: SAS, ...init.headers },
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

const SAS = `SharedAccessSignature sr=https%3a%2f%2flocalhost%2f&sig=abc%3D&se=${Math.floor(Date.now() / 1000) + 3600}&skn=RootManageSharedAccessKey`;

describe("queues", () => {
  it("creates, gets, updates and deletes a queue with every option", async () => {
    const created = await admin.createQueue("orders", {
      lockDuration: "PT30S",
      maxSizeInMegabytes: 2048,
      requiresDuplicateDetection: true,
      requiresSession: true,
      defaultMessageTimeToLive: "P2D",
      deadLetteringOnMessageExpiration: true,
      duplicateDetectionHistoryTimeWindow: "PT2M",
      maxDeliveryCount: 5,
      enableBatchedOperations: false,
      status: "SendDisabled",
      forwardTo: "audit",
      forwardDeadLetteredMessagesTo: "sb://localhost/dead",
      userMetadata: `<meta a="1"> & 'quotes'`,
      autoDeleteOnIdle: "PT1H",
      maxMessageSizeInKilobytes: 1024,
    });
    expect(created).toMatchObject({
      name: "orders",
      lockDuration: "PT30S",
      maxSizeInMegabytes: 2048,
      requiresDuplicateDetection: true,
      requiresSession: true,
      defaultMessageTimeToLive: "P2D",
      deadLetteringOnMessageExpiration: true,
      duplicateDetectionHistoryTimeWindow: "PT2M",
      maxDeliveryCount: 5,
      enableBatchedOperations: false,
      status: "SendDisabled",
      forwardTo: "sb://localhost/audit",
      forwardDeadLetteredMessagesTo: "sb://localhost/dead",
      userMetadata: `<meta a="1"> & 'quotes'`,
      autoDeleteOnIdle: "PT1H",
      enablePartitioning: false,
      availabilityStatus: "Available",
      maxMessageSizeInKilobytes: 1024,
    });
    expect(created._response.status).toBe(201);
    // The model got milliseconds and plain entity names.
    expect(manager.getQueue("orders")?.options).toMatchObject({
      lockDurationMs: 30_000,
      defaultMessageTimeToLiveMs: 2 * 86_400_000,
      duplicateDetectionHistoryTimeWindowMs: 120_000,
      autoDeleteOnIdleMs: 3_600_000,
      forwardTo: "audit",
      forwardDeadLetteredMessagesTo: "dead",
    });

    const got = await admin.getQueue("ORDERS");
    expect(got.name).toBe("orders");
    expect(got.lockDuration).toBe("PT30S");
    expect(await admin.queueExists("orders")).toBe(true);
    expect(await admin.queueExists("nope")).toBe(false);

    const updated = await admin.updateQueue({
      ...got,
      maxDeliveryCount: 7,
      lockDuration: "PT45S",
      forwardTo: undefined,
    });
    expect(updated._response.status).toBe(200);
    expect(updated).toMatchObject({
      maxDeliveryCount: 7,
      lockDuration: "PT45S",
      forwardTo: undefined,
      requiresSession: true,
    });
    expect(manager.getQueue("orders")?.options.forwardTo).toBeUndefined();

    const deleted = await admin.deleteQueue("orders");
    expect(deleted._response.status).toBe(200);
    expect(await admin.queueExists("orders")).toBe(false);
  });

  it("reports defaults the way Azure does", async () => {
    const q = await admin.createQueue("plain");
    expect(q).toMatchObject({
      lockDuration: "PT1M",
      maxDeliveryCount: 10,
      maxSizeInMegabytes: 1024,
      defaultMessageTimeToLive: "P10675199DT2H48M5.4775807S",
      autoDeleteOnIdle: "P10675199DT2H48M5.4775807S",
      duplicateDetectionHistoryTimeWindow: "PT10M",
      status: "Active",
      forwardTo: undefined,
      userMetadata: undefined,
      authorizationRules: undefined,
    });
  });

  it("maps not-found, already-exists and invalid updates to the SDK's error codes", async () => {
    expect(await failure(admin.getQueue("missing"))).toMatchObject({
      code: "MessageEntityNotFoundError",
      statusCode: 404,
      message: expect.stringMatching(/^The messaging entity/),
    });
    expect(await failure(admin.deleteQueue("missing"))).toMatchObject({
      code: "MessageEntityNotFoundError",
      statusCode: 404,
    });
    const q = await admin.createQueue("q1");
    expect(await failure(admin.updateQueue({ ...q, name: "missing" }))).toMatchObject({
      code: "MessageEntityNotFoundError",
      statusCode: 404,
    });
    expect(await failure(admin.createQueue("Q1"))).toMatchObject({
      code: "MessageEntityAlreadyExistsError",
      statusCode: 409,
      message: expect.stringMatching(/^The messaging entity/),
    });
    expect(await failure(admin.updateQueue({ ...q, requiresSession: true }))).toMatchObject({
      code: "ServiceError",
      statusCode: 400,
      message: expect.stringContaining("RequiresSession"),
    });
    // A queue and a topic share one name space.
    expect(await failure(admin.createTopic("q1"))).toMatchObject({ code: "MessageEntityAlreadyExistsError" });
  });

  it("rejects values the SDK passes through unchecked with 400", async () => {
    expect(await failure(admin.createQueue("bad-ttl", { lockDuration: "1 minute" }))).toMatchObject({
      code: "ServiceError",
      statusCode: 400,
      message: expect.stringContaining("LockDuration"),
    });
    expect(await failure(admin.createQueue("bad-status", { status: "Sleeping" as "Active" }))).toMatchObject({
      statusCode: 400,
    });
    expect(await failure(admin.createQueue("bad name!"))).toMatchObject({
      code: "ServiceError",
      statusCode: 400,
    });
    expect(await failure(admin.createQueue("long-lock", { lockDuration: "PT6M" }))).toMatchObject({
      statusCode: 400,
    });
    expect(manager.listQueues()).toEqual([]);
  });

  it("answers QuotaExceededError when the manager is full", async () => {
    await server.close();
    options.agent.destroy();
    await start(new MemoryEntityManager({ maxEntities: 1 }));
    await admin.createQueue("one");
    expect(await failure(admin.createQueue("two"))).toMatchObject({
      code: "QuotaExceededError",
      statusCode: 403,
    });
  });
});

describe("topics and subscriptions", () => {
  it("creates, gets, updates and deletes topics", async () => {
    const t = await admin.createTopic("events", {
      defaultMessageTimeToLive: "PT12H",
      supportOrdering: false,
      requiresDuplicateDetection: true,
      userMetadata: "m",
    });
    expect(t).toMatchObject({
      name: "events",
      defaultMessageTimeToLive: "PT12H",
      supportOrdering: false,
      userMetadata: "m",
    });
    expect(await admin.topicExists("events")).toBe(true);
    const updated = await admin.updateTopic({ ...t, status: "Disabled", maxSizeInMegabytes: 5120 });
    expect(updated).toMatchObject({ status: "Disabled", maxSizeInMegabytes: 5120, supportOrdering: false });
    expect(await failure(admin.updateTopic({ ...t, requiresDuplicateDetection: false }))).toMatchObject({
      statusCode: 400,
    });
    await admin.deleteTopic("events");
    expect(await admin.topicExists("events")).toBe(false);
    expect(await failure(admin.getTopic("events"))).toMatchObject({ code: "MessageEntityNotFoundError" });
  });

  it("creates subscriptions with a default rule and manages them", async () => {
    await admin.createTopic("events");
    const when = new Date("2024-05-06T07:08:09.123Z");
    const s = await admin.createSubscription("events", "mail", {
      lockDuration: "PT5M",
      maxDeliveryCount: 3,
      requiresSession: true,
      deadLetteringOnFilterEvaluationExceptions: false,
      forwardTo: "archive",
      userMetadata: "u",
      defaultRuleOptions: {
        name: "only-mail",
        filter: {
          subject: "mail",
          correlationId: "c-1",
          applicationProperties: { priority: 5, ratio: 0.25, vip: true, region: "eu", since: when },
        },
        action: { sqlExpression: "SET routed = @yes", sqlParameters: { "@yes": "yes" } },
      },
    });
    expect(s).toMatchObject({
      topicName: "events",
      subscriptionName: "mail",
      lockDuration: "PT5M",
      maxDeliveryCount: 3,
      requiresSession: true,
      deadLetteringOnFilterEvaluationExceptions: false,
      forwardTo: "sb://localhost/archive",
      userMetadata: "u",
      status: "Active",
      availabilityStatus: "Available",
    });
    const rule = await admin.getRule("events", "mail", "only-mail");
    expect(rule).toEqual({
      name: "only-mail",
      filter: {
        correlationId: "c-1",
        subject: "mail",
        to: undefined,
        replyTo: undefined,
        replyToSessionId: undefined,
        sessionId: undefined,
        messageId: undefined,
        contentType: undefined,
        applicationProperties: { priority: 5, ratio: 0.25, vip: true, region: "eu", since: when },
      },
      action: { sqlExpression: "SET routed = @yes", sqlParameters: { "@yes": "yes" } },
    });
    // The model keeps `Label` as `subject` and the typed values.
    expect(manager.getRule("events", "mail", "only-mail")?.filter).toMatchObject({
      kind: "correlation",
      subject: "mail",
      applicationProperties: { priority: 5, vip: true, since: when },
    });

    expect(await admin.subscriptionExists("events", "mail")).toBe(true);
    expect(await admin.subscriptionExists("events", "nope")).toBe(false);
    const got = await admin.getSubscription("events", "MAIL");
    expect(got.subscriptionName).toBe("mail");
    const updated = await admin.updateSubscription({
      ...got,
      maxDeliveryCount: 9,
      status: "ReceiveDisabled",
    });
    expect(updated).toMatchObject({
      maxDeliveryCount: 9,
      status: "ReceiveDisabled",
      forwardTo: "sb://localhost/archive",
    });
    expect(await failure(admin.updateSubscription({ ...got, requiresSession: false }))).toMatchObject({
      statusCode: 400,
    });
    await admin.deleteSubscription("events", "mail");
    expect(await admin.subscriptionExists("events", "mail")).toBe(false);
    expect(await failure(admin.deleteSubscription("events", "mail"))).toMatchObject({
      code: "MessageEntityNotFoundError",
      statusCode: 404,
    });
  });

  it("gives a new subscription the $Default rule and rejects unknown topics", async () => {
    await admin.createTopic("t");
    await admin.createSubscription("t", "s");
    const rules = [];
    for await (const r of admin.listRules("t", "s")) rules.push(r);
    expect(rules).toEqual([
      {
        name: "$Default",
        filter: { sqlExpression: "1=1", sqlParameters: undefined },
        action: { sqlExpression: undefined, sqlParameters: undefined },
      },
    ]);
    expect(await failure(admin.createSubscription("no-topic", "s"))).toMatchObject({
      code: "MessageEntityNotFoundError",
      statusCode: 404,
    });
    expect(await failure(admin.createSubscription("t", "s"))).toMatchObject({
      code: "MessageEntityAlreadyExistsError",
      statusCode: 409,
    });
  });
});

describe("rules", () => {
  beforeEach(async () => {
    await admin.createTopic("t");
    await admin.createSubscription("t", "s");
  });

  it("creates, gets, updates, lists and deletes SQL and correlation rules", async () => {
    const sql = await admin.createRule(
      "t",
      "s",
      "high",
      {
        sqlExpression: "priority > @min AND region = @region",
        sqlParameters: { "@min": 3, "@region": "eu" },
      },
      { sqlExpression: "SET sys.Label = @label", sqlParameters: { "@label": "urgent" } },
    );
    expect(sql).toEqual({
      name: "high",
      filter: {
        sqlExpression: "priority > @min AND region = @region",
        sqlParameters: { "@min": 3, "@region": "eu" },
      },
      action: { sqlExpression: "SET sys.Label = @label", sqlParameters: { "@label": "urgent" } },
    });
    const corr = await admin.createRule("t", "s", "by-id", {
      correlationId: "c",
      messageId: "m",
      to: "to",
      replyTo: "r",
      subject: "sub",
      sessionId: "sess",
      replyToSessionId: "rs",
      contentType: "application/json",
    });
    expect(corr.filter).toEqual({
      correlationId: "c",
      messageId: "m",
      to: "to",
      replyTo: "r",
      subject: "sub",
      sessionId: "sess",
      replyToSessionId: "rs",
      contentType: "application/json",
      applicationProperties: undefined,
    });
    expect(corr.action).toEqual({ sqlExpression: undefined, sqlParameters: undefined });
    expect(await admin.ruleExists("t", "s", "high")).toBe(true);
    expect(await admin.ruleExists("t", "s", "low")).toBe(false);

    const high = await admin.getRule("t", "s", "high");
    // An action without an expression is sent as EmptyRuleAction.
    const updated = await admin.updateRule("t", "s", {
      ...high,
      filter: { sqlExpression: "1=0" },
      action: {},
    });
    expect(updated.filter).toEqual({ sqlExpression: "1=0", sqlParameters: undefined });
    expect(manager.getRule("t", "s", "high")).toEqual({
      name: "high",
      filter: { kind: "sql", sqlExpression: "1=0" },
    });

    const names = [];
    for await (const r of admin.listRules("t", "s")) names.push(r.name);
    expect(names).toEqual(["$Default", "by-id", "high"]);

    await admin.deleteRule("t", "s", "$Default");
    expect(await admin.ruleExists("t", "s", "$Default")).toBe(false);
  });

  it("maps rule errors", async () => {
    await admin.createRule("t", "s", "r", { sqlExpression: "a = 1" });
    expect(await failure(admin.createRule("t", "s", "R", { sqlExpression: "a = 2" }))).toMatchObject({
      code: "MessageEntityAlreadyExistsError",
      statusCode: 409,
    });
    expect(await failure(admin.getRule("t", "s", "nope"))).toMatchObject({
      code: "MessageEntityNotFoundError",
      statusCode: 404,
    });
    expect(await failure(admin.deleteRule("t", "s", "nope"))).toMatchObject({
      code: "MessageEntityNotFoundError",
    });
    const existing = await admin.getRule("t", "s", "r");
    expect(await failure(admin.updateRule("t", "s", { ...existing, name: "nope" }))).toMatchObject({
      code: "MessageEntityNotFoundError",
    });
    expect(await failure(admin.createRule("t", "missing", "r", { sqlExpression: "1=1" }))).toMatchObject({
      code: "MessageEntityNotFoundError",
    });
    expect(await failure(admin.createRule("t", "s", "empty", { sqlExpression: " " }))).toMatchObject({
      statusCode: 400,
    });
  });
});

describe("listing", () => {
  it("pages through more queues and topics than one page holds", async () => {
    for (let i = 0; i < 120; i++) manager.createQueue(`queue-${String(i).padStart(3, "0")}`, {});
    for (let i = 0; i < 105; i++) manager.createTopic(`topic-${String(i).padStart(3, "0")}`, {});

    const all: string[] = [];
    for await (const q of admin.listQueues()) all.push(q.name);
    expect(all).toHaveLength(120);
    expect(new Set(all).size).toBe(120);

    const pages: number[] = [];
    for await (const page of admin.listQueues().byPage({ maxPageSize: 50 })) pages.push(page.length);
    expect(pages).toEqual([50, 50, 20]);

    const first = await admin.listTopics().byPage({ maxPageSize: 100 }).next();
    expect(first.done).toBe(false);
    const token = first.value?.continuationToken;
    expect(token).toBe("100");
    const rest = [];
    for await (const page of admin.listTopics().byPage({ continuationToken: token }))
      rest.push(...page.map((t) => t.name));
    expect(rest).toEqual(["topic-100", "topic-101", "topic-102", "topic-103", "topic-104"]);

    let runtime = 0;
    for await (const r of admin.listQueuesRuntimeProperties()) runtime += r.totalMessageCount === 0 ? 1 : 0;
    expect(runtime).toBe(120);
    let topicRuntime = 0;
    for await (const r of admin.listTopicsRuntimeProperties())
      topicRuntime += r.subscriptionCount === 0 ? 1 : 0;
    expect(topicRuntime).toBe(105);
  });

  it("pages through subscriptions and rules", async () => {
    manager.createTopic("t", {});
    for (let i = 0; i < 12; i++) manager.createSubscription("t", `sub-${String(i).padStart(2, "0")}`, {});
    for (let i = 0; i < 6; i++)
      manager.createRule("t", "sub-00", {
        name: `rule-${i}`,
        filter: { kind: "sql", sqlExpression: `n = ${i}` },
      });

    const subPages: string[][] = [];
    for await (const page of admin.listSubscriptions("t").byPage({ maxPageSize: 5 }))
      subPages.push(page.map((s) => s.subscriptionName));
    expect(subPages.map((p) => p.length)).toEqual([5, 5, 2]);
    expect(subPages.flat()[11]).toBe("sub-11");

    const runtime = [];
    for await (const r of admin.listSubscriptionsRuntimeProperties("t")) runtime.push(r.subscriptionName);
    expect(runtime).toHaveLength(12);

    const rulePages: number[] = [];
    for await (const page of admin.listRules("t", "sub-00").byPage({ maxPageSize: 4 }))
      rulePages.push(page.length);
    expect(rulePages).toEqual([4, 3]);

    expect(await failure(admin.listSubscriptions("missing").byPage().next())).toMatchObject({
      code: "MessageEntityNotFoundError",
    });
  });

  it("lists nothing when there is nothing", async () => {
    const pages = [];
    for await (const page of admin.listQueues().byPage()) pages.push(page);
    expect(pages).toHaveLength(1);
    expect(pages[0]).toEqual([]);
    expect(pages[0]?.continuationToken).toBeUndefined();
  });
});

describe("runtime properties", () => {
  it("reports the manager's message counts", async () => {
    await admin.createQueue("q");
    manager.setRuntimeCounts("q", {
      activeMessageCount: 3,
      deadLetterMessageCount: 2,
      scheduledMessageCount: 1,
      transferMessageCount: 4,
      transferDeadLetterMessageCount: 5,
      totalMessageCount: 15,
      sizeInBytes: 1234,
    });
    const q = await admin.getQueueRuntimeProperties("q");
    expect(q).toMatchObject({
      name: "q",
      activeMessageCount: 3,
      deadLetterMessageCount: 2,
      scheduledMessageCount: 1,
      transferMessageCount: 4,
      transferDeadLetterMessageCount: 5,
      totalMessageCount: 15,
      sizeInBytes: 1234,
    });
    expect(q.createdAt).toBeInstanceOf(Date);
    expect(Number.isNaN(q.modifiedAt.getTime())).toBe(false);

    await admin.createTopic("t");
    await admin.createSubscription("t", "a");
    await admin.createSubscription("t", "b");
    manager.setRuntimeCounts("t", { sizeInBytes: 99, scheduledMessageCount: 7 });
    manager.setRuntimeCounts("t/Subscriptions/a", {
      activeMessageCount: 8,
      deadLetterMessageCount: 1,
      totalMessageCount: 9,
    });
    expect(await admin.getTopicRuntimeProperties("t")).toMatchObject({
      name: "t",
      sizeInBytes: 99,
      scheduledMessageCount: 7,
      subscriptionCount: 2,
    });
    expect(await admin.getSubscriptionRuntimeProperties("t", "a")).toMatchObject({
      topicName: "t",
      subscriptionName: "a",
      activeMessageCount: 8,
      deadLetterMessageCount: 1,
      totalMessageCount: 9,
    });
    expect(await failure(admin.getQueueRuntimeProperties("missing"))).toMatchObject({
      code: "MessageEntityNotFoundError",
    });
  });

  it("reports namespace properties", async () => {
    const ns = await admin.getNamespaceProperties();
    expect(ns).toMatchObject({ name: "localhost", messagingSku: "Standard", messagingUnits: undefined });
  });
});

describe("bad requests", () => {
  it("answers a token credential with UnauthorizedRequestError", async () => {
    const credential = {
      getToken: async () => ({ token: "not-a-sas", expiresOnTimestamp: Date.now() + 3_600_000 }),
    };
    const aad = new ServiceBusAdministrationClient("localhost", credential, options);
    expect(await failure(aad.getQueue("q"))).toMatchObject({
      code: "UnauthorizedRequestError",
      statusCode: 401,
      message: expect.stringContaining("SharedAccessSignature"),
    });
  });

  it("answers a request without authorization with 401", async () => {
    const r = await raw("GET", "/q?api-version=2021-05", { headers: { authorization: "" } });
    expect(r.status).toBe(401);
    expect(r.text).toMatch(/<Error><Code>401<\/Code><Detail>MissingToken/);
    const expired = await raw("GET", "/q", {
      headers: { authorization: "SharedAccessSignature sr=x&sig=y&se=1&skn=k" },
    });
    expect(expired.status).toBe(401);
    expect(expired.text).toContain("ExpiredToken");
  });

  it("answers malformed XML with 400 and a message, and stays up", async () => {
    const r = await raw("PUT", "/q?api-version=2021-05", {
      body: "<entry><content><QueueDescription></entry>",
    });
    expect(r.status).toBe(400);
    expect(r.headers.get("content-type")).toMatch(/xml/);
    expect(r.text).toContain(
      "<Detail>SubCode=40000. the request body is not well-formed XML: end tag &lt;/entry&gt; does not match &lt;QueueDescription&gt; (line 1, column 35).",
    );

    const dtd = await raw("PUT", "/q", {
      body: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><entry/>',
    });
    expect(dtd.status).toBe(400);
    expect(dtd.text).toContain("DTDs are not allowed");

    const wrong = await raw("PUT", "/q", { body: "<feed xmlns='http://www.w3.org/2005/Atom'/>" });
    expect(wrong.status).toBe(400);
    expect(wrong.text).toContain("expected an ATOM &lt;entry&gt; element");

    expect((await admin.createQueue("still-works")).name).toBe("still-works");
  });

  it("answers an oversized body with 413", async () => {
    const r = await raw("PUT", "/q", { body: `<entry>${"x".repeat(1024 * 1024 + 10)}</entry>` });
    expect(r.status).toBe(413);
    expect(r.text).toContain("larger than 1048576 bytes");
    expect(await admin.queueExists("q")).toBe(false);
  });

  it("answers an unknown method with 405 and garbage with 400", async () => {
    const r = await raw("POST", "/q");
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("GET, PUT, DELETE");

    const garbage = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(server.port, "127.0.0.1");
      let data = "";
      socket.on("data", (d) => (data += d.toString()));
      socket.on("end", () => resolve(data));
      socket.on("error", reject);
      socket.end("NOT HTTP AT ALL\r\n\r\n");
    });
    expect(garbage).toMatch(/^HTTP\/1\.1 400/);
    expect(await admin.queueExists("anything")).toBe(false);
  });

  it("listens on both 127.0.0.1 and ::1 for localhost", async () => {
    for (const [host, name] of [
      ["127.0.0.1", "127.0.0.1"],
      ["[::1]", "::1"],
    ]) {
      const response = await fetch(`http://${host}:${server.port}/$namespaceinfo`, {
        headers: { authorization: SAS },
      });
      expect(response.status).toBe(200);
      expect(await response.text()).toContain(`<Name>${name}</Name>`);
    }
  });
});

describe("server", () => {
  it("answers an oversized chunked body with 413 without reading it all", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${server.url}/q`, {
        method: "PUT",
        headers: { authorization: SAS, "transfer-encoding": "chunked" },
      });
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      const chunk = Buffer.alloc(64 * 1024, "x");
      // 40 chunks of 64 KiB = 2.5 MiB, more than the 1 MiB limit; stops once answered.
      let sent = 0;
      const pump = (): void => {
        while (sent < 40 && !req.destroyed) {
          sent++;
          if (!req.write(chunk)) return void req.once("drain", pump);
        }
        if (sent === 40) req.end();
      };
      pump();
    });
    expect(status).toBe(413);
    expect(await admin.queueExists("q")).toBe(false);
  });

  it("listens on loopback only", async () => {
    const err = await startManagementServer(manager, { host: "0.0.0.0", port: 0 }).catch((e: unknown) => e);
    expect(isHeraldError(err) && err.code).toBe("HERALD_INVALID_CONFIG");
  });

  it("reports a taken port as HERALD_PORT_IN_USE", async () => {
    const err = await startManagementServer(manager, { host: "127.0.0.1", port: server.port }).catch(
      (e: unknown) => e,
    );
    expect(isHeraldError(err) && err.code).toBe("HERALD_PORT_IN_USE");
  });

  it("serves a single literal address and closes idempotently", async () => {
    const v4 = await startManagementServer(manager, { host: "127.0.0.1", port: 0 });
    try {
      expect(v4.url).toBe(`http://127.0.0.1:${v4.port}`);
      const response = await fetch(`${v4.url}/$namespaceinfo`, { headers: { authorization: SAS } });
      expect(response.status).toBe(200);
      await response.text();
    } finally {
      await Promise.all([v4.close(), v4.close()]);
    }
    await expect(fetch(`${v4.url}/$namespaceinfo`)).rejects.toThrow();
  });
});
