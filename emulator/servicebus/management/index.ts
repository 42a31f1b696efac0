/**
 * The Service Bus emulator's HTTP management endpoint: the ATOM API that
 * `ServiceBusAdministrationClient` uses to create, read, update, list and delete queues,
 * topics, subscriptions and rules.
 */
export { startManagementServer } from "./server.js";
export type { ManagementServer, ManagementServerOptions } from "./server.js";
export { emulatorAdministrationOptions, EmulatorManagementAgent } from "./client.js";
export type { EmulatorAdministrationOptions } from "./client.js";
