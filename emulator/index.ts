export { startServiceBusEmulator } from "./servicebus/index.js";
export type { ServiceBusEmulator, ServiceBusEmulatorOptions } from "./servicebus/index.js";
export { DEV_ACCESS_KEY, startWebPubSubEmulator } from "./webpubsub/index.js";
export type { WebPubSubEmulator, WebPubSubEmulatorOptions } from "./webpubsub/index.js";
