import { jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { webPubSubClientFromConnectionString } from "./webpubsub.js";

const KEY = "a-test-access-key-0123456789abcdefghijklmnop";

describe("webPubSubClientFromConnectionString", () => {
  it("builds the endpoint with the port and signs client tokens with the access key", async () => {
    const client = webPubSubClientFromConnectionString(
      `Endpoint=http://localhost;Port=8123;AccessKey=${KEY};Version=1.0;`,
      "herald",
      { allowInsecureConnection: true },
    );
    expect(client.endpoint).toBe("http://localhost:8123/");
    const { token, baseUrl } = await client.getClientAccessToken({ userId: "alice" });
    expect(baseUrl).toBe("ws://localhost:8123/client/hubs/herald");
    const { payload } = await jwtVerify(token, new TextEncoder().encode(KEY));
    expect(payload.sub).toBe("alice");
    expect(payload.aud).toBe("http://localhost:8123/client/hubs/herald");
  });

  it("leaves a connection string without a key to the SDK, which names the problem", () => {
    expect(() => webPubSubClientFromConnectionString("Endpoint=http://localhost;", "herald")).toThrow(
      /access key/,
    );
  });
});
