import { describe, expect, it } from "vitest";
import {
  JSON_KIND,
  OutboundMessage,
  PLAIN,
  ProtocolError,
  RELIABLE,
  parseClientMessage,
  reliableFrameSize,
  selectSubprotocol,
  validGroupName,
  writeReliableFrame,
} from "./protocol.js";

/** Payload of an unmasked server frame. */
function payload(frame: Buffer): Buffer {
  const len = frame[1]! & 0x7f;
  const at = len < 126 ? 2 : len === 126 ? 4 : 10;
  return frame.subarray(at);
}

describe("subprotocol selection", () => {
  it("prefers what the client offers that the service speaks", () => {
    expect(selectSubprotocol([])).toEqual({ kind: PLAIN });
    expect(selectSubprotocol(["json.webpubsub.azure.v1"])).toEqual({
      kind: JSON_KIND,
      name: "json.webpubsub.azure.v1",
    });
    expect(selectSubprotocol(["x", "json.reliable.webpubsub.azure.v1"])).toEqual({
      kind: RELIABLE,
      name: "json.reliable.webpubsub.azure.v1",
    });
    expect(selectSubprotocol(["protobuf.webpubsub.azure.v1"])).toBeUndefined();
  });
});

describe("outbound messages", () => {
  it("serializes each data type once per kind", () => {
    const json = new OutboundMessage("json", Buffer.from('{"a":[1,2]}'));
    expect(JSON.parse(payload(json.jsonFrame()).toString())).toEqual({
      type: "message",
      from: "server",
      dataType: "json",
      data: { a: [1, 2] },
    });
    expect(json.jsonFrame()).toBe(json.jsonFrame());
    expect(payload(json.plainFrame()).toString()).toBe('{"a":[1,2]}');
    expect(json.plainFrame()[0]).toBe(0x81);

    const text = new OutboundMessage("text", Buffer.from('say "hi"\n'), "g", "alice");
    expect(JSON.parse(payload(text.jsonFrame()).toString())).toEqual({
      type: "message",
      from: "group",
      group: "g",
      fromUserId: "alice",
      dataType: "text",
      data: 'say "hi"\n',
    });

    const binary = new OutboundMessage("binary", Buffer.from([0, 255, 1]));
    expect(JSON.parse(payload(binary.jsonFrame()).toString()).data).toBe("AP8B");
    expect(binary.plainFrame()[0]).toBe(0x82);
  });

  it("splices the sequence id into a shared prefix for reliable frames", () => {
    const m = new OutboundMessage("json", Buffer.from('"x"'));
    for (const seq of [1, 9, 10, 99, 100, 12345, 2 ** 40]) {
      const frame = Buffer.alloc(reliableFrameSize(m, seq));
      expect(writeReliableFrame(frame, 0, m, seq)).toBe(frame.length);
      expect(JSON.parse(payload(frame).toString())).toEqual({
        type: "message",
        from: "server",
        dataType: "json",
        data: "x",
        sequenceId: seq,
      });
    }
    const big = new OutboundMessage("text", Buffer.alloc(70000, 0x61));
    const frame = Buffer.alloc(reliableFrameSize(big, 7));
    writeReliableFrame(frame, 0, big, 7);
    expect(frame[1]).toBe(127);
    expect(JSON.parse(payload(frame).toString()).sequenceId).toBe(7);
  });
});

describe("client messages", () => {
  it("parses every client message type", () => {
    expect(parseClientMessage('{"type":"joinGroup","group":"g","ackId":1}')).toEqual({
      type: "joinGroup",
      group: "g",
      ackId: 1,
    });
    expect(parseClientMessage('{"type":"leaveGroup","group":"g"}')).toEqual({
      type: "leaveGroup",
      group: "g",
      ackId: undefined,
    });
    const send = parseClientMessage('{"type":"sendToGroup","group":"g","noEcho":true,"data":{"k":1}}');
    expect(send).toMatchObject({ type: "sendToGroup", noEcho: true, dataType: "json" });
    expect(send.type === "sendToGroup" && send.data.toString()).toBe('{"k":1}');
    const bin = parseClientMessage('{"type":"event","event":"e","dataType":"binary","data":"AQI="}');
    expect(bin.type === "event" && [...bin.data]).toEqual([1, 2]);
    expect(parseClientMessage('{"type":"sequenceAck","sequenceId":5}')).toEqual({
      type: "sequenceAck",
      sequenceId: 5,
    });
    expect(parseClientMessage('{"type":"ping"}')).toEqual({ type: "ping" });
  });

  it("rejects malformed and unknown messages", () => {
    for (const bad of [
      "not json",
      "[1]",
      "null",
      '{"group":"g"}',
      '{"type":"frob"}',
      '{"type":"joinGroup"}',
      '{"type":"joinGroup","group":5}',
      '{"type":"joinGroup","group":"g","ackId":-1}',
      '{"type":"joinGroup","group":"g","ackId":"1"}',
      '{"type":"sendToGroup","group":"g"}',
      '{"type":"sendToGroup","group":"g","data":1,"dataType":"text"}',
      '{"type":"sendToGroup","group":"g","data":"%%%","dataType":"binary"}',
      '{"type":"sendToGroup","group":"g","data":"x","dataType":"protobuf"}',
      '{"type":"sendToGroup","group":"g","data":"x","noEcho":"yes"}',
      '{"type":"event","event":"","data":"x"}',
      '{"type":"sequenceAck","sequenceId":1.5}',
    ]) {
      expect(() => parseClientMessage(bad), bad).toThrow(ProtocolError);
    }
  });

  it("validates group names as the REST API does", () => {
    expect(validGroupName("g")).toBe(true);
    expect(validGroupName("")).toBe(false);
    expect(validGroupName("   ")).toBe(false);
    expect(validGroupName("x".repeat(1024))).toBe(true);
    expect(validGroupName("x".repeat(1025))).toBe(false);
  });
});
