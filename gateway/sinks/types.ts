import type { Frame } from "../../core/streams.js";

/**
 * Where the consumer hands a stored notification for live delivery: Web PubSub, and the gateway's
 * own SSE/long-poll connections. `push` receives the notification's frames, one per stream; it
 * rejects on a transient failure (the consumer then abandons the message for redelivery).
 */
export interface Sink {
  readonly name: string;
  push(frames: readonly Frame[]): Promise<void>;
}
