/**
 * The AMQP connection under the gateway's consumer dropped mid-stream: the gateway talks to the
 * Service Bus emulator through a TCP proxy that the test cuts (every socket destroyed) while
 * notifications flow. The consumer must reconnect by itself, the messages that were in flight on the
 * dead link must come back (their locks expire: the subscription's lock duration is 5 s here) and
 * every stream must end with each notification once, at contiguous offsets, with nothing
 * dead-lettered. Before the consumer renewed locks itself, the first test stalled: the SDK kept
 * renewing the dead link's locks over the new connection and its settlements on the dead link hung.
 * The second test (emulator stopped abruptly, restarted from its data dir) also passed before that
 * change, only slower; it guards recovery across a restart.
 */
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServiceBusClient } from "@azure/service-bus";
import { afterEach, describe, expect, it } from "vitest";
import { readSettings } from "../core/config.js";
import { userStream, type Frame } from "../core/streams.js";
import { emulatorConnectionString, startServiceBusEmulator } from "../emulator/servicebus/index.js";
import { startGateway, type Gateway } from "../gateway/index.js";
import { createLogger } from "../gateway/log.js";
import type { StreamStore } from "../gateway/store/types.js";
import { Publisher } from "../publisher/publisher.js";
import { heraldNamespace, startTestStack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Proxy {
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Destroys every open socket, both sides; new connections are still accepted. */
  cut(): number;
  /** Sends new connections to another port (an emulator restarted elsewhere). */
  retarget(port: number): void;
  close(): Promise<void>;
}

async function startProxy(initialTarget: number): Promise<Proxy> {
  let targetPort = initialTarget;
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  };
  const server = net.createServer((client) => {
    accepted++;
    // Target 0: the upstream is down (refuse, as a stopped process's port would).
    if (targetPort === 0) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, "127.0.0.1");
    track(client);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const cut = (): number => {
    const n = sockets.size;
    for (const socket of sockets) socket.destroy();
    return n;
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    get accepted() {
      return accepted;
    },
    cut,
    retarget: (port) => {
      targetPort = port;
    },
    close: async () => {
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function readAll(store: StreamStore, stream: string): Promise<Frame[]> {
  const frames: Frame[] = [];
  let after = 0;
  for (;;) {
    const page = await store.read(stream, after, 1000);
    frames.push(...page.frames);
    if (page.cursor >= page.head) return frames;
    after = page.cursor;
  }
}

async function storedCount(gateway: Gateway): Promise<number> {
  let n = 0;
  for (const user of USERS) n += (await gateway.store.read(userStream(user), 0, 1)).head;
  return n;
}

/**
 * Waits until every notification is stored and the subscription is empty (a peek also shows locked
 * messages), then checks every stream holds its notifications once at offsets 1..n and nothing was
 * dead-lettered. The completed count can fall short of the total: a completion sent just before the
 * connection went may have been applied by Service Bus without its answer reaching the gateway.
 */
async function expectEveryNotificationOnce(
  gateway: Gateway,
  bus: ServiceBusClient,
  total: number,
): Promise<void> {
  const peeker = bus.createReceiver("notifications", "gateway");
  try {
    await waitFor(
      async () => (await storedCount(gateway)) >= total && (await peeker.peekMessages(1)).length === 0,
      {
        timeoutMs: 40_000,
        intervalMs: 250,
        message: "every notification stored and the subscription drained",
        onTimeout: async () => {
          const left = await peeker.peekMessages(50);
          const now = Date.now();
          const detail = left.map(
            (m) => `${String(m.messageId)}#${m.deliveryCount}@${(m.lockedUntilUtc?.getTime() ?? 0) - now}ms`,
          );
          return `stored ${await storedCount(gateway)} of ${total}; left: ${detail.join(" ")}`;
        },
      },
    );
  } finally {
    await peeker.close();
  }
  const seen = new Set<string>();
  for (const user of USERS) {
    const frames = await readAll(gateway.store, userStream(user));
    expect(frames.map((f) => f.offset)).toEqual(frames.map((_, i) => i + 1));
    for (const frame of frames) {
      expect(seen.has(frame.id), `duplicate ${frame.id}`).toBe(false);
      expect(frame.id.startsWith(`n-${user}-`)).toBe(true);
      seen.add(frame.id);
    }
  }
  expect(seen.size).toBe(total);
  const dlq = bus.createReceiver("notifications", "gateway", { subQueueType: "deadLetter" });
  expect(await dlq.peekMessages(10)).toHaveLength(0);
  await dlq.close();
  const deadLettered = (await gateway.metrics.deadLettered.get()).values.reduce((n, v) => n + v.value, 0);
  expect(deadLettered).toBe(0);
}

async function completedCount(gateway: Gateway): Promise<number> {
  return (await gateway.metrics.completed.get()).values[0]?.value ?? 0;
}

const USERS = Array.from({ length: 10 }, (_, i) => `u${i}`);
const PER_USER = 150;

describe("gateway consumer, AMQP connection dropped", { timeout: 60_000 }, () => {
  it("reconnects by itself and ends with every notification stored once, none dead-lettered", async () => {
    const stack = await startTestStack();
    cleanups.push(() => stack.close());
    const proxy = await startProxy(stack.serviceBus.port);
    cleanups.push(() => proxy.close());
    const gateway = await startGateway(
      readSettings({
        ...stack.env,
        HERALD_SERVICEBUS: emulatorConnectionString(proxy.port),
        HERALD_CONCURRENCY: "16",
        HERALD_PREFETCH: "32",
      }),
      { log: createLogger({ level: "silent" }) },
    );
    cleanups.push(() => gateway.close());
    const bus = new ServiceBusClient(stack.serviceBus.connectionString);
    cleanups.push(() => bus.close());
    const publisher = Publisher.fromConnectionString(stack.serviceBus.connectionString);
    cleanups.push(() => publisher.close());

    const completed = (): Promise<number> => completedCount(gateway);
    const total = USERS.length * PER_USER;
    // Publish in small batches so messages are still flowing (and in flight) when the proxy is cut.
    let cutAfter = -1;
    let cutSockets = 0;
    let acceptedAtCut = 0;
    for (let i = 0; i < PER_USER; i += 5) {
      const batch = USERS.flatMap((user) =>
        [0, 1, 2, 3, 4].map((k) => ({
          id: `n-${user}-${i + k}`,
          type: "test.reconnect",
          to: { users: [user] },
          data: { i: i + k },
        })),
      );
      await publisher.publishBatch(batch);
      if (cutAfter < 0 && (await completed()) >= 200) {
        cutAfter = await completed();
        acceptedAtCut = proxy.accepted;
        cutSockets = proxy.cut();
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (cutAfter < 0) {
      // The gateway was slower than the publisher: cut while it drains the backlog.
      await waitFor(async () => (await completed()) >= 200, { timeoutMs: 20_000, message: "200 completed" });
      cutAfter = await completed();
      acceptedAtCut = proxy.accepted;
      cutSockets = proxy.cut();
    }
    expect(cutSockets).toBeGreaterThan(0);
    expect(cutAfter).toBeLessThan(total);

    await expectEveryNotificationOnce(gateway, bus, total);
    expect(proxy.accepted).toBeGreaterThan(acceptedAtCut);
  });

  it("recovers when the emulator restarts on the same data dir mid-stream", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "herald-reconnect-"));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const stack = await startTestStack({ dataDir });
    cleanups.push(() => stack.close());
    const proxy = await startProxy(stack.serviceBus.port);
    cleanups.push(() => proxy.close());
    const gateway = await startGateway(
      readSettings({
        ...stack.env,
        HERALD_SERVICEBUS: emulatorConnectionString(proxy.port),
        HERALD_CONCURRENCY: "16",
        HERALD_PREFETCH: "32",
      }),
      { log: createLogger({ level: "silent" }) },
    );
    cleanups.push(() => gateway.close());
    const publisher = Publisher.fromConnectionString(stack.serviceBus.connectionString);
    const total = USERS.length * PER_USER;
    for (let i = 0; i < PER_USER; i += 10) {
      await publisher.publishBatch(
        USERS.flatMap((user) =>
          Array.from({ length: 10 }, (_, k) => ({
            id: `n-${user}-${i + k}`,
            type: "test.reconnect",
            to: { users: [user] },
            data: { i: i + k },
          })),
        ),
      );
    }
    await publisher.close();
    await waitFor(async () => (await completedCount(gateway)) >= 200, {
      timeoutMs: 20_000,
      message: "200 completed",
    });

    // The emulator goes away mid-stream as a killed process would (the gateway sees its connection
    // drop, no AMQP close first) and comes back from its data dir on another port.
    const acceptedAtRestart = proxy.accepted;
    proxy.retarget(0);
    proxy.cut();
    await stack.serviceBus.close();
    expect(await storedCount(gateway)).toBeLessThan(total);
    const restarted = await startServiceBusEmulator({
      namespace: heraldNamespace(),
      port: 0,
      managementPort: 0,
      dataDir,
    });
    cleanups.push(() => restarted.close());
    proxy.retarget(restarted.port);
    const bus = new ServiceBusClient(restarted.connectionString);
    cleanups.push(() => bus.close());

    await expectEveryNotificationOnce(gateway, bus, total);
    expect(proxy.accepted).toBeGreaterThan(acceptedAtRestart);
  });
});
