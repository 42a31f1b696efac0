export { Publisher, DEFAULT_TOPIC, translateSendError, BUS_RETRY_AFTER_SECONDS } from "./publisher.js";
export type { PublisherOptions, PublishOptions, EventMap, TypedNotificationInput } from "./publisher.js";
export {
  toServiceBusMessage,
  fromServiceBusMessage,
  NOTIFICATION_CONTENT_TYPE,
  NOTIFICATION_ID_PROPERTY,
} from "./message.js";
export type { ApplicationProperties, ReceivedNotificationMessage } from "./message.js";
export { emulatorAdministrationOptions, EmulatorManagementAgent } from "./emulator-admin.js";
export type { EmulatorAdministrationOptions } from "./emulator-admin.js";
