import type { NamespaceDescription } from "./model.js";

export interface ServiceBusEmulatorOptions {
  /** Path of a Config.json in Microsoft's emulator format. */
  configFile?: string | undefined;
  /** The namespace to start with, instead of a file. */
  namespace?: NamespaceDescription | undefined;
  /** Loopback host to listen on. @default "localhost" (both 127.0.0.1 and ::1) */
  host?: string | undefined;
  /** AMQP port; 0 picks a free one. @default 5672 */
  port?: number | undefined;
  /** HTTP management endpoint port; 0 picks a free one. @default 5300 */
  managementPort?: number | undefined;
  /** Directory that makes entities and messages survive restarts. @default memory only */
  dataDir?: string | undefined;
}

export interface ServiceBusEmulator {
  /** `amqp://localhost:<port>` */
  readonly url: string;
  readonly port: number;
  /** `http://localhost:<managementPort>` */
  readonly managementUrl: string;
  readonly managementPort: number;
  /** A connection string the official SDK accepts unchanged. */
  readonly connectionString: string;
  close(): Promise<void>;
}

export async function startServiceBusEmulator(
  _options: ServiceBusEmulatorOptions = {},
): Promise<ServiceBusEmulator> {
  throw new Error("the Service Bus emulator is being built (issue 2)");
}
