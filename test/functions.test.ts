// The Functions app's handlers, invoked as the host invokes them (real HttpRequest / InvocationContext
// from @azure/functions, Service Bus trigger body and metadata) against the emulators and Azurite,
// side by side with a gateway on the same stack.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  ServiceBusAdministrationClient,
  ServiceBusClient,
  type ServiceBusReceiver,
} from "@azure/service-bus";
import { WebPubSubClient } from "@azure/web-pubsub-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { connect } from "../client/index.js";
import type { WebSocketFactory } from "../client/types.js";
import { readSettings, SETTINGS, type SettingName, type Settings } from "../core/config.js";
import type { NegotiateResponse } from "../core/live.js";
import type { Frame } from "../core/streams.js";
import { emulatorAdministrationOptions } from "../publisher/emulator-admin.js";
import { signDevToken } from "../gateway/auth/tokens.js";
import { startGateway, type Gateway } from "../gateway/index.js";
import { createLogger } from "../gateway/log.js";
import { createFunctions, registerFunctions, type HeraldFunctions } from "../functions/app.js";
import { createFanoutHandler, DeliveryFailedError, InvalidNotificationError } from "../functions/fanout.js";
import type { Sink } from "../gateway/sinks/types.js";
import { MemoryStreamStore } from "../gateway/store/memory.js";
import { httpRequest, invocation, jsonOf, runServiceBusTrigger } from "./helpers/functions-host.js";
import { TEST_JWT_SECRET, TEST_PUBLISH_KEY, startTestStack, type TestStack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const SUBSCRIPTION = "fanout-test";
const MAX_DELIVERY_COUNT = 2;
const silent = createLogger({ level: "silent" });

let stack: TestStack;
let gateway: Gateway;
let functions: HeraldFunctions;
let bus: ServiceBusClient;
let receiver: ServiceBusReceiver;
let admin: ServiceBusAdministrationClient;
let closeAdmin: () => void = () => undefined;
const clients: WebPubSubClient[] = [];
/** Every setting the functions read (registration and invocations), for the settings check at the end. */
const read = new Set<SettingName>();
const registered: { kind: string; name: string; options: Record<string, unknown> }[] = [];

/** The settings as the functions see them, recording each one they read. */
function recording(settings: Settings): Settings {
  return new Proxy(settings, {
    get(target, key, receiver) {
      if (typeof key === "string" && key in SETTINGS) read.add(key as SettingName);
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
}

beforeAll(async () => {
  stack = await startTestStack({ store: "table" });
  const management = emulatorAdministrationOptions(stack.serviceBus.managementUrl);
  closeAdmin = () => management.agent.destroy();
  admin = new ServiceBusAdministrationClient(stack.serviceBus.connectionString, management);
  await admin.createSubscription("notifications", SUBSCRIPTION, {
    maxDeliveryCount: MAX_DELIVERY_COUNT,
    lockDuration: "PT30S",
  });
  // The gateway serves the comparisons and the fallback URLs but receives no notification, so every
  // frame a client gets here came through the fan-out.
  await admin.createSubscription("notifications", "gateway-idle", {
    defaultRuleOptions: { name: "none", filter: { sqlExpression: "1=0" } },
  });
  gateway = await startGateway(
    readSettings({
      ...stack.env,
      HERALD_SUBSCRIPTION: "gateway-idle",
    }),
    { log: silent },
  );
  const settings = recording(
    readSettings({
      ...stack.env,
      HERALD_FANOUT_SUBSCRIPTION: SUBSCRIPTION,
      HERALD_PUBLIC_URL: gateway.url,
    }),
  );
  functions = createFunctions(settings, { log: silent });
  registerFunctions(
    {
      http: (name, options) => registered.push({ kind: "http", name, options: { ...options } }),
      serviceBusTopic: (name, options) =>
        registered.push({ kind: "serviceBusTopic", name, options: { ...options } }),
    },
    functions,
    settings,
  );
  bus = new ServiceBusClient(stack.serviceBus.connectionString);
  receiver = bus.createReceiver("notifications", SUBSCRIPTION, { receiveMode: "peekLock" });
}, 60_000);

afterAll(async () => {
  for (const client of clients) client.stop();
  await receiver?.close();
  await bus?.close();
  await functions?.close();
  await gateway?.close();
  closeAdmin();
  await stack?.close();
});

const appToken = (userId: string, groups: string[] = []): Promise<string> =>
  signDevToken(TEST_JWT_SECRET, { userId, groups });

async function negotiateAs(fn: HeraldFunctions, userId: string): Promise<NegotiateResponse> {
  const response = await fn.negotiate(
    httpRequest("POST", "/api/negotiate", { headers: { authorization: `Bearer ${await appToken(userId)}` } }),
    invocation("negotiate"),
  );
  expect(response.status).toBe(200);
  return jsonOf(response) as NegotiateResponse;
}

const publishHeaders = { authorization: `Bearer ${TEST_PUBLISH_KEY}`, "content-type": "application/json" };

describe("Functions app against the emulators", () => {
  it("registers publish, negotiate and fanout (anonymous HTTP, the topic and its subscription)", () => {
    expect(registered.map((r) => `${r.kind}:${r.name}`)).toEqual([
      "http:publish",
      "http:negotiate",
      "serviceBusTopic:fanout",
    ]);
    expect(registered[0]!.options).toMatchObject({ route: "notifications", authLevel: "anonymous" });
    expect(registered[0]!.options.methods).toContain("POST");
    expect(registered[1]!.options).toMatchObject({ route: "negotiate", authLevel: "anonymous" });
    expect(registered[1]!.options.methods).toEqual(expect.arrayContaining(["POST", "OPTIONS"]));
    expect(registered[2]!.options).toMatchObject({
      connection: "HERALD_SERVICEBUS",
      topicName: "notifications",
      subscriptionName: SUBSCRIPTION,
      cardinality: "one",
    });
    const host = JSON.parse(readFileSync(new URL("../host.json", import.meta.url), "utf8")) as {
      extensionBundle: { version: string };
      extensions: { http: { routePrefix: string }; serviceBus: Record<string, unknown> };
    };
    expect(host.extensionBundle.version).toBe("[4.*, 5.0.0)");
    expect(host.extensions.http.routePrefix).toBe("api");
    // The fan-out settles through the host: it relies on automatic completion.
    expect(host.extensions.serviceBus).toMatchObject({ autoCompleteMessages: true });
    expect(host.extensions.serviceBus.maxConcurrentCalls).toBeGreaterThan(0);
    expect(host.extensions.serviceBus.maxAutoLockRenewalDuration).toMatch(/^\d\d:\d\d:\d\d$/);
  });

  it("delivers a notification published through `publish` to a Web PubSub client through `fanout`", async () => {
    const negotiated = await negotiateAs(functions, "alice");
    const ws = negotiated.transports.find((t) => t.name === "websocket");
    expect(ws?.url).toMatch(/^ws:\/\/localhost:\d+\/client\/hubs\/herald\?access_token=/);
    const client = new WebPubSubClient(ws!.url);
    clients.push(client);
    const frames: Frame[] = [];
    client.on("server-message", (e) => frames.push(e.message.data as Frame));
    await client.start();

    const response = await functions.publish(
      httpRequest("POST", "/api/notifications", {
        headers: publishHeaders,
        body: JSON.stringify({ type: "order.shipped", to: { users: ["alice"] }, data: { order: 7 } }),
      }),
      invocation("publish"),
    );
    expect(response.status).toBe(202);
    const { ids } = jsonOf(response) as { ids: string[] };
    expect(ids).toHaveLength(1);

    const run = await runServiceBusTrigger(receiver, functions.fanout);
    expect(run?.message.messageId).toBe(ids[0]);
    expect(run?.error).toBeUndefined();
    await waitFor(() => frames.length === 1, { message: "the frame at the Web PubSub client" });
    expect(frames[0]).toMatchObject({
      id: ids[0],
      type: "order.shipped",
      data: { order: 7 },
      stream: "user:alice",
      offset: 1,
    });
    // The table store holds it, where the gateway (same store) reads it for replay and gap fill.
    const stored = await gateway.store.read("user:alice", 0, 10);
    expect(stored.frames.map((f) => f.id)).toEqual([ids[0]]);
    // Completed: nothing is left for another delivery.
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);
  });

  it("serves the browser client over WebSocket alone (serverless: negotiate without a gateway)", async () => {
    // The Functions app alone, as deployed without a gateway: no HERALD_PUBLIC_URL, so its negotiate
    // offers websocket only and no gap fill. Its negotiate is served over real HTTP the way the host does.
    const serverless = createFunctions(
      readSettings({ ...stack.env, HERALD_FANOUT_SUBSCRIPTION: SUBSCRIPTION }),
      {
        log: silent,
      },
    );
    const host = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(req.headers))
          if (typeof value === "string") headers[name] = value;
        const body = Buffer.concat(chunks).toString("utf8");
        void serverless
          .negotiate(
            httpRequest(req.method ?? "GET", req.url ?? "/", { headers, ...(body ? { body } : {}) }),
            invocation("negotiate"),
          )
          .then((answer) => {
            res.writeHead(answer.status ?? 200, answer.headers as Record<string, string>);
            res.end(typeof answer.body === "string" ? answer.body : undefined);
          });
      });
    });
    await new Promise<void>((resolve) => host.listen(0, "127.0.0.1", resolve));
    const herald = connect({
      gateway: `http://127.0.0.1:${(host.address() as AddressInfo).port}`,
      token: () => appToken("erin"),
      WebSocket: WebSocket as unknown as WebSocketFactory,
      storage: null,
      environment: null,
    });
    try {
      const seen: { id: string; type: string }[] = [];
      herald.on("*", (n) => seen.push({ id: n.id, type: n.type }));
      await waitFor(() => herald.state === "connected", { message: "the client to connect" });
      expect(herald.transport).toBe("websocket");

      const published: string[] = [];
      for (const order of [1, 2]) {
        const response = await serverless.publish(
          httpRequest("POST", "/api/notifications", {
            headers: publishHeaders,
            body: JSON.stringify({ type: "order.shipped", to: { users: ["erin"] }, data: { order } }),
          }),
          invocation("publish"),
        );
        expect(response.status).toBe(202);
        published.push(...(jsonOf(response) as { ids: string[] }).ids);
        expect((await runServiceBusTrigger(receiver, serverless.fanout))?.error).toBeUndefined();
      }
      await waitFor(() => seen.length === 2, { message: "both notifications at the client" });
      expect(seen).toEqual(published.map((id) => ({ id, type: "order.shipped" })));
    } finally {
      herald.close();
      await new Promise<void>((resolve) => host.close(() => resolve()));
      await serverless.close();
    }
  });

  it("answers bad requests with the same status, code and headers as the gateway", async () => {
    const jwtNoRole = await appToken("mallory");
    const cases: { path: string; method: string; headers?: Record<string, string>; body?: string }[] = [
      {
        path: "/api/notifications",
        method: "POST",
        body: "{}",
        headers: { "content-type": "application/json" },
      },
      {
        path: "/api/notifications",
        method: "POST",
        body: "{}",
        headers: { ...publishHeaders, authorization: "Bearer nope" },
      },
      {
        path: "/api/notifications",
        method: "POST",
        body: "{}",
        headers: { ...publishHeaders, authorization: `Bearer ${jwtNoRole}` },
      },
      {
        path: "/api/notifications",
        method: "POST",
        body: "hi",
        headers: { ...publishHeaders, "content-type": "text/plain" },
      },
      { path: "/api/notifications", method: "POST", body: "{not json", headers: publishHeaders },
      {
        path: "/api/notifications",
        method: "POST",
        body: JSON.stringify({ type: "x", to: {} }),
        headers: publishHeaders,
      },
      {
        path: "/api/notifications",
        method: "POST",
        body: JSON.stringify({ type: "x", to: { broadcast: true }, extra: 1 }),
        headers: publishHeaders,
      },
      { path: "/api/notifications", method: "POST", body: JSON.stringify([]), headers: publishHeaders },
      {
        path: "/api/notifications",
        method: "POST",
        body: `{"type":"x","to":{"broadcast":true},"data":"${"a".repeat(1024 * 1024)}"}`,
        headers: publishHeaders,
      },
      { path: "/api/notifications", method: "GET" },
      { path: "/api/negotiate", method: "POST" },
      { path: "/api/negotiate", method: "POST", headers: { authorization: "Bearer not.a.jwt" } },
      {
        path: "/api/negotiate",
        method: "POST",
        headers: { authorization: `Bearer ${jwtNoRole}`, origin: "https://evil.example" },
      },
      { path: "/api/negotiate", method: "GET", headers: { authorization: `Bearer ${jwtNoRole}` } },
    ];
    const codes = new Set<string>();
    for (const c of cases) {
      const label = `${c.method} ${c.path} ${JSON.stringify(c.headers ?? {}).slice(0, 120)}`;
      const fromGateway = await fetch(`${gateway.url}${c.path}`, {
        method: c.method,
        headers: c.headers ?? {},
        ...(c.body === undefined ? {} : { body: c.body }),
      });
      const expected = (await fromGateway.json()) as { code: string };
      const fn = c.path === "/api/notifications" ? functions.publish : functions.negotiate;
      const response = await fn(
        httpRequest(c.method, c.path, {
          headers: c.headers ?? {},
          ...(c.body === undefined ? {} : { body: c.body }),
        }),
        invocation("bad-request"),
      );
      expect(fromGateway.status, label).toBeGreaterThanOrEqual(400);
      expect(response.status, label).toBe(fromGateway.status);
      const got = jsonOf(response) as { code: string };
      expect(got.code, label).toBe(expected.code);
      codes.add(got.code);
      const headers = response.headers as Record<string, string>;
      expect(headers["content-type"], label).toBe(fromGateway.headers.get("content-type"));
      expect(headers["www-authenticate"] ?? null, label).toBe(fromGateway.headers.get("www-authenticate"));
    }
    expect([...codes].sort()).toEqual([
      "HERALD_FORBIDDEN",
      "HERALD_INVALID_FIELD",
      "HERALD_MALFORMED_JSON",
      "HERALD_METHOD_NOT_ALLOWED",
      "HERALD_MISSING_TARGET",
      "HERALD_ORIGIN_NOT_ALLOWED",
      "HERALD_PAYLOAD_TOO_LARGE",
      "HERALD_UNAUTHORIZED",
      "HERALD_UNKNOWN_FIELD",
      "HERALD_UNSUPPORTED_MEDIA_TYPE",
    ]);
  });

  it("leaves a poison message to Service Bus's dead-letter queue, logging the reason InvalidNotification", async () => {
    const sender = bus.createSender("notifications");
    await sender.sendMessages({
      messageId: "poison-1",
      contentType: "application/json",
      body: { type: "x", to: { users: ["alice"] }, data: 1, secret: "not part of the envelope" },
    });
    await sender.close();
    const errors: unknown[] = [];
    // The host's behaviour with autoCompleteMessages: every throw abandons; Service Bus dead-letters
    // the message once it has been delivered MaxDeliveryCount times.
    for (let delivery = 1; delivery <= MAX_DELIVERY_COUNT; delivery++) {
      const run = await runServiceBusTrigger(receiver, functions.fanout);
      expect(run?.message.messageId).toBe("poison-1");
      expect(run?.message.deliveryCount).toBe(delivery - 1);
      errors.push(run?.error);
    }
    for (const error of errors) {
      expect(error).toBeInstanceOf(InvalidNotificationError);
      expect((error as InvalidNotificationError).reason).toBe("InvalidNotification");
      expect((error as InvalidNotificationError).description).toMatch(/^HERALD_UNKNOWN_FIELD: body\.secret/);
    }
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);
    const dlq = bus.createReceiver("notifications", SUBSCRIPTION, { subQueueType: "deadLetter" });
    const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 5_000 });
    await dlq.close();
    expect(dead?.messageId).toBe("poison-1");
    expect(dead?.deadLetterReason).toBe("MaxDeliveryCountExceeded");
    // Nothing of it reached the store.
    expect((await gateway.store.read("user:alice", 1, 10)).frames).toEqual([]);
  });

  it("throws on a transient failure, so the host abandons and Service Bus redelivers the message", async () => {
    const store = new MemoryStreamStore({ sweepIntervalMs: 0 });
    let failures = 1;
    const flaky: Sink = {
      name: "webpubsub",
      push: async () => {
        if (failures-- > 0) throw new Error("ECONNRESET");
      },
    };
    const handler = createFanoutHandler(async () => ({ store, sinks: [flaky], maxDataBytes: 65536 }), silent);
    try {
      const publish = await functions.publish(
        httpRequest("POST", "/api/notifications", {
          headers: publishHeaders,
          body: JSON.stringify({ type: "retry.me", to: { users: ["erin"] }, data: null }),
        }),
        invocation("publish"),
      );
      expect(publish.status, String(publish.body)).toBe(202);
      const [id] = (jsonOf(publish) as { ids: string[] }).ids;
      const first = await runServiceBusTrigger(receiver, handler);
      expect(first?.message.messageId).toBe(id);
      expect(first?.error).toBeInstanceOf(DeliveryFailedError);
      const second = await runServiceBusTrigger(receiver, handler);
      expect(second?.message.messageId).toBe(id);
      expect(second?.message.deliveryCount).toBe(1);
      expect(second?.error).toBeUndefined();
      // Stored once: the retry found the first attempt's frame.
      expect((await store.read("user:erin", 0, 10)).frames.map((f) => [f.id, f.offset])).toEqual([[id, 1]]);
      expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);
    } finally {
      await store.close();
    }
  });

  // Neither app has HERALD_GATEWAY_TOKEN_SECRET (as deployed): they share the key the Table store keeps.
  it("negotiates the Web PubSub URL and the gateway's fallbacks, whose tokens the gateway accepts", async () => {
    const body = await negotiateAs(functions, "carol");
    expect(body.userId).toBe("carol");
    expect(body.transports.map((t) => t.name)).toEqual(["websocket", "sse", "long-polling"]);
    expect(body.transports[1]!.url.startsWith(`${gateway.url}/api/sse?token=`)).toBe(true);
    expect(body.streamsUrl?.startsWith(`${gateway.url}/api/streams?token=`)).toBe(true);
    const polled = await fetch(`${body.transports[2]!.url}&wait=0`);
    expect(polled.status).toBe(200);
    expect((await fetch(body.streamsUrl!)).status).toBe(200);

    const preflight = await functions.negotiate(
      httpRequest("OPTIONS", "/api/negotiate", { headers: { origin: "https://evil.example" } }),
      invocation("negotiate"),
    );
    const fromGateway = await fetch(`${gateway.url}/api/negotiate`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example" },
    });
    expect(preflight.status).toBe(fromGateway.status);
  });

  it("negotiates websocket only when no gateway (or no shared token key) is configured", async () => {
    // No gateway URL; or a memory store, whose key is the process's own.
    for (const extra of [{}, { HERALD_PUBLIC_URL: gateway.url, HERALD_STORE: "memory" }]) {
      const alone = createFunctions(readSettings({ ...stack.env, ...extra }), { log: silent });
      try {
        expect(alone.fallbacks).toBe(false);
        const body = await negotiateAs(alone, "dave");
        expect(body.transports.map((t) => t.name)).toEqual(["websocket"]);
        expect(body.streamsUrl).toBeUndefined();
      } finally {
        await alone.close();
      }
    }
  });

  // Runs last: `read` holds every setting the tests above made the functions read.
  it("finds every setting the functions read in local.settings.json and in the Bicep Function App", () => {
    expect(read.size).toBeGreaterThan(10);
    const local = JSON.parse(readFileSync(new URL("../local.settings.json", import.meta.url), "utf8")) as {
      Values: Record<string, string>;
    };
    const bicep = readFileSync(new URL("../bicep/modules/functions.bicep", import.meta.url), "utf8");
    const block = /appSettings: \[([\s\S]*?)\n {6}\]/.exec(bicep)?.[1] ?? "";
    const inBicep = new Set([...block.matchAll(/\{ name: '([^']+)'/g)].map((m) => m[1]!));
    expect(inBicep.size).toBeGreaterThan(10);
    // The host's own connections: storage, and the trigger's Service Bus connection.
    expect(local.Values).toHaveProperty("AzureWebJobsStorage");
    expect(local.Values).toHaveProperty("FUNCTIONS_WORKER_RUNTIME", "node");
    for (const name of [
      "AzureWebJobsStorage__accountName",
      "AzureWebJobsStorage__credential",
      "AzureWebJobsStorage__clientId",
    ]) {
      expect(inBicep, name).toContain(name);
    }
    for (const suffix of ["fullyQualifiedNamespace", "credential", "clientId"]) {
      expect(inBicep).toContain(`HERALD_SERVICEBUS__${suffix}`);
    }
    /** Settings only ever set locally: credentials the templates must not carry (docs/deploy.md). */
    const localOnly = new Set<string>(["HERALD_PUBLISH_KEYS"]);
    for (const name of read) {
      const spec = SETTINGS[name];
      if (name.includes("__")) continue; // an identity form: Azure only (checked through its base below)
      expect(local.Values, `local.settings.json sets ${name}`).toHaveProperty(name);
      const identityForms = Object.keys(SETTINGS).filter((k) => k.startsWith(`${name}__`));
      if (spec.kind === "secret" && identityForms.length > 0) {
        // A connection: Azure names the service for the managed identity instead.
        expect(
          identityForms.some((form) => inBicep.has(form)),
          `the Function App sets one of ${identityForms.join(", ")}`,
        ).toBe(true);
      } else if (spec.kind !== "secret" && !("default" in spec) && !localOnly.has(name)) {
        expect(inBicep, `the Function App sets ${name}`).toContain(name);
      }
    }
    // No secret reaches the templates.
    for (const name of inBicep) {
      if (name in SETTINGS) expect(SETTINGS[name as SettingName].kind, name).not.toBe("secret");
    }
  });
});
