/**
 * The backplane against the Service Bus emulator with the official SDK: two gateway "replicas" (each a
 * LiveHub behind its own HTTP server, with its own subscription on the delivery topic) share a stream
 * store; a notification consumed by replica A reaches SSE clients of both.
 */
import { ServiceBusAdministrationClient } from "@azure/service-bus";
import { describe, expect, it } from "vitest";
import { emulatorAdministrationOptions } from "../publisher/emulator-admin.js";
import { streamsFor } from "../core/streams.js";
import { startHttpServer } from "../gateway/http/server.js";
import { readSettings } from "../core/config.js";
import { BackplaneReceiver, BackplaneSink, SUBSCRIPTION_IDLE } from "../gateway/live/backplane.js";
import { startLive } from "../gateway/live/index.js";
import { LiveHub } from "../gateway/live/hub.js";
import { liveRoutes } from "../gateway/live/routes.js";
import { GatewayTokens } from "../gateway/live/tokens.js";
import { createTokenVerifier } from "../gateway/auth/tokens.js";
import { createLogger } from "../gateway/log.js";
import { GatewayMetrics } from "../gateway/metrics.js";
import { MemoryStreamStore } from "../gateway/store/index.js";
import { APP_SECRET, openRawSse, useCleanup } from "./helpers/live.js";
import { startBus, topic } from "./helpers/servicebus.js";

const TOPIC = "delivery";
const SECRET = "replicas-share-this-gateway-secret-0123";

