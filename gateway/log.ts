import { pino, type Logger } from "pino";

export type { Logger };

/**
 * The gateway's structured logger. Logs carry ids (notification, connection, user), never
 * notification data or credentials: the paths below are censored even if a caller slips.
 */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      name: "herald",
      level: options.level ?? "info",
      redact: {
        paths: [
          "data",
          "*.data",
          "body",
          "*.body",
          "token",
          "*.token",
          "authorization",
          "*.authorization",
          "headers.authorization",
          "connectionString",
          "*.connectionString",
        ],
        censor: "[redacted]",
      },
    },
    options.destination ?? process.stdout,
  );
}
