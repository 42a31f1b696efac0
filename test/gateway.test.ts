import { ServiceBusClient } from "@azure/service-bus";
import { WebPubSubServiceClient } from "@azure/web-pubsub";
import { WebPubSubClient } from "@azure/web-pubsub-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readSettings } from "../core/config.js";
import type { Frame } from "../core/streams.js";
import { signDevToken } from "../gateway/auth/tokens.js";
import { startGateway, type Gateway } from "../gateway/index.js";
import { createLogger } from "../gateway/log.js";
import { TEST_JWT_SECRET, TEST_PUBLISH_KEY, startTestStack, type TestStack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

let stack: TestStack;
let gateway: Gateway;
let bus: ServiceBusClient;
const clients: WebPubSubClient[] = [];

beforeAll(async () => {
  stack = await startTestStack();
  gateway = await startGateway(readSettings(stack.env), { log: createLogger({ level: "silent" }) });
  bus = new ServiceBusClient(stack.serviceBus.connectionString);
});

afterAll(async () => {
  for (const client of clients) client.stop();
  await bus?.close();
  await gateway?.close();
  await stack?.close();
});

/** A Web PubSub client (the official SDK) for a user, collecting the frames it receives. */
async function connectUser(userId: string, groups: string[] = []): Promise<Frame[]> {
  const service = new WebPubSubServiceClient(stack.webPubSub.connectionString, "herald", {
    allowInsecureConnection: true,
  });
  const { url } = await service.getClientAccessToken({ userId, groups });
  const client = new WebPubSubClient(url);
  clients.push(client);
  const frames: Frame[] = [];
  client.on("server-message", (e) => frames.push(e.message.data as Frame));
  client.on("group-message", (e) => frames.push(e.message.data as Frame));
  await client.start();
  return frames;
}

function publish(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gateway.url}/api/notifications`, {
    method: "POST",
    headers: { authorization: `Bearer ${TEST_PUBLISH_KEY}`, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

describe("gateway, end to end through the emulators", () => {
  it("delivers a notification published over HTTP to the user's WebSocket client", async () => {
    const frames = await connectUser("alice");
    const res = await publish({ type: "order.shipped", to: { users: ["alice"] }, data: { order: 7 } });
    expect(res.status).toBe(202);
    const { ids } = (await res.json()) as { ids: string[] };
    expect(ids).toHaveLength(1);
    await waitFor(() => frames.length === 1);
    expect(frames[0]).toMatchObject({
      id: ids[0],
      type: "order.shipped",
      data: { order: 7 },
      stream: "user:alice",
      offset: 1,
    });
    expect(typeof frames[0]!.ts).toBe("number");
  });

  it("delivers a notification sent with @azure/service-bus directly to a group and to broadcast", async () => {
    const bob = await connectUser("bob", ["ops"]);
    const sender = bus.createSender("notifications");
    await sender.sendMessages({
      messageId: "direct-1",
      subject: "incident.opened",
      contentType: "application/json",
      body: { type: "incident.opened", to: { groups: ["ops"], broadcast: true }, data: { sev: 2 } },
    });
    await sender.close();
    await waitFor(() => bob.length === 2);
    const streams = bob.map((f) => f.stream).sort();
    expect(streams).toEqual(["broadcast", "group:ops"]);
    expect(bob.every((f) => f.id === "direct-1" && f.type === "incident.opened")).toBe(true);
  });

  it("dead-letters a poison message with reason InvalidNotification and a description", async () => {
    const sender = bus.createSender("notifications");
    await sender.sendMessages({ messageId: "poison-1", subject: "x", body: { type: "x", to: {}, data: 1 } });
    await sender.close();
    const dlq = bus.createReceiver("notifications", "gateway", { subQueueType: "deadLetter" });
    const [message] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 10_000 });
    expect(message?.messageId).toBe("poison-1");
    expect(message?.deadLetterReason).toBe("InvalidNotification");
    expect(message?.deadLetterErrorDescription).toMatch(/HERALD_MISSING_TARGET/);
    await dlq.completeMessage(message!);
    await dlq.close();
  });

  it.each([
    ["malformed JSON", "{nope", {}, 400, "HERALD_MALFORMED_JSON", undefined],
    ["a missing target", { type: "a", data: 1 }, {}, 400, "HERALD_MISSING_TARGET", "to"],
    [
      "an invalid type",
      { type: "a b", to: { broadcast: true }, data: 1 },
      {},
      400,
      "HERALD_INVALID_TYPE",
      "type",
    ],
    [
      "an unknown field",
      { type: "a", to: { broadcast: true }, data: 1, x: 1 },
      {},
      400,
      "HERALD_UNKNOWN_FIELD",
      "x",
    ],
    [
      "a bad batch entry",
      [
        { type: "a", to: { broadcast: true }, data: 1 },
        { type: "a", data: 1 },
      ],
      {},
      400,
      "HERALD_MISSING_TARGET",
      "[1].to",
    ],
    [
      "no credential",
      { type: "a", to: { broadcast: true }, data: 1 },
      { authorization: "" },
      401,
      "HERALD_UNAUTHORIZED",
      undefined,
    ],
    [
      "a wrong key",
      { type: "a", to: { broadcast: true }, data: 1 },
      { authorization: "Bearer nope" },
      401,
      "HERALD_UNAUTHORIZED",
      undefined,
    ],
    [
      "data over the limit",
      { type: "a", to: { broadcast: true }, data: "x".repeat(70_000) },
      {},
      413,
      "HERALD_PAYLOAD_TOO_LARGE",
      "data",
    ],
    ["a body over 1 MiB", "x".repeat(1_100_000), {}, 413, "HERALD_PAYLOAD_TOO_LARGE", undefined],
    [
      "a non-JSON content type",
      "a=b",
      { "content-type": "text/plain" },
      415,
      "HERALD_UNSUPPORTED_MEDIA_TYPE",
      undefined,
    ],
  ])("answers %s with %i %s", async (_name, body, headers, status, code, target) => {
    const res = await publish(body, headers as Record<string, string>);
    expect(res.status).toBe(status);
    const json = (await res.json()) as { code: string; target?: string; message: string };
    expect(json.code).toBe(code);
    expect(json.target).toBe(target);
    expect(json.message.length).toBeGreaterThan(0);
  });

  it("answers a user's token with 403 and takes a JWT with the publish role", async () => {
    const user = await signDevToken(TEST_JWT_SECRET, { userId: "alice" });
    const denied = await publish(
      { type: "a", to: { broadcast: true }, data: 1 },
      { authorization: `Bearer ${user}` },
    );
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { code: string }).code).toBe("HERALD_FORBIDDEN");
    const service = await signDevToken(TEST_JWT_SECRET, { userId: "billing", roles: ["herald.publish"] });
    const ok = await publish(
      { type: "a", to: { broadcast: true }, data: 1 },
      { authorization: `Bearer ${service}` },
    );
    expect(ok.status).toBe(202);
  });

  it("serves health, readiness and metrics", async () => {
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${gateway.url}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/^herald_messages_completed_total [1-9]/m);
    expect(metrics).toMatch(/^herald_messages_dead_lettered_total\{reason="InvalidNotification"\} 1/m);
    expect(metrics).toMatch(/^herald_end_to_end_seconds_count [1-9]/m);
    const missing = await fetch(`${gateway.url}/nope`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { code: string }).code).toBe("HERALD_NOT_FOUND");
  });
});

describe("gateway fallbacks, end to end", () => {
  it("negotiates transports and delivers a published notification over long-polling", async () => {
    const token = await signDevToken(TEST_JWT_SECRET, { userId: "carol", groups: ["ops"] });
    const res = await fetch(`${gateway.url}/api/negotiate`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    const negotiated = (await res.json()) as { userId: string; transports: { name: string; url: string }[] };
    expect(negotiated.userId).toBe("carol");
    expect(negotiated.transports.map((t) => t.name)).toEqual(["websocket", "sse", "long-polling"]);
    const poll = new URL(negotiated.transports.find((t) => t.name === "long-polling")!.url, gateway.url);
    // Start from the head of every stream, then publish and wait for the frame.
    const first = (await (await fetch(`${poll.href}&wait=0`)).json()) as { cursor: string };
    const published = await publish({ type: "poll.test", to: { users: ["carol"] }, data: { n: 1 } });
    const { ids } = (await published.json()) as { ids: string[] };
    poll.searchParams.set("cursor", first.cursor);
    let frames: Frame[] = [];
    for (let i = 0; i < 10 && !frames.some((f) => f.id === ids[0]); i++) {
      poll.searchParams.set("wait", "5");
      const answer = (await (await fetch(poll)).json()) as { frames: Frame[]; cursor: string };
      frames = frames.concat(answer.frames);
      poll.searchParams.set("cursor", answer.cursor);
    }
    expect(frames.filter((f) => f.id === ids[0])).toEqual([
      expect.objectContaining({ type: "poll.test", data: { n: 1 }, stream: "user:carol", offset: 1 }),
    ]);
  });
});
