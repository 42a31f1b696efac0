/**
 * The reliable subprotocol (`json.reliable.webpubsub.azure.v1`): sequence ids, sequenceAck,
 * recovery inside the window (with the client SDK over a proxy that drops the socket
 * mid-stream), and close 1008 when recovery is not possible.
 */
import { describe, expect, it } from "vitest";
import type { WebPubSubEmulator } from "../emulator/webpubsub/index.js";
import {
  rawClient,
  sdkClient,
  serviceClient,
  sleep,
  startEmulator,
  startProxy,
  viaPort,
  waitFor,
  type RawClient,
} from "./webpubsub-helpers.js";

const RELIABLE = "json.reliable.webpubsub.azure.v1";

async function reliableClient(
  emulator: WebPubSubEmulator,
  userId = "r",
): Promise<{ raw: RawClient; url: string; connectionId: string; token: string }> {
  const { url } = await serviceClient(emulator).getClientAccessToken({ userId });
  const raw = await rawClient(url, RELIABLE);
  await waitFor(() => raw.frames.length === 1, "connected frame");
  const connected = raw.json()[0]!;
  return {
    raw,
    url,
    connectionId: connected.connectionId as string,
    token: connected.reconnectionToken as string,
  };
}

function recoveryUrl(url: string, connectionId: string, token: string): string {
  const u = new URL(url);
  u.searchParams.append("awps_connection_id", connectionId);
  u.searchParams.append("awps_reconnection_token", token);
  return u.toString();
}

const dataFrames = (raw: RawClient): { data: unknown; sequenceId: unknown }[] =>
  raw
    .json()
    .filter((f) => f.type === "message")
    .map((f) => ({ data: f.data, sequenceId: f.sequenceId }));

