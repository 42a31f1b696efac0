/**
 * The optional event handler: system and user events arrive as CloudEvents (HTTP binary mode)
 * at a handler URL, and the handler's answers reach the client.
 */
import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { describe, expect, it } from "vitest";
import {
  onCleanup,
  rawClient,
  sdkClient,
  serviceClient,
  startEmulator,
  waitFor,
} from "./webpubsub-helpers.js";

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A loopback event handler that records requests and answers with `respond`. */
async function handler(
  respond: (r: Received) => { status: number; type?: string; body?: string } = () => ({ status: 204 }),
): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      const r = { path: req.url ?? "", headers: req.headers, body };
      received.push(r);
      const answer = respond(r);
      res.writeHead(answer.status, answer.type ? { "content-type": answer.type } : {});
      res.end(answer.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  onCleanup(() => new Promise<void>((r) => server.close(() => r())));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/events/{hub}/{event}`, received };
}

describe("Web PubSub event handler (CloudEvents)", () => {
  it("forwards connected, disconnected and user events, and sends the handler's answer back", async () => {
    const h = await handler((r) =>
      r.headers["ce-type"] === "azure.webpubsub.user.echo"
        ? { status: 200, type: "application/json", body: JSON.stringify({ echoed: JSON.parse(r.body) }) }
        : { status: 204 },
    );
    const emulator = await startEmulator({ eventHandler: h.url });
    const service = serviceClient(emulator);
    const client = await sdkClient((await service.getClientAccessToken({ userId: "alice" })).url);
    const connectionId = (client.events[0]!.payload as { connectionId: string }).connectionId;

    await waitFor(() => h.received.length === 1, "connected event");
    const connected = h.received[0]!;
    expect(connected.path).toBe("/events/herald/connected");
    expect(connected.headers).toMatchObject({
      "ce-specversion": "1.0",
      "ce-type": "azure.webpubsub.sys.connected",
      "ce-hub": "herald",
      "ce-connectionid": connectionId,
      "ce-userid": "alice",
      "ce-eventname": "connected",
      "ce-subprotocol": "json.reliable.webpubsub.azure.v1",
      "ce-source": `/hubs/herald/client/${connectionId}`,
    });
    const signature = createHmac("sha256", emulator.key).update(connectionId).digest("hex");
    expect(connected.headers["ce-signature"]).toBe(`sha256=${signature}`);

    expect(await client.client.sendEvent("echo", { n: 1 }, "json")).toMatchObject({ isDuplicated: false });
    await waitFor(() => client.serverMessages.length === 1, "the handler's answer");
    expect(client.serverMessages[0]).toEqual({ echoed: { n: 1 } });
    const user = h.received.find((r) => r.headers["ce-type"] === "azure.webpubsub.user.echo")!;
    expect(user.headers["content-type"]).toMatch(/^application\/json/);
    expect(user.path).toBe("/events/herald/echo");

    await client.client.sendEvent("note", "plain text", "text");
    await service.closeConnection(connectionId, { reason: "done" });
    await waitFor(
      () => h.received.some((r) => r.headers["ce-type"] === "azure.webpubsub.sys.disconnected"),
      "disconnected",
    );
    const disconnected = h.received.find((r) => r.headers["ce-type"] === "azure.webpubsub.sys.disconnected")!;
    expect(JSON.parse(disconnected.body)).toEqual({ reason: "done" });
    const note = h.received.find((r) => r.headers["ce-type"] === "azure.webpubsub.user.note")!;
    expect(note.body).toBe("plain text");
    expect(note.headers["content-type"]).toMatch(/^text\/plain/);
  });

  it("fails the ack when the handler fails, and forwards plain clients' frames as 'message' events", async () => {
    const h = await handler((r) =>
      r.headers["ce-eventname"] === "boom" ? { status: 500 } : { status: 204 },
    );
    const emulator = await startEmulator({
      hubs: { herald: { eventHandler: { urlTemplate: h.url, systemEvents: [] } } },
    });
    const service = serviceClient(emulator);
    const client = await sdkClient((await service.getClientAccessToken()).url);
    await expect(client.client.sendEvent("boom", "x", "text")).rejects.toMatchObject({
      errorDetail: { name: "InternalServerError" },
    });
    const plain = await rawClient((await service.getClientAccessToken({ userId: "p" })).url);
    plain.ws.send("hello handler");
    await waitFor(() => h.received.some((r) => r.headers["ce-eventname"] === "message"), "message event");
    const m = h.received.find((r) => r.headers["ce-eventname"] === "message")!;
    expect(m.body).toBe("hello handler");
    expect(m.headers["ce-userid"]).toBe("p");
    // systemEvents: [] — no connected events for this hub; other hubs have no handler at all.
    expect(h.received.some((r) => r.headers["ce-type"]?.toString().startsWith("azure.webpubsub.sys"))).toBe(
      false,
    );
    expect(plain.ws.readyState).toBe(plain.ws.OPEN);
  });

  it("lets a blocking connect handler refuse clients or set their identity", async () => {
    const h = await handler((r) => {
      if (r.headers["ce-eventname"] !== "connect") return { status: 204 };
      const body = JSON.parse(r.body) as { claims: { sub?: string[] }; query: Record<string, string[]> };
      if (body.query.deny) return { status: 401 };
      return {
        status: 200,
        type: "application/json",
        body: JSON.stringify({ userId: `${body.claims.sub?.[0] ?? "anon"}-verified`, groups: ["vip"] }),
      };
    });
    const emulator = await startEmulator({
      eventHandler: { urlTemplate: h.url, systemEvents: ["connect", "connected"] },
    });
    const service = serviceClient(emulator);
    const { url } = await service.getClientAccessToken({ userId: "zoe" });
    const client = await sdkClient(url);
    expect(client.events[0]!.payload).toMatchObject({ userId: "zoe-verified" });
    expect(await service.groupExists("vip")).toBe(true);
    const refused = await rawClient(`${url}&deny=1`).catch((e: unknown) => e);
    expect((refused as { status?: number }).status).toBe(401);
    const connect = h.received.find((r) => r.headers["ce-type"] === "azure.webpubsub.sys.connect")!;
    expect(JSON.parse(connect.body)).toMatchObject({ subprotocols: ["json.reliable.webpubsub.azure.v1"] });
    expect(connect.body).not.toMatch(/access_token/);
  });
});
