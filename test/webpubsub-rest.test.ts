/**
 * The REST data plane through the official server SDK (`@azure/web-pubsub` 1.2.0), observed
 * by real clients: the client SDK, a JSON-subprotocol socket and a plain WebSocket.
 */
import { describe, expect, it } from "vitest";
import { WebPubSubServiceClient, odata } from "@azure/web-pubsub";
import { signJwt } from "../emulator/webpubsub/auth.js";
import type { WebPubSubEmulator } from "../emulator/webpubsub/index.js";
import { rawClient, sdkClient, serviceClient, sleep, startEmulator, waitFor } from "./webpubsub-helpers.js";

async function restCall(
  emulator: WebPubSubEmulator,
  method: string,
  path: string,
  options: { body?: string | Buffer; headers?: Record<string, string>; token?: string | null } = {},
): Promise<{ status: number; body: string; headers: Headers }> {
  const url = `http://127.0.0.1:${emulator.port}${path}`;
  const token =
    options.token === undefined
      ? signJwt({ aud: url, exp: Math.floor(Date.now() / 1000) + 60 }, emulator.key)
      : options.token;
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const body =
    typeof options.body === "string" || options.body === undefined
      ? options.body
      : new Uint8Array(options.body);
  const res = await fetch(url, { method, headers, body });
  return { status: res.status, body: method === "HEAD" ? "" : await res.text(), headers: res.headers };
}

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

async function connectedTrio(emulator: WebPubSubEmulator, service: WebPubSubServiceClient) {
  const alice = await sdkClient((await service.getClientAccessToken({ userId: "alice" })).url);
  const json = await rawClient(
    (await service.getClientAccessToken({ userId: "bob" })).url,
    "json.webpubsub.azure.v1",
  );
  await waitFor(() => json.frames.length > 0, "connected frame");
  const plain = await rawClient((await service.getClientAccessToken({ userId: "carol" })).url);
  return { alice, json, plain };
}

