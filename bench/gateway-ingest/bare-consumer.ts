/**
 * The baseline's consumer, in its own process like the gateway: receives from a subscription with
 * the same receiver settings as the gateway's consumer (peek-lock, credit = prefetch, `concurrency`
 * at once) and completes each message without doing anything else. Reports completions over IPC.
 */
import { ServiceBusClient } from "@azure/service-bus";

const [connectionString, topic, subscription, concurrencyArg, prefetchArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const prefetch = Number(prefetchArg);
const client = new ServiceBusClient(connectionString!);
const receiver = client.createReceiver(topic!, subscription!, {
  receiveMode: "peekLock",
  maxAutoLockRenewalDurationInMs: 0,
});
let completed = 0;
let active = 0;
const waiting: (() => void)[] = [];
const subscribed = receiver.subscribe(
  {
    processMessage: async (message) => {
      if (active >= concurrency) await new Promise<void>((resolve) => waiting.push(resolve));
      active++;
      try {
        await receiver.completeMessage(message);
        completed++;
      } finally {
        active--;
        waiting.shift()?.();
      }
    },
    processError: async (args) => {
      process.stderr.write(`bare consumer: ${args.errorSource} ${args.error.message}\n`);
    },
  },
  { autoCompleteMessages: false, maxConcurrentCalls: prefetch },
);
process.on("message", (msg: { type: string }) => {
  if (msg.type === "count") process.send?.({ type: "count", completed });
  if (msg.type === "stop") {
    void subscribed
      .close()
      .then(() => client.close())
      .then(() => process.exit(0));
  }
});
process.send?.({ type: "ready" });
