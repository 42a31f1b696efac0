import { describe, expect, it } from "vitest";
import type { NegotiateResponse } from "../../core/live.js";
import { createTokenVerifier, signDevToken } from "../auth/tokens.js";
import { OriginPolicy } from "../live/origin.js";
import { GatewayTokens } from "../live/tokens.js";
import { createNegotiateHandler, type WebPubSubUrlFunction } from "./negotiate.js";

const SECRET = "negotiate-unit-test-secret-0123456789";
const verifier = createTokenVerifier({ secret: SECRET });

async function negotiate(options: {
  webPubSubUrl?: WebPubSubUrlFunction;
  tokens?: GatewayTokens;
}): Promise<{ status: number; json: unknown }> {
  const handler = createNegotiateHandler({
    verifier,
    origins: new OriginPolicy(undefined),
    publicUrl: "https://gateway.example",
    ...options,
  });
  const token = await signDevToken(SECRET, { userId: "u1", groups: ["g"] });
  const response = await handler({
    method: "POST",
    url: new URL("https://functions.example/api/negotiate"),
    headers: new Headers({ authorization: `Bearer ${token}` }),
    readBody: async () => new Uint8Array(),
  });
  return { status: response.status, json: response.json };
}

const webPubSubUrl: WebPubSubUrlFunction = async () => ({
  url: "wss://wps.example/client/hubs/herald?access_token=t",
  expiresAt: Date.now() + 60_000,
});

describe("negotiate handler", () => {
  it("offers the gateway's transports and gap fill only with gateway tokens", async () => {
    const full = await negotiate({ webPubSubUrl, tokens: new GatewayTokens() });
    const body = full.json as NegotiateResponse;
    expect(body.transports.map((t) => t.name)).toEqual(["websocket", "sse", "long-polling"]);
    expect(body.streamsUrl).toMatch(/^https:\/\/gateway\.example\/api\/streams\?token=/);

    const alone = await negotiate({ webPubSubUrl });
    expect(alone.status).toBe(200);
    expect((alone.json as NegotiateResponse).transports.map((t) => t.name)).toEqual(["websocket"]);
    expect(alone.json).not.toHaveProperty("streamsUrl");
  });

  it("answers 503 HERALD_NOT_READY when Web PubSub fails and there is no fallback", async () => {
    const failing: WebPubSubUrlFunction = () => Promise.reject(new Error("ECONNREFUSED"));
    const alone = await negotiate({ webPubSubUrl: failing });
    expect(alone.status).toBe(503);
    expect(alone.json).toMatchObject({ code: "HERALD_NOT_READY" });
    // With the gateway's transports the negotiate still succeeds without websocket.
    const withGateway = await negotiate({ webPubSubUrl: failing, tokens: new GatewayTokens() });
    expect((withGateway.json as NegotiateResponse).transports.map((t) => t.name)).toEqual([
      "sse",
      "long-polling",
    ]);
  });
});
