/**
 * The benchmark's client process: opens N raw WebSocket connections (net sockets and a
 * hand-written handshake, so that the client costs as little CPU as possible), counts every
 * data frame that arrives, answers pings, and reads the send timestamp embedded in the payload
 * on a sample of connections for latency. Driven over IPC by driver.ts.
 */
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";

const now = (): number => performance.timeOrigin + performance.now();

interface Conn {
  socket: Socket;
  header: Buffer | null;
  remaining: number;
  opcode: number;
  sampled: boolean;
  payload: Buffer[] | null;
  /** Reliable subprotocol: acknowledge every ACK_EVERY messages, as a client must. */
  reliable: boolean;
  unacked: number;
}

const ACK_EVERY = 200;

let frames = 0;
let firstArrival = 0;
let lastArrival = 0;
let latencies: number[] = [];
const MAX_SAMPLES = 200_000;
const conns: Conn[] = [];

function onFrameEnd(c: Conn): void {
  const opcode = c.opcode;
  if (opcode === 0x9) {
    // Pong with the same payload, masked as clients must.
    const data = c.payload ? Buffer.concat(c.payload) : Buffer.alloc(0);
    const out = Buffer.alloc(6 + data.length);
    out[0] = 0x8a;
    out[1] = 0x80 | data.length;
    for (let i = 0; i < data.length; i++) out[6 + i] = data[i]!;
    c.socket.write(out);
  } else if (opcode === 0x1 || opcode === 0x2 || opcode === 0x0) {
    frames++;
    const t = now();
    if (firstArrival === 0) firstArrival = t;
    lastArrival = t;
    if (c.sampled && c.payload && latencies.length < MAX_SAMPLES) {
      const text = Buffer.concat(c.payload).toString("latin1");
      const m = /"t":([0-9.]+)/.exec(text);
      if (m) latencies.push(t - Number(m[1]));
    }
    if (c.reliable && c.payload && ++c.unacked >= ACK_EVERY) {
      const text = Buffer.concat(c.payload).toString("latin1");
      const m = /"sequenceId":(\d+)\}$/.exec(text);
      if (m) {
        c.unacked = 0;
        sendText(c.socket, `{"type":"sequenceAck","sequenceId":${m[1]}}`);
      }
    }
  }
  c.payload = null;
}

/** A masked client text frame (payloads under 126 bytes). */
function sendText(socket: Socket, text: string): void {
  const data = Buffer.from(text);
  const out = Buffer.alloc(6 + data.length);
  out[0] = 0x81;
  out[1] = 0x80 | data.length;
  data.copy(out, 6); // zero mask: masked bytes equal the payload
  socket.write(out);
}

function onData(c: Conn, chunk: Buffer): void {
  let data = chunk;
  if (c.header !== null) {
    data = Buffer.concat([c.header, chunk]);
    c.header = null;
  }
  let off = 0;
  while (off < data.length) {
    if (c.remaining > 0) {
      const take = Math.min(c.remaining, data.length - off);
      if (c.payload !== null) c.payload.push(data.subarray(off, off + take));
      off += take;
      c.remaining -= take;
      if (c.remaining === 0) onFrameEnd(c);
      continue;
    }
    if (data.length - off < 2) {
      c.header = Buffer.from(data.subarray(off));
      return;
    }
    let len = data[off + 1]! & 0x7f;
    let head = 2;
    if (len === 126) {
      if (data.length - off < 4) {
        c.header = Buffer.from(data.subarray(off));
        return;
      }
      len = data.readUInt16BE(off + 2);
      head = 4;
    } else if (len === 127) {
      if (data.length - off < 10) {
        c.header = Buffer.from(data.subarray(off));
        return;
      }
      len = Number(data.readBigUInt64BE(off + 2));
      head = 10;
    }
    c.opcode = data[off]! & 0x0f;
    c.payload = c.sampled || c.reliable || c.opcode === 0x9 ? [] : null;
    off += head;
    c.remaining = len;
    if (len === 0) onFrameEnd(c);
  }
}

function open(url: URL, protocol: string | undefined, sampled: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const reliable = protocol === "json.reliable.webpubsub.azure.v1";
    const c: Conn = {
      socket,
      header: null,
      remaining: 0,
      opcode: 0,
      sampled,
      payload: null,
      reliable,
      unacked: 0,
    };
    let handshake = Buffer.alloc(0);
    const onHandshake = (d: Buffer): void => {
      handshake = Buffer.concat([handshake, d]);
      const end = handshake.indexOf("\r\n\r\n");
      if (end === -1) return;
      socket.off("data", onHandshake);
      if (!handshake.subarray(0, 12).toString().startsWith("HTTP/1.1 101")) {
        reject(new Error(handshake.subarray(0, end).toString()));
        return;
      }
      socket.on("data", (chunk: Buffer) => onData(c, chunk));
      conns.push(c);
      const rest = handshake.subarray(end + 4);
      if (rest.length > 0) onData(c, rest);
      resolve();
    };
    socket.on("data", onHandshake);
    socket.on("error", (e) => reject(e));
    socket.setNoDelay(true);
    socket.write(
      `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n` +
        (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : "") +
        "\r\n",
    );
  });
}

type Command =
  | { cmd: "open"; url: string; count: number; protocol?: string; sampleEvery: number }
  | { cmd: "reset" }
  | { cmd: "drop" }
  | { cmd: "stats" }
  | { cmd: "close" };

process.on("message", (m: Command) => {
  void (async () => {
    if (m.cmd === "open") {
      const url = new URL(m.url);
      const start = conns.length;
      // Batches keep the listen backlog from overflowing (SYN retries would add seconds).
      for (let i = 0; i < m.count; i += 250) {
        const batch: Promise<void>[] = [];
        for (let j = i; j < Math.min(m.count, i + 250); j++)
          batch.push(open(url, m.protocol, (start + j) % m.sampleEvery === 0));
        await Promise.all(batch);
      }
      process.send!({ opened: conns.length });
    } else if (m.cmd === "reset") {
      frames = 0;
      firstArrival = 0;
      lastArrival = 0;
      latencies = [];
      process.send!({ reset: true });
    } else if (m.cmd === "drop") {
      // A normal close (1000), so that reliable sessions end instead of waiting for recovery.
      const close = Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
      for (const c of conns.splice(0)) c.socket.end(close);
      process.send!({ dropped: true });
    } else if (m.cmd === "stats") {
      const cpu = process.cpuUsage();
      process.send!({ frames, firstArrival, lastArrival, latencies, cpuMicros: cpu.user + cpu.system });
    } else if (m.cmd === "close") {
      for (const c of conns) c.socket.destroy();
      process.send!({ closed: true }, () => process.exit(0));
    }
  })().catch((err: unknown) => {
    process.send!({ error: String(err) });
  });
});
process.send!({ ready: true });
