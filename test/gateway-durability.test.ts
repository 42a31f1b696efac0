/**
 * What "nothing is lost" means for the gateway: a SIGKILL mid-stream, two replicas on one
 * subscription both end with every stream holding every notification
 * once, at contiguous offsets. Gateways run as child processes (`herald gateway`) against the
 * emulators and a real Azurite.
 */
import { afterEach, describe, expect, it } from "vitest";
import { userStream, type Frame } from "../core/streams.js";
import { TableStreamStore } from "../gateway/store/index.js";
import { Publisher } from "../publisher/publisher.js";
import { startHerald, type RunningServer } from "./helpers/cli.js";
import { startTestStack, type TestStack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function stackWithTable(): Promise<TestStack> {
  const stack = await startTestStack({ store: "table" });
  cleanups.push(() => stack.close());
  return stack;
}

async function gatewayProcess(stack: TestStack): Promise<RunningServer> {
  const server = await startHerald(["gateway"], {
    env: { ...stack.env, HERALD_CONCURRENCY: "32", HERALD_PREFETCH: "64" },
  });
  cleanups.push(() => server.stop("SIGKILL"));
  return server;
}

async function publishAll(stack: TestStack, users: string[], perUser: number): Promise<Set<string>> {
  const publisher = Publisher.fromConnectionString(stack.env.HERALD_SERVICEBUS!);
  const ids = new Set<string>();
  const all = [];
  for (let i = 0; i < perUser; i++) {
    for (const user of users) {
      const id = `n-${user}-${i}`;
      ids.add(id);
      all.push({ id, type: "test.durable", to: { users: [user] }, data: { i } });
    }
  }
  for (let i = 0; i < all.length; i += 100) await publisher.publishBatch(all.slice(i, i + 100));
  await publisher.close();
  return ids;
}

/** Reads every retained frame of a stream. */
async function readAll(store: TableStreamStore, stream: string): Promise<Frame[]> {
  const frames: Frame[] = [];
  let after = 0;
  for (;;) {
    const page = await store.read(stream, after, 1000);
    frames.push(...page.frames);
    if (page.cursor >= page.head) return frames;
    after = page.cursor;
  }
}

async function totalStored(store: TableStreamStore, users: string[]): Promise<number> {
  let total = 0;
  for (const user of users) total += (await store.read(userStream(user), 0, 1)).head;
  return total;
}

/** Every stream holds each of its notifications once, at offsets 1..n. */
async function expectCompleteStreams(
  store: TableStreamStore,
  users: string[],
  ids: Set<string>,
): Promise<void> {
  const seen = new Set<string>();
  for (const user of users) {
    const frames = await readAll(store, userStream(user));
    expect(frames.map((f) => f.offset)).toEqual(frames.map((_, i) => i + 1));
    for (const frame of frames) {
      expect(seen.has(frame.id), `duplicate ${frame.id}`).toBe(false);
      expect(frame.id.startsWith(`n-${user}-`)).toBe(true);
      seen.add(frame.id);
    }
  }
  expect(seen.size).toBe(ids.size);
}

async function openStore(stack: TestStack): Promise<TableStreamStore> {
  const store = await TableStreamStore.open(
    { connectionString: stack.env.HERALD_STORAGE! },
    { sweepIntervalMs: 0 },
  );
  cleanups.push(() => store.close());
  return store;
}

const USERS = Array.from({ length: 20 }, (_, i) => `u${i}`);

describe("gateway durability", { timeout: 120_000 }, () => {
  it("loses and duplicates nothing when killed with SIGKILL mid-stream of 5,000", async () => {
    const stack = await stackWithTable();
    const store = await openStore(stack);
    const first = await gatewayProcess(stack);
    const ids = await publishAll(stack, USERS, 250);
    await waitFor(async () => (await totalStored(store, USERS)) >= 1000, {
      timeoutMs: 60_000,
      message: "1,000 stored",
    });
    expect(await first.stop("SIGKILL")).toBeNull();
    expect(await totalStored(store, USERS)).toBeLessThan(5000);
    await gatewayProcess(stack);
    await waitFor(async () => (await totalStored(store, USERS)) >= 5000, {
      timeoutMs: 90_000,
      intervalMs: 250,
      message: "5,000 stored",
    });
    await expectCompleteStreams(store, USERS, ids);
  });

  it("keeps streams gap-free with two replicas on one subscription", async () => {
    const stack = await stackWithTable();
    const store = await openStore(stack);
    const users = USERS.slice(0, 4);
    await Promise.all([gatewayProcess(stack), gatewayProcess(stack)]);
    const ids = await publishAll(stack, users, 300);
    await waitFor(async () => (await totalStored(store, users)) >= ids.size, {
      timeoutMs: 90_000,
      intervalMs: 250,
      message: "all stored",
    });
    await expectCompleteStreams(store, users, ids);
  });
});