describe("backplane over the Service Bus emulator", () => {
  const register = useCleanup();

  async function setup() {
    const { emulator, client } = await startBus(register, { topics: [topic(TOPIC, [])] });
    const adminOptions = emulatorAdministrationOptions(emulator.managementUrl);
    register({ close: () => adminOptions.agent.destroy() });
    const admin = new ServiceBusAdministrationClient(emulator.connectionString, adminOptions);
    const log = createLogger({ level: "silent" });
    // The replicas' shared stream store (Table Storage in Azure).
    const store = new MemoryStreamStore({ sweepIntervalMs: 0 });
    register(store);
    const replica = async (name: string) => {
      const metrics = new GatewayMetrics({ defaultMetrics: false });
      const hub = new LiveHub({ store, metrics, log });
      const receiver = await BackplaneReceiver.start({ client, admin, topic: TOPIC, hub, metrics, log });
      const tokens = new GatewayTokens({ secret: SECRET });
      const http = await startHttpServer({
        host: "127.0.0.1",
        port: 0,
        log,
        routes: liveRoutes({ hub, tokens, verifier: createTokenVerifier({ secret: APP_SECRET }) }),
      });
      register({ close: () => http.close() });
      register(hub);
      register(receiver);
      const sink = new BackplaneSink({ client, topic: TOPIC, metrics });
      register(sink);
      return { name, hub, receiver, http, tokens, metrics, sink };
    };
    return { client, admin, store, replica };
  }

  it("feeds every replica's connections from the delivery topic, each replica on its own subscription", async () => {
    const { admin, store, replica } = await setup();
    const a = await replica("a");
    const b = await replica("b");
    expect(a.receiver.subscription).not.toBe(b.receiver.subscription);
    const sub = await admin.getSubscription(TOPIC, b.receiver.subscription);
    expect(sub.autoDeleteOnIdle).toBe(SUBSCRIPTION_IDLE);

    // A token from replica A's negotiate is accepted by replica B (shared secret).
    const token = (await a.tokens.sign({ userId: "alice", groups: ["ops"] })).token;
    const onA = await openRawSse(`${a.http.url}/api/sse?token=${token}`);
    const onB = await openRawSse(`${b.http.url}/api/sse?token=${token}`);
    register(onA);
    register(onB);
    await onA.until((p) => p.events.some((e) => e.event === "ready"));
    await onB.until((p) => p.events.some((e) => e.event === "ready"));

    // Replica A's consumer: append to the shared store, then hand the frames to its backplane sink.
    for (let i = 0; i < 20; i++) {
      const to = i % 2 ? { users: ["alice"], groups: ["ops"] } : { broadcast: true as const };
      const { frames } = await store.append(
        { id: `n${i}`, type: "t", data: { i }, ts: Date.now() },
        streamsFor(to),
      );
      await a.sink.push(frames);
    }
    for (const sse of [onA, onB]) {
      await sse.until((p) => p.frames().length === 30);
      const frames = sse.parser.frames();
      for (const stream of ["user:alice", "group:ops", "broadcast"]) {
        const offsets = frames.filter((f) => f.stream === stream).map((f) => f.offset);
        expect(offsets).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      }
    }
    const published = await a.metrics.backplaneMessages.get();
    expect(published.values.find((v) => v.labels.direction === "published")?.value).toBe(20);
    const received = await b.metrics.backplaneMessages.get();
    expect(received.values.find((v) => v.labels.direction === "received")?.value).toBe(20);

    await b.receiver.close();
    expect(await admin.subscriptionExists(TOPIC, b.receiver.subscription)).toBe(false);
  });

  it("drops invalid delivery messages with a count and keeps delivering", async () => {
    const { client, store, replica } = await setup();
    const b = await replica("b");
    const token = (await b.tokens.sign({ userId: "alice", groups: [] })).token;
    const sse = await openRawSse(`${b.http.url}/api/sse?token=${token}`);
    register(sse);
    await sse.until((p) => p.events.some((e) => e.event === "ready"));
    const sender = client.createSender(TOPIC);
    register(sender);
    await sender.sendMessages([
      { body: "not json" },
      { body: Buffer.from('{"v":1,"n":[{"id":"x","type":"t","ts":1,"data":1,"at":[["user:bob",0]]}]}') },
      { body: { v: 2 } },
    ]);
    const { frames } = await store.append({ id: "ok", type: "t", data: "fine", ts: 1 }, ["broadcast"]);
    await b.sink.push(frames);
    await sse.until((p) => p.frames().length === 1);
    expect(sse.parser.frames()[0]!.data).toBe("fine");
    const counts = await b.metrics.backplaneMessages.get();
    expect(counts.values.find((v) => v.labels.direction === "invalid")?.value).toBe(3);
  });

  it("fails at start with a clear error when the delivery topic does not exist", async () => {
    const { client, admin, store } = await setup();
    const hub = new LiveHub({ store });
    register(hub);
    await expect(BackplaneReceiver.start({ client, admin, topic: "missing", hub })).rejects.toMatchObject({
      code: "HERALD_INVALID_CONFIG",
      target: "HERALD_DELIVERY_TOPIC",
    });
  });

  it("is what startLive wires from HERALD_DELIVERY_TOPIC; without it the hub is the sink", async () => {
    const { client, admin, store } = await setup();
    const verifier = createTokenVerifier({ secret: APP_SECRET });
    const log = createLogger({ level: "silent" });
    const settings = readSettings({ HERALD_DELIVERY_TOPIC: TOPIC, HERALD_GATEWAY_TOKEN_SECRET: SECRET });
    const live = await startLive({ settings, store, verifier, log, serviceBus: { client, admin } });
    const http = await startHttpServer({ host: "127.0.0.1", port: 0, log, routes: live.routes });
    register({ close: () => http.close() });
    register(live);
    expect(live.sinks.map((s) => s.name)).toEqual(["backplane"]);
    expect(await admin.subscriptionExists(TOPIC, live.backplane!.subscription)).toBe(true);

    const token = (await live.tokens.sign({ userId: "alice", groups: [] })).token;
    const sse = await openRawSse(`${http.url}/api/sse?token=${token}`);
    register(sse);
    await sse.until((p) => p.events.some((e) => e.event === "ready"));
    const { frames } = await store.append({ id: "via-topic", type: "t", data: 1, ts: 1 }, ["user:alice"]);
    for (const sink of live.sinks) await sink.push(frames);
    await sse.until((p) => p.frames().length === 1);
    expect(sse.parser.frames()[0]!.id).toBe("via-topic");

    const single = await startLive({ settings: readSettings({}), store, verifier });
    register(single);
    expect(single.sinks).toEqual([single.hub]);
    await expect(startLive({ settings, store, verifier })).rejects.toMatchObject({
      code: "HERALD_INVALID_CONFIG",
      target: "HERALD_DELIVERY_TOPIC",
    });
  });
});
