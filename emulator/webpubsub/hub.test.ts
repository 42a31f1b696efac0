import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { Connection } from "./connection.js";
import { JSON_KIND, OutboundMessage, PLAIN, RELIABLE, type Kind } from "./protocol.js";
import { Service, silentLogger } from "./service.js";

/** A socket stand-in that records writes (unit test of the fan-out ordering only). */
function fakeSocket(): { socket: Socket; writes: Buffer[] } {
  const writes: Buffer[] = [];
  const socket = {
    writableLength: 0,
    destroyed: false,
    write(b: Buffer) {
      writes.push(b);
      return true;
    },
    setNoDelay() {},
    on() {},
    once() {},
    cork() {},
    uncork() {},
    end() {},
    destroy() {},
    resume() {},
  } as unknown as Socket;
  return { socket, writes };
}

function setup() {
  const service = new Service({
    key: "k".repeat(32),
    clockSkewSeconds: 0,
    maxMessageBytes: 1 << 20,
    outboundBufferLimit: 1 << 22,
    reliableMaxMessages: 1000,
    reliableMaxBytes: 1 << 24,
    recoveryWindowMs: 1000,
    keepAliveIntervalMs: 0,
    keepAliveTimeoutMs: 1000,
    closeTimeoutMs: 100,
    eventHandlers: new Map(),
    logger: silentLogger,
  });
  const hub = service.hub("h");
  const connect = (id: string, kind: Kind, userId: string | null = null) => {
    const { socket, writes } = fakeSocket();
    const c = new Connection(hub, {
      id,
      userId,
      kind,
      subprotocol: undefined,
      permissions: null,
      publishGroup: undefined,
    });
    hub.add(c);
    c.attach(socket, Buffer.alloc(0));
    return { c, writes };
  };
  return { service, hub, connect };
}

/** Payloads of the unmasked server frames in `bytes`. */
function payloads(bytes: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < bytes.length) {
    let len = bytes[at + 1]! & 0x7f;
    let head = 2;
    if (len === 126) {
      len = bytes.readUInt16BE(at + 2);
      head = 4;
    }
    out.push(bytes.subarray(at + head, at + head + len).toString());
    at += head + len;
  }
  return out;
}

const msg = (text: string): OutboundMessage => new OutboundMessage("text", Buffer.from(text));

describe("hub fan-out", () => {
  it("writes everything queued in one turn as one write per socket, in order", () => {
    const { hub, connect } = setup();
    const a = connect("a", PLAIN, "alice");
    const b = connect("b", PLAIN);
    hub.sendToAll(msg("m1"));
    hub.sendToUser("alice", msg("m2"));
    hub.sendToAll(msg("m3"));
    const late = connect("late", PLAIN);
    hub.sendToAll(msg("m4"));
    hub.flush();
    expect(a.writes).toHaveLength(1);
    expect(payloads(a.writes[0]!)).toEqual(["m1", "m2", "m3", "m4"]);
    expect(b.writes).toHaveLength(1);
    expect(payloads(b.writes[0]!)).toEqual(["m1", "m3", "m4"]);
    // A connection that arrived mid-turn gets only what was sent after it.
    expect(payloads(late.writes[0]!)).toEqual(["m4"]);
  });

  it("serializes once per kind: connections of a kind share one buffer", () => {
    const { hub, connect } = setup();
    const p1 = connect("p1", PLAIN);
    const p2 = connect("p2", PLAIN);
    const j1 = connect("j1", JSON_KIND);
    const j2 = connect("j2", JSON_KIND);
    hub.sendToAll(msg("x"));
    hub.sendToAll(msg("y"));
    hub.flush();
    expect(p1.writes[0]).toBe(p2.writes[0]);
    expect(j1.writes[0]).toBe(j2.writes[0]);
    expect(payloads(j1.writes[0]!).map((p) => (JSON.parse(p) as { data: string }).data)).toEqual(["x", "y"]);
  });

  it("shares reliable frames between connections at the same sequence id only", () => {
    const { hub, connect } = setup();
    const r1 = connect("r1", RELIABLE, "u1");
    const r2 = connect("r2", RELIABLE);
    const r3 = connect("r3", RELIABLE);
    hub.sendToUser("u1", msg("first"));
    hub.flush();
    hub.sendToAll(msg("all"));
    hub.flush();
    const seq = (w: Buffer[]) =>
      payloads(w.at(-1)!).map((p) => (JSON.parse(p) as { sequenceId: number }).sequenceId);
    expect(seq(r1.writes)).toEqual([2]);
    expect(seq(r2.writes)).toEqual([1]);
    expect(r2.writes.at(-1)).toBe(r3.writes.at(-1));
    expect(r1.c.unackedCount).toBe(2);
  });

  it("keeps group and membership bookkeeping consistent on leave and remove", () => {
    const { hub, connect } = setup();
    const a = connect("a", PLAIN, "alice");
    hub.join(a.c, "g1");
    hub.join(a.c, "g2");
    hub.leave(a.c, "g1");
    expect([...hub.groups.keys()]).toEqual(["g2"]);
    hub.remove(a.c, "test");
    expect(hub.groups.size).toBe(0);
    expect(hub.users.size).toBe(0);
    expect(hub.connections.size).toBe(0);
  });
});
