import type { WebPubSubServiceClient } from "@azure/web-pubsub";
import { parseStreamId, type Frame } from "../../core/streams.js";
import type { Sink } from "./types.js";

/**
 * Live WebSocket delivery through Web PubSub's REST API: a user stream -> sendToUser, a group
 * stream -> the group's sendToAll, broadcast -> sendToAll. Each send carries the frame as JSON.
 */
export class WebPubSubSink implements Sink {
  readonly name = "webpubsub";

  constructor(private readonly client: WebPubSubServiceClient) {}

  async push(frames: readonly Frame[]): Promise<void> {
    await Promise.all(frames.map((frame) => this.send(frame)));
  }

  private send(frame: Frame): Promise<void> {
    const ref = parseStreamId(frame.stream);
    if (!ref) return Promise.reject(new Error(`frame for an invalid stream ${frame.stream}`));
    // The SDK's JSON.stringify of a plain object is the wire body, with content type application/json.
    const body = frame as unknown as Record<string, unknown>;
    switch (ref.kind) {
      case "user":
        return this.client.sendToUser(ref.name, body);
      case "group":
        return this.client.group(ref.name).sendToAll(body);
      default:
        return this.client.sendToAll(body);
    }
  }
}
