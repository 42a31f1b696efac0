/** Helpers for tests that drive the real @azure/service-bus client against the emulator. */
import { ServiceBusClient, type ServiceBusClientOptions } from "@azure/service-bus";
import Long from "long";
import { afterEach } from "vitest";
import {
  startServiceBusEmulator,
  type ServiceBusEmulator,
  type ServiceBusEmulatorOptions,
} from "../../emulator/servicebus/index.js";
import type {
  NamespaceDescription,
  QueueOptions,
  RuleDescription,
  SubscriptionOptions,
  TopicOptions,
} from "../../emulator/servicebus/model.js";

type Closable = { close(): Promise<void> };

/** Closes everything registered during a test, last first (clients before emulators). */
export function useCleanup(): (c: Closable) => void {
  const items: Closable[] = [];
  afterEach(async () => {
    const list = items.splice(0).reverse();
    for (const c of list) await c.close().catch(() => {});
  });
  return (c) => {
    items.push(c);
  };
}

export function queue(
  name: string,
  options: Partial<QueueOptions> = {},
): NamespaceDescription["queues"][number] {
  return { name, options: options as QueueOptions };
}

export function topic(
  name: string,
  subscriptions: Array<{ name: string; options?: Partial<SubscriptionOptions>; rules?: RuleDescription[] }>,
  options: Partial<TopicOptions> = {},
): NamespaceDescription["topics"][number] {
  return {
    name,
    options: options as TopicOptions,
    subscriptions: subscriptions.map((s) => ({
      name: s.name,
      options: (s.options ?? {}) as SubscriptionOptions,
      rules: s.rules ?? [],
    })),
  };
}

/** Fast retries so error paths in tests finish quickly. */
export const FAST_RETRY: ServiceBusClientOptions = {
  retryOptions: { maxRetries: 0, timeoutInMs: 5_000 },
};

export interface TestBus {
  emulator: ServiceBusEmulator;
  client: ServiceBusClient;
}

/** Starts an emulator on a free port with the given entities and a client for it; both closed after the test. */
export async function startBus(
  register: (c: Closable) => void,
  ns: { queues?: NamespaceDescription["queues"]; topics?: NamespaceDescription["topics"] },
  options: Partial<ServiceBusEmulatorOptions> = {},
  clientOptions: ServiceBusClientOptions = FAST_RETRY,
): Promise<TestBus> {
  const emulator = await startServiceBusEmulator({
    port: 0,
    managementPort: 0,
    namespace: { name: "sbemulatorns", queues: ns.queues ?? [], topics: ns.topics ?? [] },
    ...options,
  });
  register(emulator);
  const client = new ServiceBusClient(emulator.connectionString, clientOptions);
  register(client);
  return { emulator, client };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function waitFor<T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 5_000,
  stepMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(stepMs);
  }
}

/**
 * Peek options that start at the first message. Without them the client peeks on from where its
 * last peek on that entity stopped (one cursor per entity per client), which would make a later
 * "nothing left" check pass vacuously.
 */
export const FROM_START = { fromSequenceNumber: Long.ZERO };
