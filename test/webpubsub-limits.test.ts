/**
 * Bad input and bad clients: slow readers are closed with a reason while others keep their
 * pace, oversized and malformed frames get the WebSocket close codes the service uses, and the
 * emulator keeps serving afterwards.
 */
import { connect, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import type { WebPubSubEmulator } from "../emulator/webpubsub/index.js";
import {
  onCleanup,
  rawClient,
  sdkClient,
  serviceClient,
  startEmulator,
  startProxy,
  viaPort,
  waitFor,
} from "./webpubsub-helpers.js";

const JSON_PROTOCOL = "json.webpubsub.azure.v1";

/** A hand-made WebSocket client, to send what `ws` refuses to send (unmasked frames, junk). */
async function handmade(
  emulator: WebPubSubEmulator,
  protocol?: string,
): Promise<{ socket: Socket; received: () => Buffer; closed: Promise<void> }> {
  const { token } = await serviceClient(emulator).getClientAccessToken();
  const socket = connect(emulator.port, "127.0.0.1");
  onCleanup(() => {
    socket.destroy();
  });
  let data = Buffer.alloc(0);
  socket.on("data", (d: Buffer) => (data = Buffer.concat([data, d])));
  socket.on("error", () => undefined);
  const closed = new Promise<void>((r) => socket.once("close", () => r()));
  socket.write(
    `GET /client/hubs/herald?access_token=${token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
      (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : "") +
      "\r\n",
  );
  await waitFor(() => data.includes("\r\n\r\n"), "101 response");
  const end = data.indexOf("\r\n\r\n") + 4;
  expect(data.subarray(0, 12).toString()).toBe("HTTP/1.1 101");
  const headerEnd = end;
  return { socket, received: () => data.subarray(headerEnd), closed };
}

/** Reads the close code from the first close frame in `bytes`. */
function closeCode(bytes: Buffer): number | undefined {
  let at = 0;
  while (at + 2 <= bytes.length) {
    const opcode = bytes[at]! & 0x0f;
    let len = bytes[at + 1]! & 0x7f;
    let head = 2;
    if (len === 126) {
      len = bytes.readUInt16BE(at + 2);
      head = 4;
    }
    if (opcode === 0x8) return bytes.readUInt16BE(at + head);
    at += head + len;
  }
  return undefined;
}

describe("Web PubSub emulator limits and bad input", () => {
  it("closes a client that stops reading once its buffer passes the limit; others are not held up", async () => {
    const emulator = await startEmulator({ outboundBufferLimit: 256 * 1024 });
    const proxy = await startProxy(emulator.port);
    const service = serviceClient(emulator);
    const slowUrl = (await service.getClientAccessToken({ userId: "slow" })).url;
    const slow = await rawClient(viaPort(slowUrl, proxy.port), JSON_PROTOCOL);
    const fast = await sdkClient((await service.getClientAccessToken({ userId: "fast" })).url);
    await waitFor(() => slow.frames.length === 1, "slow client's connected frame");
    proxy.stall();

    const chunk = "x".repeat(64 * 1024);
    let sent = 0;
    // Bounded: kernel buffers take a few MB before the emulator has to buffer anything itself.
    while (emulator.stats().slowClientsClosed === 0 && sent < 600) {
      await service.sendToAll(chunk, { contentType: "text/plain" });
      sent++;
    }
    expect(emulator.stats().slowClientsClosed).toBe(1);
    expect(await service.userExists("slow")).toBe(false);
    expect(emulator.stats().connections).toBe(1);
    // Later messages are not buffered for the closed client.
    const before = emulator.stats().deliveries;
    await service.sendToAll("after", { contentType: "text/plain" });
    await waitFor(() => fast.serverMessages.length === sent + 1, "fast client's messages", 15_000);
    expect(emulator.stats().deliveries).toBe(before + 1);
    expect(fast.serverMessages.at(-1)).toBe("after");
    expect(fast.client).toBeDefined();
  });

  it("closes with 1009 on a message over 1 MiB", async () => {
    const emulator = await startEmulator();
    const { url } = await serviceClient(emulator).getClientAccessToken({ roles: ["webpubsub.sendToGroup"] });
    const c = await rawClient(url, JSON_PROTOCOL);
    c.send({ type: "sendToGroup", group: "g", dataType: "text", data: "y".repeat(1024 * 1024) });
    expect((await c.closed).code).toBe(1009);
    const ok = await rawClient(url, JSON_PROTOCOL);
    ok.send({ type: "sendToGroup", group: "g", dataType: "text", data: "y".repeat(1000 * 1000), ackId: 1 });
    await waitFor(() => ok.json().some((f) => f.type === "ack"), "ack for a message under the limit");
  });

  it("closes with the right code on malformed frames, invalid JSON, unknown types and binary on JSON", async () => {
    const emulator = await startEmulator();
    const { url } = await serviceClient(emulator).getClientAccessToken();
    const cases: [unknown, number][] = [
      ["{not json", 1007],
      [{ type: "frobnicate" }, 1007],
      [{ type: "joinGroup" }, 1007],
      [{ type: "sendToGroup", group: "g", dataType: "xml", data: "<a/>" }, 1007],
      [[1, 2, 3], 1007],
    ];
    for (const [message, code] of cases) {
      const c = await rawClient(url, JSON_PROTOCOL);
      c.send(message);
      expect((await c.closed).code, JSON.stringify(message)).toBe(code);
    }
    const binary = await rawClient(url, JSON_PROTOCOL);
    binary.ws.send(Buffer.from([1, 2, 3]));
    expect((await binary.closed).code).toBe(1003);

    // Frames `ws` will not send: unmasked, reserved opcode, invalid UTF-8 text.
    const frames: [Buffer, number][] = [
      [Buffer.from([0x81, 0x02, 0x68, 0x69]), 1002],
      [Buffer.from([0x83, 0x80, 0, 0, 0, 0]), 1002],
      [Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0xc3, 0x28]), 1007],
    ];
    for (const [frame, code] of frames) {
      const h = await handmade(emulator, JSON_PROTOCOL);
      h.socket.write(frame);
      await waitFor(() => closeCode(h.received()) !== undefined, "close frame");
      expect(closeCode(h.received())).toBe(code);
      h.socket.end();
      await h.closed;
    }
    const junk = await handmade(emulator);
    junk.socket.write(Buffer.from("GET / HTTP/1.1\r\n\r\n"));
    await waitFor(() => closeCode(junk.received()) !== undefined, "close frame for junk");
    expect(closeCode(junk.received())).toBe(1002);

    await waitFor(() => emulator.stats().connections === 0, "all closed");
    const service = serviceClient(emulator);
    const after = await sdkClient((await service.getClientAccessToken()).url);
    await service.sendToAll("still serving", { contentType: "text/plain" });
    await waitFor(() => after.serverMessages.length === 1, "a message after the junk");
  });

  it("rejects handshakes that are not WebSocket version 13 with an HTTP error", async () => {
    const emulator = await startEmulator();
    const { token } = await serviceClient(emulator).getClientAccessToken();
    const ask = (headers: string): Promise<string> =>
      new Promise((resolve) => {
        const s = connect(emulator.port, "127.0.0.1");
        let text = "";
        s.on("data", (d: Buffer) => (text += d.toString()));
        s.on("close", () => resolve(text));
        s.on("error", () => resolve(text));
        s.write(`GET /client/hubs/herald?access_token=${token} HTTP/1.1\r\nHost: x\r\n${headers}\r\n`);
      });
    expect(
      await ask(
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
      ),
    ).toMatch(/^HTTP\/1.1 426/);
    expect(
      await ask(
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n",
      ),
    ).toMatch(/^HTTP\/1.1 400/);
  });
});