describe("reliable subprotocol", () => {
  it("recovers an SDK client whose socket drops mid-stream: every message exactly once, in order", async () => {
    const emulator = await startEmulator();
    const proxy = await startProxy(emulator.port);
    const service = serviceClient(emulator);
    const { url } = await service.getClientAccessToken({ userId: "streamer" });
    const client = await sdkClient(viaPort(url, proxy.port));
    const total = 600;

    const sending = (async () => {
      for (let i = 0; i < total; i++) await service.sendToUser("streamer", { i });
    })();
    await waitFor(() => client.serverMessages.length >= 100, "first messages");
    proxy.dropAll();
    await sending;
    await waitFor(() => client.serverMessages.length >= total, "all messages", 20_000);
    await sleep(100);

    expect(client.serverMessages).toEqual(Array.from({ length: total }, (_, i) => ({ i })));
    expect(emulator.stats().recoveries).toBeGreaterThanOrEqual(1);
    // A recovered connection is the same connection: no new connected/disconnected events.
    expect(client.events.map((e) => e.type)).toEqual(["connected"]);
  });

  it("numbers messages, releases them on sequenceAck and replays the rest on recovery", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    const { raw, url, connectionId, token } = await reliableClient(emulator);

    for (let i = 1; i <= 5; i++) await service.sendToUser("r", { i });
    await waitFor(() => dataFrames(raw).length === 5, "five messages");
    expect(dataFrames(raw).map((f) => f.sequenceId)).toEqual([1, 2, 3, 4, 5]);
    raw.send({ type: "sequenceAck", sequenceId: 3 });
    await sleep(30);

    raw.ws.terminate(); // a dropped socket: no close frame
    await waitFor(() => emulator.stats().connections === 1, "still counted");
    await sleep(30);
    expect(await service.userExists("r")).toBe(true);
    await service.sendToUser("r", { i: 6 });
    await service.sendToAll({ i: 7 });

    const again = await rawClient(recoveryUrl(url, connectionId, token), RELIABLE);
    await waitFor(() => dataFrames(again).length === 4, "replay");
    await service.sendToUser("r", { i: 8 });
    await waitFor(() => dataFrames(again).length === 5, "after replay");
    expect(dataFrames(again)).toEqual([4, 5, 6, 7, 8].map((i) => ({ data: { i }, sequenceId: i })));
    expect(again.json().some((f) => f.type === "system")).toBe(false);
  });

  it("gives each reliable connection its own sequence ids when broadcasts share frames", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    const a = await reliableClient(emulator, "a");
    const b = await reliableClient(emulator, "b");
    const c = await reliableClient(emulator, "c");
    await service.sendToUser("a", "only a", { contentType: "text/plain" });
    await waitFor(() => dataFrames(a.raw).length === 1, "a's first message");
    // Sent in one turn: one log of two broadcasts, written to connections at different ids.
    await Promise.all([service.sendToAll({ n: 1 }), service.sendToAll({ n: 2 })]);
    await service.sendToAll({ n: 3 });
    await waitFor(() => dataFrames(a.raw).length === 4 && dataFrames(b.raw).length === 3, "broadcasts");
    await waitFor(() => dataFrames(c.raw).length === 3, "broadcasts to c");
    const seqs = (raw: RawClient): unknown[] => dataFrames(raw).map((f) => f.sequenceId);
    expect(seqs(a.raw)).toEqual([1, 2, 3, 4]);
    expect(seqs(b.raw)).toEqual([1, 2, 3]);
    expect(seqs(c.raw)).toEqual([1, 2, 3]);
    const data = dataFrames(b.raw).map((f) => (f.data as { n: number }).n);
    expect(data.slice(0, 2).sort()).toEqual([1, 2]);
    expect(data[2]).toBe(3);
  });

  it("refuses recovery with close 1008 once the window has passed", async () => {
    const emulator = await startEmulator({ recoveryWindowMs: 150 });
    const service = serviceClient(emulator);
    const { raw, url, connectionId, token } = await reliableClient(emulator);
    raw.ws.terminate();
    await sleep(400);
    expect(await service.connectionExists(connectionId)).toBe(false);
    const late = await rawClient(recoveryUrl(url, connectionId, token), RELIABLE);
    expect((await late.closed).code).toBe(1008);
  });

  it("refuses recovery with 1008 for a bad token, a non-reliable connection or a closed session", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);

    const a = await reliableClient(emulator, "a");
    a.raw.ws.terminate();
    const forged = await rawClient(recoveryUrl(a.url, a.connectionId, "not-a-token"), RELIABLE);
    expect((await forged.closed).code).toBe(1008);
    const wrongProtocol = await rawClient(
      recoveryUrl(a.url, a.connectionId, a.token),
      "json.webpubsub.azure.v1",
    );
    expect((await wrongProtocol.closed).code).toBe(1008);
    const b = await reliableClient(emulator, "b");
    const crossed = await rawClient(recoveryUrl(a.url, b.connectionId, a.token), RELIABLE);
    expect((await crossed.closed).code).toBe(1008);

    // Closed by the client with 1000: the session ends.
    b.raw.ws.close(1000);
    await b.raw.closed;
    await waitFor(() => emulator.stats().connections === 1, "b gone");
    const afterNormalClose = await rawClient(recoveryUrl(b.url, b.connectionId, b.token), RELIABLE);
    expect((await afterNormalClose.closed).code).toBe(1008);

    // Closed by the REST API: no recovery either.
    const c = await reliableClient(emulator, "c");
    await service.closeConnection(c.connectionId, { reason: "kicked" });
    expect(await c.raw.closed).toEqual({ code: 1000, reason: "kicked" });
    const afterKick = await rawClient(recoveryUrl(c.url, c.connectionId, c.token), RELIABLE);
    expect((await afterKick.closed).code).toBe(1008);

    // Closed without a status code (what the SDK's stop() sends): the session waits for recovery.
    const d = await reliableClient(emulator, "d");
    d.raw.ws.close();
    await d.raw.closed;
    expect(await service.userExists("d")).toBe(true);
    const resumed = await rawClient(recoveryUrl(d.url, d.connectionId, d.token), RELIABLE);
    await service.sendToUser("d", "welcome back", { contentType: "text/plain" });
    await waitFor(() => dataFrames(resumed).length === 1, "message after recovery");
    expect(resumed.ws.readyState).toBe(resumed.ws.OPEN);
  });

  it("lets the SDK start a new connection after the service closed its old one", async () => {
    const emulator = await startEmulator();
    const service = serviceClient(emulator);
    const client = await sdkClient((await service.getClientAccessToken({ userId: "x" })).url);
    const first = (client.events[0]!.payload as { connectionId: string }).connectionId;
    await service.closeConnection(first, { reason: "rotate" });
    await waitFor(
      () => client.events.filter((e) => e.type === "connected").length === 2,
      "reconnected",
      10_000,
    );
    const types = client.events.map((e) => e.type);
    expect(types).toEqual(["connected", "disconnected", "connected"]);
    expect((client.events[1]!.payload as { message?: { message?: string } }).message?.message).toBe("rotate");
    const second = (client.events[2]!.payload as { connectionId: string }).connectionId;
    expect(second).not.toBe(first);
    await service.sendToUser("x", "on the new connection", { contentType: "text/plain" });
    await waitFor(() => client.serverMessages.length === 1, "message");
  });

  it("closes a reliable connection whose unacknowledged buffer is full (1008, not recoverable)", async () => {
    const emulator = await startEmulator({ reliableMaxMessages: 20 });
    const service = serviceClient(emulator);
    const { raw, url, connectionId, token } = await reliableClient(emulator);
    for (let i = 0; i < 25; i++) await service.sendToUser("r", { i });
    expect(await raw.closed).toEqual({ code: 1008, reason: "The reliable message buffer is full." });
    expect(dataFrames(raw)).toHaveLength(20);
    expect(emulator.stats().reliableBufferOverflows).toBe(1);
    const retry = await rawClient(recoveryUrl(url, connectionId, token), RELIABLE);
    expect((await retry.closed).code).toBe(1008);

    // A client that acknowledges keeps going past the limit.
    const acking = await reliableClient(emulator, "acker");
    acking.raw.ws.on("message", (data) => {
      const f = JSON.parse(String(data)) as { sequenceId?: number };
      if (f.sequenceId !== undefined) acking.raw.send({ type: "sequenceAck", sequenceId: f.sequenceId });
    });
    for (let i = 0; i < 60; i++) await service.sendToUser("acker", { i });
    await waitFor(() => dataFrames(acking.raw).length === 60, "60 messages");
    expect(acking.raw.ws.readyState).toBe(acking.raw.ws.OPEN);
  });
});
