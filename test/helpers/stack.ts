import {
  DEFAULT_SUBSCRIPTION_OPTIONS,
  DEFAULT_TOPIC_OPTIONS,
  DEFAULT_RULE,
  type NamespaceDescription,
  type SubscriptionOptions,
} from "../../emulator/servicebus/model.js";
import { startServiceBusEmulator, type ServiceBusEmulator } from "../../emulator/servicebus/index.js";
import { startWebPubSubEmulator, type WebPubSubEmulator } from "../../emulator/webpubsub/index.js";
import { startAzurite } from "../../emulator/azurite.js";

export const TEST_JWT_SECRET = "herald-test-secret-0123456789abcdef";
export const TEST_PUBLISH_KEY = "herald-test-publish-key";

/** The namespace the local stack uses: topic `notifications` with `gateway` and `fanout` subscriptions. */
export function heraldNamespace(subscription: Partial<SubscriptionOptions> = {}): NamespaceDescription {
  const options = {
    ...DEFAULT_SUBSCRIPTION_OPTIONS,
    lockDurationMs: 5_000,
    maxDeliveryCount: 5,
    ...subscription,
  };
  return {
    name: "sbemulatorns",
    queues: [],
    topics: [
      {
        name: "notifications",
        options: { ...DEFAULT_TOPIC_OPTIONS },
        subscriptions: ["gateway", "fanout"].map((name) => ({ name, options, rules: [DEFAULT_RULE] })),
      },
    ],
  };
}

export interface TestStack {
  serviceBus: ServiceBusEmulator;
  webPubSub: WebPubSubEmulator;
  /** Environment for a gateway talking to this stack (port 0, quiet logs). */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** Starts the emulators (and Azurite for the table store) on free loopback ports. */
export async function startTestStack(
  options: { store?: "memory" | "table"; dataDir?: string } = {},
): Promise<TestStack> {
  const closers: (() => Promise<void>)[] = [];
  try {
    const serviceBus = await startServiceBusEmulator({
      namespace: heraldNamespace(),
      port: 0,
      managementPort: 0,
      dataDir: options.dataDir,
    });
    closers.push(() => serviceBus.close());
    const webPubSub = await startWebPubSubEmulator({ port: 0 });
    closers.push(() => webPubSub.close());
    const env: Record<string, string> = {
      HERALD_SERVICEBUS: serviceBus.connectionString,
      HERALD_SERVICEBUS_MANAGEMENT_URL: serviceBus.managementUrl,
      HERALD_WEBPUBSUB: webPubSub.connectionString,
      HERALD_JWT_SECRET: TEST_JWT_SECRET,
      HERALD_PUBLISH_KEYS: TEST_PUBLISH_KEY,
      HERALD_PORT: "0",
      HERALD_HOST: "127.0.0.1",
      HERALD_LOG_LEVEL: "silent",
      HERALD_STORE: options.store ?? "memory",
    };
    if (options.store === "table") {
      const azurite = await startAzurite();
      closers.push(() => azurite.close());
      env.HERALD_STORAGE = azurite.connectionString;
    }
    return {
      serviceBus,
      webPubSub,
      env,
      close: async () => {
        for (const close of closers.reverse()) await close();
      },
    };
  } catch (err) {
    for (const close of closers.reverse()) await close();
    throw err;
  }
}
