export { startServiceBusEmulator } from "./servicebus/index.js";
export type { ServiceBusEmulator, ServiceBusEmulatorOptions } from "./servicebus/index.js";