describe("Web PubSub REST API with the server SDK", () => {
  it("sends json, text and binary to everyone, in the form each protocol expects", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    const { alice, json, plain } = await connectedTrio(emulator, service);

    await service.sendToAll({ n: 1 });
    await service.sendToAll("hello", { contentType: "text/plain" });
    await service.sendToAll(new Uint8Array([1, 2, 3]));
    await service.sendToAll("a json string");

    await waitFor(() => alice.serverMessages.length === 4 && plain.frames.length === 4, "deliveries");
    expect(alice.serverMessages.slice(0, 2)).toEqual([{ n: 1 }, "hello"]);
    expect([...new Uint8Array(alice.serverMessages[2] as ArrayBuffer)]).toEqual([1, 2, 3]);
    expect(alice.serverMessages[3]).toBe("a json string");

    await waitFor(() => json.frames.length === 5, "json deliveries");
    const frames = json.json();
    expect(frames[0]).toMatchObject({ type: "system", event: "connected", userId: "bob" });
    expect(frames[0]).not.toHaveProperty("reconnectionToken");
    expect(frames.slice(1)).toEqual([
      { type: "message", from: "server", dataType: "json", data: { n: 1 } },
      { type: "message", from: "server", dataType: "text", data: "hello" },
      { type: "message", from: "server", dataType: "binary", data: "AQID" },
      { type: "message", from: "server", dataType: "json", data: "a json string" },
    ]);

    // Plain WebSocket: the bare payload; JSON verbatim (a JSON string keeps its quotes).
    expect(plain.frames.map((f) => (f.binary ? [...f.data] : f.text))).toEqual([
      '{"n":1}',
      "hello",
      [1, 2, 3],
      '"a json string"',
    ]);
  });

  it("honours excluded connections, filters and messageTtlSeconds on sendToAll", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    const { alice, json, plain } = await connectedTrio(emulator, service);
    const bobId = json.json()[0]!.connectionId as string;

    await service.sendToAll("not bob", { contentType: "text/plain", excludedConnections: [bobId] });
    await service.sendToAll("only carol", { contentType: "text/plain", filter: odata`userId eq ${"carol"}` });
    await service.sendToAll("ttl", { contentType: "text/plain", messageTtlSeconds: 60 });

    await waitFor(() => alice.serverMessages.length === 2 && plain.frames.length === 3, "deliveries");
    await waitFor(() => json.frames.length === 2, "bob's delivery");
    expect(alice.serverMessages).toEqual(["not bob", "ttl"]);
    expect(plain.frames.map((f) => f.text)).toEqual(["not bob", "only carol", "ttl"]);
    expect(json.json()[1]).toMatchObject({ data: "ttl" });

    const badTtl = await restCall(
      emulator,
      "POST",
      "/api/hubs/herald/:send?api-version=2024-12-01&messageTtlSeconds=301",
      {
        body: "x",
        headers: { "content-type": "text/plain" },
      },
    );
    expect(badTtl.status).toBe(400);
    const badFilter = await service
      .sendToAll("x", { contentType: "text/plain", filter: "userId eq" })
      .catch((e: unknown) => e);
    expect(statusOf(badFilter)).toBe(400);
  });

  it("sends to a user, a connection and a group", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    const { alice, json, plain } = await connectedTrio(emulator, service);
    const alice2 = await sdkClient(
      (await service.getClientAccessToken({ userId: "alice", groups: ["g"] })).url,
    );
    const bobId = json.json()[0]!.connectionId as string;

    await service.sendToUser("alice", "to alice", { contentType: "text/plain" });
    await service.sendToUser("alice", "filtered", { contentType: "text/plain", filter: "'g' in groups" });
    await service.sendToUser("nobody", "lost", { contentType: "text/plain" });
    await service.sendToConnection(bobId, { direct: true });
    await service.sendToConnection("no-such-connection", "lost", { contentType: "text/plain" });
    await service.group("g").addConnection(bobId);
    await service.group("g").sendToAll("to g", { contentType: "text/plain" });

    await waitFor(() => alice2.groupMessages.length === 1 && json.frames.length === 3, "deliveries");
    expect(alice.serverMessages).toEqual(["to alice"]);
    expect(alice2.serverMessages).toEqual(["to alice", "filtered"]);
    expect(alice2.groupMessages).toEqual([{ group: "g", data: "to g" }]);
    expect(json.json().slice(1)).toEqual([
      { type: "message", from: "server", dataType: "json", data: { direct: true } },
      { type: "message", from: "group", group: "g", dataType: "text", data: "to g" },
    ]);
    await sleep(50);
    expect(plain.frames).toEqual([]);
  });

  it("manages group membership for connections and users", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    const { alice, json } = await connectedTrio(emulator, service);
    const bobId = json.json()[0]!.connectionId as string;
    const g = service.group("room 1/é");

    expect(await service.groupExists("room 1/é")).toBe(false);
    await g.addUser("alice");
    await g.addConnection(bobId);
    expect(await service.groupExists("room 1/é")).toBe(true);
    const members: { connectionId: string; userId?: string }[] = [];
    for await (const m of await g.listConnections()) members.push(m);
    expect(members.map((m) => m.userId).sort()).toEqual(["alice", "bob"]);

    await g.sendToAll("one", { contentType: "text/plain" });
    await waitFor(() => alice.groupMessages.length === 1, "group message");

    await g.removeUser("alice");
    await g.removeConnection(bobId);
    await g.removeConnection("unknown-connection");
    expect(await service.groupExists("room 1/é")).toBe(false);

    const missing = await g.addConnection("unknown-connection").catch((e: unknown) => e);
    expect(statusOf(missing)).toBe(404);
    expect((missing as Error).message).toMatch(/unknown-connection' does not exist/);
    expect(statusOf(await g.addUser("nobody").catch((e: unknown) => e))).toBe(404);

    await service.group("a").addUser("alice");
    await service.group("b").addUser("alice");
    await service.group("a").addConnection(bobId);
    await service.removeUserFromAllGroups("alice");
    expect(await service.groupExists("b")).toBe(false);
    expect(await service.groupExists("a")).toBe(true);
    await service.removeConnectionFromAllGroups(bobId);
    await service.removeConnectionFromAllGroups("unknown-connection");
    expect(await service.groupExists("a")).toBe(false);

    await service.addConnectionsToGroups(["x", "y"], "userId ne 'alice' and userId ne 'carol'");
    expect(await service.groupExists("x")).toBe(true);
    const xs: string[] = [];
    for await (const m of await service.group("y").listConnections()) xs.push(m.connectionId);
    expect(xs).toEqual([bobId]);
    await service.removeConnectionsFromGroups(["x"], "userId eq 'bob'");
    expect(await service.groupExists("x")).toBe(false);
    expect(await service.groupExists("y")).toBe(true);
  });

  it("pages group members with maxpagesize, top and nextLink", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    const { url } = await service.getClientAccessToken({ groups: ["big"] });
    for (let i = 0; i < 5; i++) await rawClient(url);
    await waitFor(() => emulator.stats().connections === 5, "5 connections");

    const all: string[] = [];
    for await (const m of await service.group("big").listConnections({ maxPageSize: 2 } as never))
      all.push(m.connectionId);
    expect(all).toHaveLength(5);

    const first = await restCall(
      emulator,
      "GET",
      "/api/hubs/herald/groups/big/connections?api-version=2024-12-01&maxpagesize=2&top=3",
    );
    const page1 = JSON.parse(first.body) as { value: { connectionId: string }[]; nextLink?: string };
    expect(page1.value).toHaveLength(2);
    expect(page1.nextLink).toMatch(/continuationToken=/);
    const second = await restCall(emulator, "GET", page1.nextLink!);
    const page2 = JSON.parse(second.body) as { value: unknown[]; nextLink?: string };
    expect(page2.value).toHaveLength(1);
    expect(page2.nextLink).toBeUndefined();
    expect(
      (await restCall(emulator, "GET", "/api/hubs/herald/groups/big/connections?maxpagesize=500")).status,
    ).toBe(400);
  });

  it("closes connections (one, user, group, all) with a reason", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    const { alice, json, plain } = await connectedTrio(emulator, service);
    const bobId = json.json()[0]!.connectionId as string;

    await service.closeConnection(bobId, { reason: "bye bob" });
    expect(await json.closed).toEqual({ code: 1000, reason: "bye bob" });
    expect(json.json().at(-1)).toEqual({ type: "system", event: "disconnected", message: "bye bob" });
    expect(await service.connectionExists(bobId)).toBe(false);
    await service.closeConnection("unknown-connection");

    const carol2 = await rawClient((await service.getClientAccessToken({ userId: "carol" })).url);
    await waitFor(() => emulator.stats().connections === 3, "carol's second connection");
    await service.closeUserConnections("carol", { reason: "carol out" });
    expect(await plain.closed).toEqual({ code: 1000, reason: "carol out" });
    expect((await carol2.closed).code).toBe(1000);
    expect(await service.userExists("carol")).toBe(false);

    const dave = await rawClient((await service.getClientAccessToken({ userId: "dave", groups: ["g"] })).url);
    const erin = await rawClient((await service.getClientAccessToken({ userId: "erin", groups: ["g"] })).url);
    await waitFor(() => emulator.stats().connections === 3, "dave and erin");
    const erinId = (await (async () => {
      for await (const m of await service.group("g").listConnections())
        if (m.userId === "erin") return m.connectionId;
      return "";
    })())!;
    await service.group("g").closeAllConnections({ reason: "group closed", excluded: [erinId] } as never);
    expect(await dave.closed).toEqual({ code: 1000, reason: "group closed" });
    expect(await service.userExists("erin")).toBe(true);

    await service.closeAllConnections();
    expect((await erin.closed).reason).toBe("Closed by REST API.");
    await waitFor(() => alice.events.some((e) => e.type === "disconnected"), "alice disconnected");
    const event = alice.events.find((e) => e.type === "disconnected")!.payload as {
      message?: { message?: string };
    };
    expect(event.message?.message).toBe("Closed by REST API.");
  });

  it("answers existence checks", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    const { json } = await connectedTrio(emulator, service);
    const bobId = json.json()[0]!.connectionId as string;
    expect(await service.connectionExists(bobId)).toBe(true);
    expect(await service.connectionExists("nope")).toBe(false);
    expect(await service.userExists("bob")).toBe(true);
    expect(await service.userExists("nobody")).toBe(false);
    expect(await service.groupExists("nothing")).toBe(false);
    // Hub names are case-insensitive.
    expect(await serviceClient(emulator, "HERALD").userExists("bob")).toBe(true);
    expect(await serviceClient(emulator, "other").userExists("bob")).toBe(false);
  });

  it("grants, checks and revokes permissions, which clients then feel", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    const bob = await sdkClient((await service.getClientAccessToken({ userId: "bob" })).url);
    const bobId = await (async () => {
      for (;;) {
        const e = bob.events.find((x) => x.type === "connected");
        if (e) return (e.payload as { connectionId: string }).connectionId;
        await sleep(10);
      }
    })();

    expect(await service.hasPermission(bobId, "joinLeaveGroup", { targetName: "g" })).toBe(false);
    await expect(bob.client.joinGroup("g")).rejects.toMatchObject({ errorDetail: { name: "Forbidden" } });
    await service.grantPermission(bobId, "joinLeaveGroup", { targetName: "g" });
    expect(await service.hasPermission(bobId, "joinLeaveGroup", { targetName: "g" })).toBe(true);
    expect(await service.hasPermission(bobId, "joinLeaveGroup")).toBe(false);
    await bob.client.joinGroup("g");
    expect(await service.groupExists("g")).toBe(true);
    await service.revokePermission(bobId, "joinLeaveGroup", { targetName: "g" });
    await expect(bob.client.leaveGroup("g")).rejects.toMatchObject({ errorDetail: { name: "Forbidden" } });

    await service.grantPermission(bobId, "sendToGroup");
    expect(await service.hasPermission(bobId, "sendToGroup")).toBe(true);
    await bob.client.sendToGroup("g", "ok", "text");
    expect(statusOf(await service.grantPermission("nope", "sendToGroup").catch((e: unknown) => e))).toBe(404);
    const badPermission = await restCall(
      emulator,
      "PUT",
      "/api/hubs/herald/permissions/frob/connections/x?api-version=2024-12-01",
    );
    expect(badPermission.status).toBe(400);
  });

  it("generates client tokens over REST (:generateToken)", async () => {
    const emulator = await startEmulator();
    const res = await restCall(
      emulator,
      "POST",
      "/api/hubs/herald/:generateToken?api-version=2024-12-01&userId=zed&role=webpubsub.joinLeaveGroup&group=g1&minutesToExpire=5",
    );
    expect(res.status).toBe(200);
    const { token } = JSON.parse(res.body) as { token: string };
    const client = await sdkClient(
      `ws://127.0.0.1:${emulator.port}/client/hubs/herald?access_token=${token}`,
    );
    expect(client.events[0]!.payload).toMatchObject({ userId: "zed" });
    await client.client.joinGroup("g2");
    const service = serviceClient(emulator);
    expect(await service.groupExists("g1")).toBe(true);
    expect(await service.groupExists("g2")).toBe(true);
    const mqtt = await restCall(
      emulator,
      "POST",
      "/api/hubs/herald/:generateToken?api-version=2024-12-01&clientType=MQTT",
    );
    expect(mqtt.status).toBe(400);
  });

  it("authorizes every request with the access key's JWT: 401 otherwise", async () => {
    const emulator = await startEmulator();
    const wrongKey = new WebPubSubServiceClient(
      emulator.connectionString.replace(emulator.key, "this-is-not-the-right-key-0123456789"),
      "herald",
      { allowInsecureConnection: true },
    );
    expect(statusOf(await wrongKey.sendToAll({ x: 1 }).catch((e: unknown) => e))).toBe(401);
    expect(statusOf(await wrongKey.userExists("a").catch((e: unknown) => e))).toBe(401);

    const path = "/api/hubs/herald/users/a?api-version=2024-12-01";
    const url = `http://127.0.0.1:${emulator.port}${path}`;
    const now = Math.floor(Date.now() / 1000);
    const cases: [string | null, string][] = [
      [null, "no token"],
      ["garbage", "junk token"],
      [signJwt({ aud: url, exp: now - 3600 }, emulator.key), "expired"],
      [
        signJwt({ aud: "http://127.0.0.1/api/hubs/other/users/a", exp: now + 60 }, emulator.key),
        "other audience",
      ],
      [signJwt({ aud: url, exp: now + 60 }, "another-key-another-key-another-key"), "other key"],
    ];
    for (const [token, what] of cases) {
      const res = await restCall(emulator, "HEAD", path, { token });
      expect(res.status, what).toBe(401);
    }
    const body = await restCall(emulator, "POST", "/api/hubs/herald/:send?api-version=2024-12-01", {
      token: "x.y.z",
    });
    expect(body.headers.get("x-ms-error-code")).toBe("Unauthorized");
    expect(JSON.parse(body.body)).toMatchObject({ code: "Unauthorized" });
    // The audience may also omit the query string.
    const noQuery = signJwt({ aud: url.split("?")[0], exp: now + 60 }, emulator.key);
    expect((await restCall(emulator, "HEAD", path, { token: noQuery })).status).toBe(404);
  });

  it("answers junk with the service's error responses and keeps serving", async () => {
    const emulator = await startEmulator({ maxMessageBytes: 1024 });
    const send = "/api/hubs/herald/:send?api-version=2024-12-01";
    const cases: [string, string, Parameters<typeof restCall>[3], number, string][] = [
      ["GET", "/nothing", { token: null }, 404, "NotFound"],
      ["GET", "/api/hubs/herald/frob?api-version=2024-12-01", {}, 404, "NotFound"],
      ["GET", send, {}, 405, "MethodNotAllowed"],
      ["POST", "/api/hubs/9bad-hub/:send", {}, 400, "BadRequest"],
      ["POST", "/api/hubs/herald/groups/%E0%A4%A/:send", {}, 400, "BadRequest"],
      [
        "POST",
        "/api/hubs/herald/groups/%20%20/:send",
        { body: "{}", headers: { "content-type": "application/json" } },
        400,
        "BadRequest",
      ],
      [
        "POST",
        `/api/hubs/herald/groups/${"g".repeat(1025)}/:send`,
        { body: "{}", headers: { "content-type": "application/json" } },
        400,
        "BadRequest",
      ],
      [
        "POST",
        send,
        { body: "{not json", headers: { "content-type": "application/json" } },
        400,
        "BadRequest",
      ],
      ["POST", send, { body: "x", headers: { "content-type": "image/png" } }, 415, "UnsupportedMediaType"],
      ["POST", send, { body: Buffer.from("x") }, 415, "UnsupportedMediaType"],
      [
        "POST",
        send,
        { body: Buffer.alloc(2048), headers: { "content-type": "application/octet-stream" } },
        413,
        "PayloadTooLarge",
      ],
      [
        "POST",
        send,
        { body: Buffer.from([0xc3, 0x28]), headers: { "content-type": "text/plain" } },
        400,
        "BadRequest",
      ],
      [
        "POST",
        `${send}&filter=${encodeURIComponent("userId eq")}`,
        { body: "{}", headers: { "content-type": "application/json" } },
        400,
        "BadRequest",
      ],
      [
        "POST",
        "/api/hubs/herald/:addToGroups",
        { body: '{"groups":[]}', headers: { "content-type": "application/json" } },
        400,
        "BadRequest",
      ],
      [
        "POST",
        "/api/hubs/herald/:addToGroups",
        { body: '{"groups":["a"],"filter":7}', headers: { "content-type": "application/json" } },
        400,
        "BadRequest",
      ],
      [
        "POST",
        "/api/hubs/herald/:addToGroups",
        { body: "[", headers: { "content-type": "application/json" } },
        400,
        "BadRequest",
      ],
      [
        "POST",
        "/api/hubs/herald/:addToGroups",
        { body: "{}", headers: { "content-type": "text/plain" } },
        415,
        "UnsupportedMediaType",
      ],
      ["GET", "/api/hubs/herald/groups/g/connections?top=0", {}, 400, "BadRequest"],
    ];
    for (const [method, path, options, status, code] of cases) {
      const res = await restCall(emulator, method, path, options);
      expect(res.status, `${method} ${path.slice(0, 80)}`).toBe(status);
      expect(res.headers.get("x-ms-error-code"), path.slice(0, 80)).toBe(code);
      expect(JSON.parse(res.body)).toMatchObject({ code, message: expect.any(String) });
    }
    expect((await restCall(emulator, "HEAD", "/api/health", { token: null })).status).toBe(200);
    const service = serviceClient(emulator);
    await service.sendToAll({ still: "serving" });
  });
});
