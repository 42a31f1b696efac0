/**
 * HERALD_DELIVERY_TOPIC end to end: two `startGateway` replicas consume one subscription of the
 * notifications topic (competing consumers) against the Service Bus emulator, share a table store on
 * Azurite, and feed their SSE and long-poll connections through the delivery topic. The administration
 * client reaches the emulator's management endpoint from the settings alone.
 */
import { ServiceBusAdministrationClient } from "@azure/service-bus";
import { EventSource } from "eventsource";
import { afterEach, describe, expect, it } from "vitest";
import { readSettings } from "../core/config.js";
import type { NegotiateResponse } from "../core/live.js";
import type { Frame } from "../core/streams.js";
import { emulatorAdministrationOptions } from "../publisher/emulator-admin.js";
import { signDevToken } from "../gateway/auth/tokens.js";
import { startGateway, type Gateway } from "../gateway/index.js";
import { serviceBusManagementUrl } from "../gateway/services.js";
import { createLogger } from "../gateway/log.js";
import { Publisher } from "../publisher/publisher.js";
import { TEST_JWT_SECRET, startTestStack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const DELIVERY = "delivery";
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => {});
});

/** A counter's value in a Prometheus text exposition (0 when absent). */
function metric(text: string, line: RegExp): number {
  const m = line.exec(text);
  return m ? Number(m[1]) : 0;
}

async function metricsOf(gateway: Gateway): Promise<string> {
  return (await fetch(`${gateway.url}/metrics`)).text();
}

describe("serviceBusManagementUrl", () => {
  const emulator =
    "Endpoint=sb://localhost:5673;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;";

  it("defaults to port 5300 of the emulator's Endpoint host, and takes the setting over it", () => {
    expect(serviceBusManagementUrl(readSettings({ HERALD_SERVICEBUS: emulator }))).toBe(
      "http://localhost:5300",
    );
    expect(
      serviceBusManagementUrl(
        readSettings({ HERALD_SERVICEBUS: emulator.replace("sb://localhost:5673", "sb://[::1]") }),
      ),
    ).toBe("http://[::1]:5300");
    expect(
      serviceBusManagementUrl(
        readSettings({
          HERALD_SERVICEBUS: emulator,
          HERALD_SERVICEBUS_MANAGEMENT_URL: "http://127.0.0.1:15300",
        }),
      ),
    ).toBe("http://127.0.0.1:15300");
  });

  it("is undefined for a real namespace", () => {
    const real = "Endpoint=sb://herald.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=abc=";
    expect(serviceBusManagementUrl(readSettings({ HERALD_SERVICEBUS: real }))).toBeUndefined();
    expect(
      serviceBusManagementUrl(readSettings({ HERALD_SERVICEBUS: `${real};UseDevelopmentEmulator=false` })),
    ).toBeUndefined();
    expect(serviceBusManagementUrl(readSettings({}))).toBeUndefined();
  });
});

describe("gateway replicas on the delivery topic", { timeout: 120_000 }, () => {
  it("delivers every notification exactly once to an SSE client on replica A, including those replica B consumed", async () => {
    const stack = await startTestStack({ store: "table" });
    cleanups.push(() => stack.close());
    // The delivery topic is infrastructure (Bicep creates it in Azure); the replicas create only their
    // own subscriptions on it.
    const adminOptions = emulatorAdministrationOptions(stack.serviceBus.managementUrl);
    cleanups.push(() => adminOptions.agent.destroy());
    const admin = new ServiceBusAdministrationClient(stack.env.HERALD_SERVICEBUS!, adminOptions);
    await admin.createTopic(DELIVERY);

    const settings = readSettings({
      ...stack.env,
      HERALD_DELIVERY_TOPIC: DELIVERY,
      HERALD_GATEWAY_TOKEN_SECRET: "replicas-share-this-gateway-secret-0123",
      // Small windows so both replicas take part of the subscription's messages.
      HERALD_CONCURRENCY: "4",
      HERALD_PREFETCH: "4",
    });
    const log = createLogger({ level: "silent" });
    const a = await startGateway(settings, { log });
    cleanups.push(() => a.close());
    const b = await startGateway(settings, { log });
    cleanups.push(() => b.close());
    const subscriptions = [];
    for await (const sub of admin.listSubscriptions(DELIVERY)) subscriptions.push(sub.subscriptionName);
    expect(subscriptions).toHaveLength(2);

    const negotiated = await fetch(`${a.url}/api/negotiate`, {
      method: "POST",
      headers: { authorization: `Bearer ${await signDevToken(TEST_JWT_SECRET, { userId: "alice" })}` },
    });
    expect(negotiated.status).toBe(200);
    const { transports } = (await negotiated.json()) as NegotiateResponse;
    const sseUrl = transports.find((t) => t.name === "sse")!.url;
    expect(sseUrl.startsWith(`${a.url}/api/sse?`)).toBe(true);
    const es = new EventSource(sseUrl);
    cleanups.push(() => es.close());
    const frames: Frame[] = [];
    let ready = false;
    es.addEventListener("ready", () => (ready = true));
    es.addEventListener("notification", (e) => frames.push(JSON.parse(e.data as string) as Frame));
    await waitFor(() => ready, { message: "ready on replica A" });
    expect(await metricsOf(a)).toMatch(/^herald_connections\{transport="sse"\} 1$/m);
    expect(await metricsOf(b)).not.toMatch(/^herald_connections\{transport="sse"\} [1-9]/m);

    const completed = /^herald_messages_completed_total (\d+)$/m;
    const publisher = Publisher.fromConnectionString(stack.env.HERALD_SERVICEBUS!);
    cleanups.push(() => publisher.close());
    const ids: string[] = [];
    // Batches until both replicas' consumers have completed some (bounded: a run where one replica
    // takes everything would prove nothing about the backplane).
    for (let batch = 0; batch < 10; batch++) {
      const notes = Array.from({ length: 25 }, (_, i) => ({
        id: `bp-${batch}-${i}`,
        type: "test.backplane",
        to: { users: ["alice"] },
        data: { n: ids.length + i },
      }));
      ids.push(...notes.map((n) => n.id));
      await publisher.publishBatch(notes);
      await waitFor(
        async () =>
          metric(await metricsOf(a), completed) + metric(await metricsOf(b), completed) === ids.length,
        { timeoutMs: 30_000, message: `${ids.length} completed` },
      );
      if (metric(await metricsOf(a), completed) > 0 && metric(await metricsOf(b), completed) > 0) break;
    }
    const byB = metric(await metricsOf(b), completed);
    expect(byB).toBeGreaterThan(0);
    expect(metric(await metricsOf(a), completed)).toBeGreaterThan(0);

    await waitFor(() => frames.length >= ids.length, {
      timeoutMs: 30_000,
      message: `${ids.length} frames on replica A`,
      onTimeout: () => Promise.resolve(`got ${frames.length}`),
    });
    // Anything extra (a duplicate) would have arrived with the rest: give it a moment, then compare.
    await new Promise((r) => setTimeout(r, 300));
    expect(frames.map((f) => f.id).sort()).toEqual([...ids].sort());
    expect(frames.map((f) => f.offset)).toEqual(ids.map((_, i) => i + 1));
    // Replica A's hub got B's frames through the delivery topic.
    expect(await metricsOf(a)).toMatch(/^herald_backplane_messages_total\{direction="received"\} [1-9]/m);
  });
});
