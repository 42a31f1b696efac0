/** The live endpoints' HTTP contract: negotiate, authorization, cursors, origins, CORS, limits. */
import { WebPubSubServiceClient } from "@azure/web-pubsub";
import { EventSource } from "eventsource";
import { describe, expect, it } from "vitest";
import { encodeCursor } from "../core/cursor.js";
import type { NegotiateResponse } from "../core/live.js";
import { webPubSubUrlFunction } from "../gateway/handlers/negotiate.js";
import { GatewayTokens } from "../gateway/live/tokens.js";
import { openRawSse, poll, startLiveServer, useCleanup, waitFor } from "./helpers/live.js";

const FAKE_WPS =
  "Endpoint=https://herald-test.webpubsub.azure.com;AccessKey=ZmFrZS1rZXktZm9yLXRlc3RzLW9ubHktMDEyMzQ1Njc4OQ==;Version=1.0;";

async function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return {
    status: res.status,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    headers: res.headers,
  };
}

describe("negotiate", () => {
  const register = useCleanup();

  it("answers user, groups, expiry and the transports in order, with a Web PubSub client URL", async () => {
    const wps = new WebPubSubServiceClient(FAKE_WPS, "herald");
    const live = await startLiveServer(register, {
      webPubSubUrl: webPubSubUrlFunction(wps, { expirationMinutes: 5 }),
    });
    const res = await fetch(new URL("/api/negotiate", live.url), {
      method: "POST",
      headers: { authorization: `Bearer ${await live.appToken("alice", ["ops"])}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const body = (await res.json()) as NegotiateResponse;
    expect(body.userId).toBe("alice");
    expect(body.groups).toEqual(["ops"]);
    expect(body.transports.map((t) => t.name)).toEqual(["websocket", "sse", "long-polling"]);
    const ws = new URL(body.transports[0]!.url);
    expect(ws.protocol).toBe("wss:");
    expect(ws.pathname).toBe("/client/hubs/herald");
    const wsToken = JSON.parse(
      Buffer.from(ws.searchParams.get("access_token")!.split(".")[1]!, "base64url").toString(),
    ) as Record<string, unknown>;
    expect(wsToken.sub).toBe("alice");
    expect(wsToken["webpubsub.group"]).toEqual(["ops"]);
    // The earliest of the two tokens' expiry (Web PubSub: 5 minutes).
    const expiresIn = Date.parse(body.expiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan(4 * 60_000);
    expect(expiresIn).toBeLessThanOrEqual(5 * 60_000);

    expect(body.transports[1]!.url.startsWith(`${live.url}/api/sse?token=`)).toBe(true);
    expect(body.streamsUrl!.startsWith(`${live.url}/api/streams?token=`)).toBe(true);
    // The handed-out URLs work as they are.
    const sse = await openRawSse(body.transports[1]!.url);
    register(sse);
    await sse.until((p) => p.events.some((e) => e.event === "ready"));
    const polled = await get(`${body.transports[2]!.url}&wait=0`);
    expect(polled.status).toBe(200);
    expect((await get(body.streamsUrl!)).status).toBe(200);
  });

  it("leaves out websocket without Web PubSub and uses the public URL when configured", async () => {
    const live = await startLiveServer(register, { publicUrl: "https://push.example.com/herald/" });
    const res = await fetch(new URL("/api/negotiate", live.url), {
      method: "POST",
      headers: { authorization: `Bearer ${await live.appToken("alice")}` },
    });
    const body = (await res.json()) as NegotiateResponse;
    expect(body.transports.map((t) => t.name)).toEqual(["sse", "long-polling"]);
    expect(body.transports[0]!.url).toMatch(/^https:\/\/push\.example\.com\/herald\/api\/sse\?token=/);
  });

  it("refuses a missing, malformed or foreign application token with 401", async () => {
    const live = await startLiveServer(register);
    const url = new URL("/api/negotiate", live.url);
    for (const authorization of [undefined, "Bearer nope", `Bearer ${await live.token("alice")}`]) {
      const res = await fetch(url, { method: "POST", headers: authorization ? { authorization } : {} });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="herald"');
      expect(((await res.json()) as { code: string }).code).toBe("HERALD_UNAUTHORIZED");
    }
    expect((await fetch(url)).status).toBe(405);
  });
});

describe("live endpoints: authorization, cursors and origins", () => {
  const register = useCleanup();

  it("answer 401 without a token, with a bad or expired one, or with an application JWT", async () => {
    const secret = "a-gateway-secret-shared-by-replicas-0123";
    const live = await startLiveServer(register, { tokenSecret: secret });
    const expired = await new GatewayTokens({
      secret,
      ttlSeconds: 30,
      now: () => Date.now() - 3_600_000,
    }).sign({
      userId: "alice",
      groups: [],
    });
    // Signed by another gateway (a replica without the shared secret).
    const other = await new GatewayTokens().sign({ userId: "alice", groups: [] });
    // A replica with the shared secret signs tokens this one accepts.
    const replica = await new GatewayTokens({ secret }).sign({ userId: "alice", groups: [] });
    expect((await get(new URL(`/api/poll?token=${replica.token}&wait=0`, live.url).toString())).status).toBe(
      200,
    );
    for (const path of ["/api/sse", "/api/poll", "/api/streams"]) {
      for (const token of [undefined, "garbage", expired.token, other.token, await live.appToken("alice")]) {
        const url = new URL(path, live.url);
        if (token) url.searchParams.set("token", token);
        url.searchParams.set("wait", "0");
        const res = await get(url.toString());
        expect(res.status, `${path} ${token?.slice(0, 10)}`).toBe(401);
        expect(res.body.code).toBe("HERALD_UNAUTHORIZED");
        expect(JSON.stringify(res.body)).not.toContain(token ?? "\u0000");
      }
    }
    const msg = (await get(new URL(`/api/sse?token=${expired.token}`, live.url).toString())).body.message;
    expect(msg).toMatch(/expired; negotiate again/);
  });

  it("accept the gateway token as a bearer header on poll and gap fill", async () => {
    const live = await startLiveServer(register);
    const authorization = `Bearer ${await live.token("alice")}`;
    expect((await get(new URL("/api/poll?wait=0", live.url).toString(), { authorization })).status).toBe(200);
    expect((await get(new URL("/api/streams", live.url).toString(), { authorization })).status).toBe(200);
  });

  it("answer 403 for a cursor naming another user's stream, and drop a group the user left", async () => {
    const live = await startLiveServer(register);
    const token = await live.token("alice");
    const foreign = encodeCursor([["user:bob", 3]]);
    for (const path of ["/api/sse", "/api/poll", "/api/streams"]) {
      const res = await get(new URL(`${path}?token=${token}&cursor=${foreign}&wait=0`, live.url).toString());
      expect(res.status).toBe(403);
      expect(res.body.code).toBe("HERALD_FORBIDDEN");
    }
    await live.publish({ groups: ["old-team"] }, {});
    const left = encodeCursor([
      ["group:old-team", 0],
      ["broadcast", 0],
    ]);
    const polled = await poll(live.url, { token, cursor: left, wait: "0" });
    expect(polled.status).toBe(200);
    expect(polled.body.frames).toEqual([]);
    expect(polled.body.cursor).toBe(
      encodeCursor([
        ["user:alice", 0],
        ["broadcast", 0],
      ]),
    );
  });

  it("answer 400 HERALD_BAD_CURSOR naming the parameter for a malformed cursor", async () => {
    const live = await startLiveServer(register);
    const token = await live.token("alice");
    const cases: [string, Record<string, string>, string][] = [
      [`/api/sse?token=${token}`, { "last-event-id": "garbage!" }, "Last-Event-ID"],
      [`/api/sse?token=${token}&lastEventId=b~x`, {}, "lastEventId"],
      [`/api/poll?token=${token}&cursor=b~1.b~2`, {}, "cursor"],
      [`/api/streams?token=${token}&cursor=u~1`, {}, "cursor"],
    ];
    for (const [path, headers, target] of cases) {
      const res = await get(new URL(path, live.url).toString(), headers);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: "HERALD_BAD_CURSOR", target });
      expect(res.body.message).toMatch(new RegExp(`^${target}: `));
    }
    const badWait = await get(new URL(`/api/poll?token=${token}&wait=61`, live.url).toString());
    expect(badWait.body).toMatchObject({ code: "HERALD_INVALID_FIELD", target: "wait" });
  });

  it("check browser origins and answer CORS preflights", async () => {
    const live = await startLiveServer(register, { allowedOrigins: ["https://app.example.com"] });
    const token = await live.token("alice");
    const allowed = await get(new URL(`/api/poll?token=${token}&wait=0`, live.url).toString(), {
      origin: "https://app.example.com",
    });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(allowed.headers.get("vary")).toBe("Origin");

    for (const path of ["/api/sse", "/api/poll", "/api/streams"]) {
      const denied = await get(new URL(`${path}?token=${token}&wait=0`, live.url).toString(), {
        origin: "https://evil.example.net",
      });
      expect(denied.status).toBe(403);
      expect(denied.body.code).toBe("HERALD_ORIGIN_NOT_ALLOWED");
    }
    const negotiate = (origin: string): Promise<Response> =>
      live.appToken("alice").then((jwt) =>
        fetch(new URL("/api/negotiate", live.url), {
          method: "POST",
          headers: { authorization: `Bearer ${jwt}`, origin },
        }),
      );
    const deniedNegotiate = await negotiate("https://evil.example.net");
    expect(deniedNegotiate.status).toBe(403);
    expect(((await deniedNegotiate.json()) as { code: string }).code).toBe("HERALD_ORIGIN_NOT_ALLOWED");
    const allowedNegotiate = await negotiate("https://app.example.com");
    expect(allowedNegotiate.status).toBe(200);
    expect(allowedNegotiate.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    // Same origin as the request's Host passes without configuration.
    const same = await get(new URL(`/api/poll?token=${token}&wait=0`, live.url).toString(), {
      origin: live.url,
    });
    expect(same.status).toBe(200);

    const preflight = await fetch(new URL("/api/negotiate", live.url), {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(preflight.headers.get("access-control-allow-methods")).toBe("POST, OPTIONS");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("authorization");
    const deniedPreflight = await fetch(new URL("/api/sse", live.url), {
      method: "OPTIONS",
      headers: { origin: "https://evil.example.net", "access-control-request-method": "GET" },
    });
    expect(deniedPreflight.status).toBe(403);
  });
});

describe("live connection limits", () => {
  const register = useCleanup();

  it("refuse a user's connection past the per-user limit and any past the process limit (429), counted in metrics", async () => {
    const live = await startLiveServer(register, { hub: { maxConnectionsPerUser: 2, maxConnections: 3 } });
    const alice = await live.token("alice");
    const opened = [];
    for (let i = 0; i < 2; i++) {
      const sse = await openRawSse(new URL(`/api/sse?token=${alice}`, live.url).toString());
      register(sse);
      opened.push(sse);
    }
    const third = await get(new URL(`/api/sse?token=${alice}`, live.url).toString());
    expect(third.status).toBe(429);
    expect(third.body.code).toBe("HERALD_TOO_MANY_CONNECTIONS");
    expect(third.headers.get("retry-after")).toBe("5");
    const pollRefused = await poll(live.url, { token: alice, wait: "0" });
    expect(pollRefused.status).toBe(429);

    const es = new EventSource(new URL(`/api/sse?token=${await live.token("bob")}`, live.url));
    register(es);
    await waitFor(() => (live.hub.stats().connections.sse === 3 ? true : undefined));
    const carol = await get(new URL(`/api/sse?token=${await live.token("carol")}`, live.url).toString());
    expect(carol.status).toBe(429);
    expect(carol.body.message).toMatch(/maximum of 3/);

    const gauge = await live.metrics.connections.get();
    expect(gauge.values.find((v) => v.labels.transport === "sse")?.value).toBe(3);
    const rejected = await live.metrics.liveRejected.get();
    const byReason = Object.fromEntries(
      rejected.values.map((v) => [`${v.labels.transport}/${v.labels.reason}`, v.value]),
    );
    expect(byReason).toEqual({ "sse/user-limit": 1, "long-polling/user-limit": 1, "sse/process-limit": 1 });

    opened[0]!.close();
    await waitFor(() => (live.hub.stats().connections.sse === 2 ? true : undefined));
    expect((await poll(live.url, { token: alice, wait: "0" })).status).toBe(200);
  });
});
