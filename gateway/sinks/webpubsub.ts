import { createSecretKey, type KeyObject } from "node:crypto";
import {
  WebPubSubServiceClient,
  type AzureKeyCredential,
  type WebPubSubServiceClientOptions,
} from "@azure/web-pubsub";
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

/**
 * A Web PubSub client for an access-key connection string (`Endpoint=…;AccessKey=…;[Port=…;]`), as
 * `new WebPubSubServiceClient(connectionString, hub)` builds it, except that the key is handed to the
 * SDK as a ready secret KeyObject: the SDK signs a JWT for every REST call, and from a string key
 * jsonwebtoken derives a new KeyObject each time (over a third of the gateway's CPU in
 * bench/gateway-ingest).
 */
export function webPubSubClientFromConnectionString(
  connectionString: string,
  hub: string,
  options: WebPubSubServiceClientOptions = {},
): WebPubSubServiceClient {
  const parts = new Map<string, string>();
  for (const part of connectionString.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) parts.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const endpoint = parts.get("endpoint");
  const key = parts.get("accesskey");
  // Anything else (or a malformed string): let the SDK parse it and report what is wrong.
  if (!endpoint || !key) return new WebPubSubServiceClient(connectionString, hub, options);
  const url = new URL(endpoint.startsWith("http") ? endpoint : `https://${endpoint}`);
  const port = parts.get("port");
  if (port) url.port = port;
  const credential: { readonly key: KeyObject } = { key: createSecretKey(Buffer.from(key, "utf8")) };
  // The SDK only reads `.key` and passes it to jsonwebtoken, which takes a KeyObject as the secret.
  return new WebPubSubServiceClient(
    url.toString(),
    credential as unknown as AzureKeyCredential,
    hub,
    options,
  );
}
