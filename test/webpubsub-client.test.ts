/**
 * The client endpoint through the official client SDK (`@azure/web-pubsub-client` 1.1.0) and
 * raw `ws` sockets: token checks, system messages, group operations with acks, roles, noEcho,
 * plain WebSocket clients and keep-alive.
 */
import { describe, expect, it } from "vitest";
import { WebPubSubJsonProtocol } from "@azure/web-pubsub-client";
import { signJwt } from "../emulator/webpubsub/auth.js";
import { rawClient, sdkClient, serviceClient, sleep, startEmulator, waitFor } from "./webpubsub-helpers.js";

const RELIABLE = "json.reliable.webpubsub.azure.v1";
const JSON_PROTOCOL = "json.webpubsub.azure.v1";

describe("Web PubSub client endpoint", () => {
  it("sends connected with the user and connection ids; only reliable connections get a reconnection token", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    const sdk = await sdkClient((await service.getClientAccessToken({ userId: "alice" })).url);
    expect(sdk.events[0]).toMatchObject({ type: "connected", payload: { userId: "alice" } });
    const connectionId = (sdk.events[0]!.payload as { connectionId: string }).connectionId;
    expect(await service.connectionExists(connectionId)).toBe(true);

    const reliable = await rawClient((await service.getClientAccessToken({ userId: "bob" })).url, RELIABLE);
    const json = await rawClient((await service.getClientAccessToken()).url, JSON_PROTOCOL);
    await waitFor(() => reliable.frames.length === 1 && json.frames.length === 1, "connected frames");
    expect(reliable.ws.protocol).toBe(RELIABLE);
    expect(reliable.json()[0]).toMatchObject({ type: "system", event: "connected", userId: "bob" });
    expect(typeof reliable.json()[0]!.reconnectionToken).toBe("string");
    expect(json.json()[0]).toEqual({
      type: "system",
      event: "connected",
      userId: null,
      connectionId: expect.any(String),
    });
  });

  it("checks the access token before the upgrade: 401 for a bad signature, audience or expiry", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    const base = `ws://127.0.0.1:${emulator.port}/client/hubs/herald`;
    const aud = `http://127.0.0.1:${emulator.port}/client/hubs/herald`;
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, number][] = [
      [base, 401],
      [`${base}?access_token=junk`, 401],
      [`${base}?access_token=${signJwt({ aud, exp: now + 60 }, "wrong-key-wrong-key-wrong-key-wrong")}`, 401],
      [
        `${base}?access_token=${signJwt({ aud: aud.replace("herald", "other"), exp: now + 60 }, emulator.key)}`,
        401,
      ],
      [`${base}?access_token=${signJwt({ aud, exp: now - 3600 }, emulator.key)}`, 401],
      [`ws://127.0.0.1:${emulator.port}/client/hubs/9-bad?access_token=x`, 400],
      [`ws://127.0.0.1:${emulator.port}/elsewhere`, 404],
    ];
    for (const [url, status] of cases) {
      const err = await rawClient(url).catch((e: unknown) => e);
      expect((err as { status?: number }).status, url.slice(0, 90)).toBe(status);
    }
    const expired = await service.getClientAccessToken({ expirationTimeInMinutes: -10 });
    expect(((await rawClient(expired.url).catch((e: unknown) => e)) as { status?: number }).status).toBe(401);
    const protobuf = await rawClient(
      (await service.getClientAccessToken()).url,
      "protobuf.webpubsub.azure.v1",
    ).catch((e: unknown) => e);
    expect((protobuf as { status?: number }).status).toBe(400);

    // Also accepted: /client/?hub=… and a token in the Authorization header; hub names ignore case.
    const token = (await service.getClientAccessToken({ userId: "q" })).token;
    await rawClient(`ws://127.0.0.1:${emulator.port}/client/?hub=herald&access_token=${token}`);
    await rawClient(`ws://127.0.0.1:${emulator.port}/client/hubs/HERALD?access_token=${token}`);
    const { default: WebSocket } = await import("ws");
    const viaHeader = new WebSocket(`ws://127.0.0.1:${emulator.port}/client/hubs/herald`, {
      headers: { authorization: `Bearer ${token}` },
    });
    await new Promise<void>((resolve, reject) => {
      viaHeader.once("open", () => resolve());
      viaHeader.once("error", reject);
    });
    viaHeader.close();
    await waitFor(() => emulator.stats().connections >= 2, "connections");
  });

  it("joins, leaves and sends to groups with acks; roles come from the token", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    const alice = await sdkClient(
      (
        await service.getClientAccessToken({
          userId: "alice",
          roles: ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"],
        })
      ).url,
    );
    const bob = await sdkClient(
      (await service.getClientAccessToken({ userId: "bob", roles: ["webpubsub.joinLeaveGroup.room"] })).url,
    );

    expect(await alice.client.joinGroup("room")).toMatchObject({ isDuplicated: false });
    await bob.client.joinGroup("room");
    await alice.client.sendToGroup("room", { hi: 1 }, "json");
    await alice.client.sendToGroup("room", "text", "text");
    await alice.client.sendToGroup("room", new Uint8Array([9, 8]).buffer, "binary");
    await waitFor(() => bob.groupMessages.length === 3, "bob's group messages");
    expect(bob.groupMessages.slice(0, 2)).toEqual([
      { group: "room", data: { hi: 1 }, fromUserId: "alice" },
      { group: "room", data: "text", fromUserId: "alice" },
    ]);
    expect([...new Uint8Array(bob.groupMessages[2]!.data as ArrayBuffer)]).toEqual([9, 8]);
    // The sender is in the group too and hears itself unless it asks for noEcho.
    await waitFor(() => alice.groupMessages.length === 3, "echo");
    await alice.client.sendToGroup("room", "quiet", "text", { noEcho: true });
    await waitFor(() => bob.groupMessages.length === 4, "noEcho message");
    await sleep(50);
    expect(alice.groupMessages).toHaveLength(3);

    // bob may join/leave only "room" and may not send.
    await expect(bob.client.joinGroup("other")).rejects.toMatchObject({ errorDetail: { name: "Forbidden" } });
    await expect(bob.client.sendToGroup("room", "x", "text")).rejects.toMatchObject({
      errorDetail: { name: "Forbidden", message: expect.stringMatching(/send to group 'room'/) },
    });
    await bob.client.leaveGroup("room");
    await alice.client.sendToGroup("room", "after leave", "text");
    await waitFor(() => alice.groupMessages.length === 4, "alice hears herself");
    await sleep(50);
    expect(bob.groupMessages).toHaveLength(4);
    expect(await service.groupExists("room")).toBe(true);
  });

  it("joins the token's groups and honours pattern roles", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    const c = await sdkClient(
      (
        await service.getClientAccessToken({
          groups: ["news"],
          roles: ["webpubsub.joinLeaveGroups.chat.*", "webpubsub.sendToGroups.chat.**"],
        })
      ).url,
    );
    await service.group("news").sendToAll("headline", { contentType: "text/plain" });
    await waitFor(() => c.groupMessages.length === 1, "news");
    expect(c.groupMessages[0]).toEqual({ group: "news", data: "headline" });
    await c.client.joinGroup("chat.room1");
    await expect(c.client.joinGroup("chat.room1.sub")).rejects.toMatchObject({
      errorDetail: { name: "Forbidden" },
    });
    await c.client.sendToGroup("chat.room1.sub", "deep", "text");
    await expect(c.client.sendToGroup("news", "x", "text")).rejects.toMatchObject({
      errorDetail: { name: "Forbidden" },
    });
  });

  it("answers a reused ackId with Duplicate, invalid group names with BadRequest, and events without a handler with an error", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    const raw = await rawClient(
      (await service.getClientAccessToken({ roles: ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"] }))
        .url,
      JSON_PROTOCOL,
    );
    raw.send({ type: "joinGroup", group: "g", ackId: 7 });
    raw.send({ type: "joinGroup", group: "g", ackId: 7 });
    raw.send({ type: "joinGroup", group: "", ackId: 8 });
    raw.send({ type: "sendToGroup", group: "x".repeat(1025), ackId: 9, data: 1 });
    raw.send({ type: "event", event: "hello", ackId: 10, dataType: "text", data: "x" });
    raw.send({ type: "joinGroup", group: "h" });
    raw.send({ type: "ping" });
    await waitFor(() => raw.frames.length === 7, "answers");
    expect(raw.json().slice(1)).toEqual([
      { type: "ack", ackId: 7, success: true },
      { type: "ack", ackId: 7, success: false, error: { name: "Duplicate", message: expect.any(String) } },
      { type: "ack", ackId: 8, success: false, error: { name: "BadRequest", message: expect.any(String) } },
      { type: "ack", ackId: 9, success: false, error: { name: "BadRequest", message: expect.any(String) } },
      {
        type: "ack",
        ackId: 10,
        success: false,
        error: { name: "InternalServerError", message: expect.any(String) },
      },
      { type: "pong" },
    ]);
    expect(await service.groupExists("h")).toBe(true);

    // The SDK resolves a Duplicate ack as success with isDuplicated.
    const sdk = await sdkClient(
      (await service.getClientAccessToken({ roles: ["webpubsub.joinLeaveGroup"] })).url,
    );
    await sdk.client.joinGroup("d", { ackId: 100 });
    expect(await sdk.client.joinGroup("d", { ackId: 100 })).toEqual({ ackId: 100, isDuplicated: true });
    await expect(sdk.client.sendEvent("e", "x", "text")).rejects.toMatchObject({
      errorDetail: { name: "InternalServerError" },
    });
  });

  it("works with the non-reliable JSON protocol through the SDK", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    const c = await sdkClient(
      (await service.getClientAccessToken({ userId: "j", roles: ["webpubsub.joinLeaveGroup"] })).url,
      {
        protocol: WebPubSubJsonProtocol(),
      },
    );
    await c.client.joinGroup("g");
    await service.group("g").sendToAll({ a: 1 });
    await service.sendToUser("j", "direct", { contentType: "text/plain" });
    await waitFor(() => c.groupMessages.length === 1 && c.serverMessages.length === 1, "messages");
    expect(c.groupMessages[0]).toEqual({ group: "g", data: { a: 1 } });
    expect(c.serverMessages).toEqual(["direct"]);
  });

  it("serves plain WebSocket clients: bare payloads, token groups, and publishing with webpubsub_mode=sendToGroup", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    const listener = await rawClient((await service.getClientAccessToken({ groups: ["g"] })).url);
    const { token } = await service.getClientAccessToken({ roles: ["webpubsub.sendToGroup.g"] });
    const publisher = await rawClient(
      `ws://127.0.0.1:${emulator.port}/client/hubs/herald?webpubsub_mode=sendToGroup&group=g&access_token=${token}`,
    );
    publisher.ws.send("text frame");
    publisher.ws.send(Buffer.from([1, 2]));
    await waitFor(() => listener.frames.length === 2, "published frames");
    expect(listener.frames[0]).toMatchObject({ binary: false, text: "text frame" });
    expect([...listener.frames[1]!.data]).toEqual([1, 2]);

    // Without an event handler, a plain client's own messages cannot be served.
    listener.ws.send("to the server");
    expect(await listener.closed).toMatchObject({ code: 1011 });
  });

  it("answers the SDK's keep-alive pings, so an idle SDK client stays connected", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    // The SDK closes a connection that hears nothing for keepAliveTimeoutInMs; pongs prevent it.
    const c = await sdkClient((await service.getClientAccessToken()).url, {
      keepAliveIntervalInMs: 50,
      keepAliveTimeoutInMs: 300,
    });
    await sleep(1000);
    expect(c.events.map((e) => e.type)).toEqual(["connected"]);
    expect(emulator.stats().recoveries).toBe(0);
  });

  it("keeps connections alive: pong for ping, WebSocket pings when silent, and drops dead ones", async () => {
    const emulator = await startEmulator({ keepAliveIntervalMs: 100, keepAliveTimeoutMs: 400 });
    const service = serviceClient(emulator);
    const { url } = await service.getClientAccessToken();
    const live = await rawClient(url, JSON_PROTOCOL);
    live.send({ type: "ping" });
    await waitFor(() => live.json().some((f) => f.type === "pong"), "pong");
    await waitFor(() => live.pings >= 2, "WebSocket pings");

    // A client that never answers (no pong, nothing sent) is dropped after the timeout.
    const { connect } = await import("node:net");
    const u = new URL(url);
    const dead = connect(Number(u.port), "127.0.0.1");
    dead.on("error", () => undefined);
    dead.resume(); // read (and ignore) what arrives, so that the server's close is seen
    dead.write(
      `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    const closed = new Promise<void>((r) => dead.once("close", () => r()));
    await closed;
    expect(live.ws.readyState).toBe(live.ws.OPEN);
    await sleep(500);
    expect(live.ws.readyState).toBe(live.ws.OPEN);
  });
});
