/**
 * One benchmark server process: `emulator` (the Web PubSub emulator) or `bare` (a `ws` server
 * that frames each message once and writes that buffer to every socket). Both are triggered the
 * same way, by an HTTP POST per message, and both expose `GET /bench/stats` on a control port
 * (RSS after GC, CPU time, connections). Prints one JSON line: `{"port":…,"controlPort":…}`.
 */
import { createServer, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import * as ws from "ws";
import { startWebPubSubEmulator } from "../../emulator/webpubsub/index.js";

const mode = process.argv[2];
const gc = (globalThis as { gc?: () => void }).gc;

function body(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
  });
}

async function bare(): Promise<{ port: number; connections: () => number }> {
  // ws's own framing, once per message; no per-socket work but the write.
  const frame = (data: Buffer): Buffer => {
    const { Sender } = ws as unknown as { Sender: { frame(d: Buffer, o: object): Buffer[] } };
    const parts = Sender.frame(data, {
      fin: true,
      rsv1: false,
      opcode: 1,
      mask: false,
      readOnly: false,
    });
    return Buffer.concat(parts);
  };
  const server = createServer((req, res) => {
    void body(req).then((data) => {
      const buffer = frame(data);
      for (const client of wss.clients) (client as WebSocket & { _socket: Socket })._socket.write(buffer);
      res.statusCode = 202;
      res.end();
    });
  });
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    connections: () => wss.clients.size,
  };
}

async function emulator(): Promise<{ port: number; connections: () => number }> {
  // Keep-alive pings are off: the bare server has none, and idle clients would answer them mid-run.
  const e = await startWebPubSubEmulator({ port: 0, host: "127.0.0.1", keepAliveIntervalMs: 0 });
  return { port: e.port, connections: () => e.stats().connections };
}

const target = mode === "bare" ? await bare() : mode === "emulator" ? await emulator() : undefined;
if (target === undefined) {
  process.stderr.write("usage: server.js bare|emulator\n");
  process.exit(2);
}
const control = createServer((req, res) => {
  if (req.url?.startsWith("/bench/stats")) {
    if (req.url.includes("gc=1") && gc) {
      gc();
      gc();
    }
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    res.setHeader("content-type", "application/json");
    res.end(
      JSON.stringify({
        rss: mem.rss,
        heapUsed: mem.heapUsed,
        cpuMicros: cpu.user + cpu.system,
        connections: target.connections(),
      }),
    );
    return;
  }
  res.statusCode = 404;
  res.end();
});
await new Promise<void>((r) => control.listen(0, "127.0.0.1", r));
const controlAddress = control.address();
process.stdout.write(
  JSON.stringify({
    port: target.port,
    controlPort: typeof controlAddress === "object" && controlAddress ? controlAddress.port : 0,
  }) + "\n",
);
