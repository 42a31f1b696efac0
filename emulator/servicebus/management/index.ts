/**
 * The Service Bus emulator's HTTP management endpoint: the ATOM API that
 * `ServiceBusAdministrationClient` uses to create, read, update, list and delete queues,
 * topics, subscriptions and rules.
 */
export { startManagementServer } from "./server.js";
export type { ManagementServer, ManagementServerOptions } from "./server.js";
// The client side (`emulatorAdministrationOptions`) lives in publisher/emulator-admin.ts: the gateway and
// backend services use it, and they may not import the emulator.
