import type { Command } from "./command.js";
import { emulatorServiceBus } from "./emulator-servicebus.js";
import { emulatorWebPubSub } from "./emulator-webpubsub.js";
import { gatewayCommand } from "./gateway.js";
import { startCommand } from "./start.js";
import { tailCommand } from "./tail.js";

/** Every CLI command, in the order `herald --help` lists them. */
export const commands: readonly Command[] = [
  startCommand,
  gatewayCommand,
  emulatorServiceBus,
  emulatorWebPubSub,
  tailCommand,
];
